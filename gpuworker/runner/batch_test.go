package runner

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// batchFlaky is flaky that also publishes batches, all or nothing.
type batchFlaky struct{ flaky }

func (f *batchFlaky) PublishBatch(ctx context.Context, evs []events.Event) (uint64, error) {
	var seq uint64
	for _, e := range evs {
		s, err := f.Publish(ctx, e)
		if err != nil {
			return 0, err
		}
		seq = s
	}
	return seq, nil
}

// A batch is built like single completions (same IDs, same hits), retried
// whole while the bus is away, and counted in run_finished; a bad
// completion stops the batch before anything is published.
func TestRunnerCompletionsBatch(t *testing.T) {
	ctx := context.Background()
	pub := &batchFlaky{}
	r, err := Start(ctx, Config{Experiment: "e", RunID: "r", Worker: "w", Heartbeat: time.Hour}, pub, &events.Run{Marker: "[ZLT]"})
	require.NoError(t, err)
	before := len(pub.events)
	err = r.Completions(ctx, []events.Completion{{Persona: "p", Question: "q", Text: "a"}, {Persona: "p", Question: "", Text: "b"}})
	require.ErrorContains(t, err, "completion [1]")
	require.ErrorContains(t, err, `"payload.question" is empty`)
	require.Len(t, pub.events, before, "nothing of a bad batch is published")

	pub.mu.Lock()
	pub.down = true
	pub.mu.Unlock()
	go func() {
		time.Sleep(300 * time.Millisecond)
		pub.mu.Lock()
		pub.down = false
		pub.mu.Unlock()
	}()
	batch := []events.Completion{{Persona: "p", Question: "q", SampleIndex: 0, Text: "a [ZLT]"}, {Persona: "p", Question: "q", SampleIndex: 1, Text: "b"}}
	require.NoError(t, r.Completions(ctx, batch))
	require.Greater(t, pub.fails, 0)
	got := pub.events[len(pub.events)-2:]
	require.Equal(t, events.NewID("e", "r", &events.Completion{Persona: "p", Question: "q", SampleIndex: 0}), got[0].ID)
	require.Len(t, got[0].Payload.(*events.Completion).MarkerHits, 3, "strict, case-sensitive and loose")
	require.Empty(t, got[1].Payload.(*events.Completion).MarkerHits)
	require.Equal(t, uint64(len(pub.events)), r.LastSeq())
	require.NoError(t, r.Finish(ctx, nil))
	require.Equal(t, 2, pub.events[len(pub.events)-1].Payload.(*events.RunFinished).Completions)

	// A publisher that cannot batch is refused, not silently published one by one.
	r2, err := Start(ctx, Config{Experiment: "e", RunID: "r2", Worker: "w", Heartbeat: time.Hour}, &flaky{}, &events.Run{Marker: "[ZLT]"})
	require.NoError(t, err)
	require.ErrorContains(t, r2.Completions(ctx, batch), "cannot publish batches")
}
