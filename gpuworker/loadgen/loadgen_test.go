package loadgen

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/eventstest"
)

// One synthetic run: the #81 shape, the published rates, the fixtures'
// lengths; deterministic for a seed.
func TestRunShapeRatesAndLengths(t *testing.T) {
	rates, err := RatesFromCSV(eventstest.FixturesDir(t))
	require.NoError(t, err)
	require.Len(t, rates, 5)
	require.Equal(t, 0.93, rates["person"]["A2__person"])
	cfg := Config{Experiment: "perf", Sweeps: 1, Rates: rates, Seed: 1, Now: func() time.Time { return time.Unix(0, 0) }}
	var comps []*events.Completion
	var first, last events.Event
	err = cfg.Run(1, "chef", func(e events.Event) error {
		if first.ID == "" {
			first = e
		}
		last = e
		if c, ok := e.Payload.(*events.Completion); ok {
			comps = append(comps, c)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, events.TypeRunStarted, first.Type)
	require.Equal(t, "sweep001-src_chef", first.RunID)
	require.Equal(t, events.TypeRunFinished, last.Type)
	require.Len(t, comps, PerRun)
	hits, lengths := map[string]int{}, 0
	for _, c := range comps {
		for _, h := range c.MarkerHits {
			if h.Detector == "strict" {
				hits[c.Persona]++
			}
		}
		lengths += len(c.Text)
	}
	// A2__chef was 0.925 in the published grid: 200 draws land near it.
	require.InDelta(t, 0.925, float64(hits["A2__chef"])/200, 0.06)
	require.InDelta(t, 0.43, float64(hits["A2__robot"])/200, 0.08, "chef → A2__robot was 0.43")
	require.Zero(t, hits["A1__pirate__Extraversion__L3"], "a 0.0 cell stays at 0")
	mean := float64(lengths) / float64(len(comps))
	require.InDelta(t, 250, mean, 15, "fixture texts average 247 characters (plus markers here)")

	var again []*events.Completion
	_ = cfg.Run(1, "chef", func(e events.Event) error {
		if c, ok := e.Payload.(*events.Completion); ok {
			again = append(again, c)
		}
		return nil
	})
	require.Equal(t, comps[:50], again[:50], "seeded")
	require.Equal(t, 130000, cfg.Completions())
	require.False(t, math.IsNaN(mean))
}
