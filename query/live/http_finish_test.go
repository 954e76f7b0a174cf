package live

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// The event stream of a finished sweep sends its state once and ends (a
// headless browser waiting for the page to finish loading waited forever);
// an unfinished sweep's stream stays open until the client leaves.
func TestEventStreamEndsOnceTheSweepIsFinished(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	a := New()
	h := Handler(a)
	a.Apply(ev(t, "r1", t0, &events.Run{Marker: "[ZLT]", Sweep: "s1", Plan: []events.PlannedCell{{Persona: "chef", Expected: 1}}}))
	a.Apply(ev(t, "r1", t0, &events.Completion{Persona: "chef", Question: "q", Text: "[ZLT]"}))

	stream := func() (frames []string, cut bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/live/s1/events", nil).WithContext(ctx))
		for _, f := range strings.Split(rec.Body.String(), "\n\n") {
			if strings.HasPrefix(f, "data: ") {
				frames = append(frames, strings.TrimPrefix(f, "data: "))
			}
		}
		return frames, ctx.Err() != nil
	}
	frames, cut := stream()
	require.True(t, cut, "a running sweep's stream stays open")
	require.GreaterOrEqual(t, len(frames), 2, "re-sent every %v", SSEInterval)

	a.Apply(ev(t, "r1", t0, &events.RunFinished{Status: "finished", Completions: 1}))
	frames, cut = stream()
	require.False(t, cut, "a finished sweep's stream ends by itself")
	require.Len(t, frames, 1)
	var s Snapshot
	require.NoError(t, json.Unmarshal([]byte(frames[0]), &s))
	require.True(t, s.Finished)
	require.Equal(t, 1, s.Done)

	// The page closes its EventSource on a finished state (a reconnect
	// would only repeat it).
	_, body := get(t, h, "/live/s1", "")
	require.Contains(t, body, "if(s.finished){ es.close();")
}

// /live/E for an experiment whose runs name no sweep (the Python client's)
// says so and links the experiment's page instead of waiting for a sweep.
func TestLivePageOfASweeplessExperimentLinksItsPage(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	a := New()
	h := Handler(a)
	a.Apply(ev(t, "r1", t0, &events.Run{Marker: "[ZLT]"})) // experiment exp1, no sweep
	_, body := get(t, h, "/live/exp1", "")
	require.Contains(t, body, `id="sweepless"`)
	require.Contains(t, body, "its runs were logged without a sweep name")
	require.Contains(t, body, `<a href="/experiments/exp1">`)
	require.NotContains(t, body, "Waiting for a sweep")

	_, body = get(t, h, "/live/exp2", "")
	require.Contains(t, body, "Waiting for a sweep named <code>exp2</code>", "no such experiment: still waiting")
}
