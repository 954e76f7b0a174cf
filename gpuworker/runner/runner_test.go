package runner

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// flaky fails every publish while down is set, as a bus that went away.
type flaky struct {
	mu     sync.Mutex
	down   bool
	events []events.Event
	fails  int
}

func (f *flaky) Publish(_ context.Context, e events.Event) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		f.fails++
		return 0, errors.New("nats: connection closed")
	}
	f.events = append(f.events, e)
	return uint64(len(f.events)), nil
}

// The bus disappears for a while: the worker waits and resumes, losing nothing.
func TestRunnerRidesOutAnOutage(t *testing.T) {
	pub := &flaky{}
	ctx := context.Background()
	r, err := Start(ctx, Config{Experiment: "e", RunID: "r", Worker: "w", Heartbeat: time.Hour}, pub,
		&events.Run{Marker: "[ZLT]", Sweep: "s", Plan: []events.PlannedCell{{Persona: "p", Expected: 3}}})
	require.NoError(t, err)
	require.NoError(t, r.Completion(ctx, events.Completion{Persona: "p", Question: "q", SampleIndex: 0, Text: "a [ZLT]"}))
	pub.mu.Lock()
	pub.down = true
	pub.mu.Unlock()
	go func() {
		time.Sleep(700 * time.Millisecond)
		pub.mu.Lock()
		pub.down = false
		pub.mu.Unlock()
	}()
	start := time.Now()
	require.NoError(t, r.Completion(ctx, events.Completion{Persona: "p", Question: "q", SampleIndex: 1, Text: "b"}))
	require.GreaterOrEqual(t, time.Since(start), 600*time.Millisecond, "it waited for the bus")
	require.NoError(t, r.Completion(ctx, events.Completion{Persona: "p", Question: "q", SampleIndex: 2, Text: "c [zlt]"}))
	require.NoError(t, r.Finish(ctx, nil))
	var comps, hits int
	for _, e := range pub.events {
		if c, ok := e.Payload.(*events.Completion); ok {
			comps++
			hits += len(c.MarkerHits)
		}
	}
	require.Equal(t, 3, comps)
	require.Greater(t, pub.fails, 1)
	require.Equal(t, 5, hits, "[ZLT]: strict, case-sensitive and loose (3); [zlt]: strict and loose (2)")
	last := pub.events[len(pub.events)-1].Payload.(*events.RunFinished)
	require.Equal(t, 3, last.Completions)

	_, err = Start(ctx, Config{Experiment: "e", RunID: "r2", Worker: "w", MaxOutage: 300 * time.Millisecond}, &flaky{down: true}, &events.Run{Marker: "[ZLT]"})
	require.ErrorContains(t, err, "unreachable", "gives up after MaxOutage")
}
