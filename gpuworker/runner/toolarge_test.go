package runner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// tooLarge refuses completions as the server does a message over its max
// payload, and takes everything else.
type tooLarge struct{ flaky }

func (p *tooLarge) Publish(ctx context.Context, e events.Event) (uint64, error) {
	if _, ok := e.Payload.(*events.Completion); ok {
		p.fails++
		return 0, fmt.Errorf("publish: %w", nats.ErrMaxPayload)
	}
	return p.flaky.Publish(ctx, e)
}

// A message over the max payload never fits: the runner says so at once
// instead of retrying it for MaxOutage (a script's finish hung 10 minutes).
func TestRunnerStopsAtAMessageTooLarge(t *testing.T) {
	pub := &tooLarge{}
	ctx := context.Background()
	r, err := Start(ctx, Config{Experiment: "e", RunID: "r", Worker: "w", Heartbeat: time.Hour, MaxOutage: time.Minute}, pub,
		&events.Run{Marker: "[ZLT]", Sweep: "s", Plan: []events.PlannedCell{{Persona: "p", Expected: 1}}})
	require.NoError(t, err)
	start := time.Now()
	err = r.Completion(ctx, events.Completion{Persona: "p", Question: "q", SampleIndex: 0, Text: "a [ZLT]"})
	require.ErrorContains(t, err, "larger than the bus's max payload")
	require.Less(t, time.Since(start), 10*time.Second, "no retries until MaxOutage")
	require.Equal(t, 1, pub.fails, "one attempt")
}
