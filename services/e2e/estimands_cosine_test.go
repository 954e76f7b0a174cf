package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/presets/i81"
	"leakscope/query/estimands"
)

// A hand-made experiment with persona cosines, published through the bus,
// for the estimands that need cosines (none of the published i81 data has
// them). Under the chef model:
//
//	bystander            rate   cos(src_chef, ·)
//	A2__chef             0.90   1.00   (self: same prompt, cosine 1)
//	A2__person           0.70   0.90
//	A2__child            0.50   0.60
//	A2__robot            0.30   0.40
//	A2__pirate           0.10   0.20
//	A1 chef/pirate × Openness, Conscientiousness, Extraversion at L1 (below)
//
// plus bystander–bystander cosines person–pirate 0.96 and child–person 0.97.
func publishCosineExperiment(t *testing.T) *stack {
	s := startStack(t, t.TempDir())
	now := time.Now()
	var evs []events.Event
	add := func(run string, p events.Payload) {
		e, err := events.New("tinycos", run, now, p)
		require.NoError(t, err)
		evs = append(evs, e)
	}
	add("chef", &events.Run{SourcePersona: "src_chef", Marker: "[ZLT]", Imported: true, OriginFile: "synthetic", OriginSHA256: strings.Repeat("0", 64)})
	rates := map[string]int{ // found of 200
		"A2__chef": 180, "A2__person": 140, "A2__child": 100, "A2__robot": 60, "A2__pirate": 20,
		"A1__chef__Openness__L1": 100, "A1__pirate__Openness__L1": 60,
		"A1__chef__Conscientiousness__L1": 170, "A1__pirate__Conscientiousness__L1": 20,
		"A1__chef__Extraversion__L1": 140, "A1__pirate__Extraversion__L1": 40,
	}
	for b, f := range rates {
		f, n := f, 200
		add("chef", &events.CellAggregate{Persona: b, Detector: "strict", Found: &f, Total: &n, Imported: true, OriginFile: "synthetic"})
	}
	add("chef", &events.RunFinished{Status: "finished"})
	pairs := []events.CosinePair{
		{A: "src_chef", B: "A2__chef", Cosine: 1.0}, {A: "src_chef", B: "A2__person", Cosine: 0.9}, {A: "src_chef", B: "A2__child", Cosine: 0.6},
		{A: "src_chef", B: "A2__robot", Cosine: 0.4}, {A: "src_chef", B: "A2__pirate", Cosine: 0.2},
		{A: "src_chef", B: "A1__chef__Openness__L1", Cosine: 0.8}, {A: "src_chef", B: "A1__pirate__Openness__L1", Cosine: 0.5},
		{A: "src_chef", B: "A1__chef__Conscientiousness__L1", Cosine: 0.95}, {A: "src_chef", B: "A1__pirate__Conscientiousness__L1", Cosine: 0.2},
		{A: "src_chef", B: "A1__chef__Extraversion__L1", Cosine: 0.9}, {A: "src_chef", B: "A1__pirate__Extraversion__L1", Cosine: 0.3},
		{A: "A2__person", B: "A2__pirate", Cosine: 0.96}, {A: "A2__child", B: "A2__person", Cosine: 0.97},
	}
	add("vectors", &events.Run{Marker: "[ZLT]"})
	add("vectors", &events.Cosine{Set: "centroids", Layer: 20, Centering: events.CenteringRaw, Pairs: pairs})
	add("vectors", &events.RunFinished{Status: "finished"})
	ctx := context.Background()
	res, err := s.Bus.PublishAll(ctx, evs, nil)
	require.NoError(t, err)
	require.NoError(t, s.Bus.WaitDurable(ctx, res.LastSeq, nil))
	return s
}

func TestCosineEstimandsOnAHandMadeExperiment(t *testing.T) {
	s := publishCosineExperiment(t)
	e := openEngine(t, s.Lake)
	ctx := context.Background()
	run := func(name string, p map[string]string) *estimands.Result {
		res, err := estimands.Run(ctx, e, name, "tinycos", p)
		require.NoError(t, err, name)
		return res
	}
	// H4: the 4 off-diagonal A2 pairs (0.9,.7) (0.6,.5) (0.4,.3) (0.2,.1) are
	// in the same order on both axes: ρ = 1.
	h4 := run("h4", nil)
	require.Equal(t, []any{"src_chef", 4, 1.0}, h4.Rows[0][:3])
	// cosine-leakage over every bystander with a cosine (self included): the
	// 11 pairs are not all concordant (A1 cells break the order), so ρ < 1.
	cl := run("cosine-leakage", nil)
	require.Equal(t, 11, cl.Rows[0][1])
	require.Less(t, cl.Rows[0][2], 1.0)
	require.Greater(t, cl.Rows[0][2], 0.5)
	// Near-twin: person–pirate cos 0.96 > 0.95 with 0.70 vs 0.10 = 60 pp > 30;
	// child–person 0.97 but only 20 pp apart: not a twin.
	nt := run("near-twin", nil)
	require.Len(t, nt.Rows, 1)
	require.Equal(t, []any{"src_chef", "A2__person", "A2__pirate"}, nt.Rows[0][:3])
	require.InDelta(t, 60.0, nt.Rows[0][6], 1e-9)
	// Trait ranking with Δcos, contexts at L1 (TE = |A1 − A2 of its noun|):
	//   Openness:          TE chef |.50−.90| = .40, pirate |.30−.10| = .20 → 30 pp; Δcos |.8−1| = .2, |.5−.2| = .3 → .25
	//   Extraversion:      TE .20 and .10 → 15 pp; Δcos .1 and .1 → .10
	//   Conscientiousness: TE .05 and 0 → 2.5 pp; Δcos .05 and 0 → .025
	// Same order on both: ρ = 1 over N = 3.
	tr := run("trait-ranking", map[string]string{"sources": "chef"})
	require.Len(t, tr.Rows, 3)
	for i, w := range []struct {
		trait      string
		leak, dcos float64
	}{{"Openness", 30, 0.25}, {"Extraversion", 15, 0.10}, {"Conscientiousness", 2.5, 0.025}} {
		require.Equal(t, w.trait, tr.Rows[i][2])
		require.InDelta(t, w.leak, tr.Rows[i][4], 1e-9)
		require.InDelta(t, w.dcos, tr.Rows[i][7], 1e-9)
	}
	require.Contains(t, strings.Join(tr.Notes, "\n"), "ρ = 1.000")
	// Per cell: chef/Openness/L1 has rates .50 and .90, cosines .8 and 1.
	pc := run("trait-ranking", map[string]string{"sources": "chef", "scope": "per-cell"})
	require.Len(t, pc.Rows, 6)
	require.Equal(t, []any{"chef", "chef", "Openness", "L1", 0.5, 0.9}, pc.Rows[0][:6])
	require.InDelta(t, 0.4, pc.Rows[0][6], 1e-12)
	require.InDelta(t, 0.2, pc.Rows[0][9], 1e-12)
	// Per axis with cosines (contexts at L1, nouns chef and pirate):
	//   Openness:          trait_effect_cos mean(|.8−1|, |.5−.2|) = .25; noun_effect_cos |.8−.5| = .3
	//   Conscientiousness: mean(.05, 0) = .025;                        |.95−.2| = .75
	//   Extraversion:      mean(.1, .1) = .1;                          |.9−.3| = .6
	ax := run("head-to-head", map[string]string{"sources": "chef", "by": "axis"})
	for _, r := range ax.Rows {
		w := map[string][2]float64{"Openness": {0.25, 0.3}, "Conscientiousness": {0.025, 0.75}, "Extraversion": {0.1, 0.6}}[r[0].(string)]
		if w == [2]float64{} {
			require.Nil(t, r[7], "%s has no cells", r[0])
			continue
		}
		require.InDelta(t, w[0], r[7], 1e-12, r[0])
		require.InDelta(t, w[1], r[8], 1e-12, r[0])
	}
	// The A2 matrix of the hand-made grid, in %.
	a2 := run("a2-matrix", nil)
	require.Equal(t, "chef", a2.Rows[0][0])
	for i, w := range []float64{70, 90, 10, 50, 30} {
		require.InDelta(t, w, a2.Rows[0][i+1], 1e-9, i81.Nouns[i])
	}
}
