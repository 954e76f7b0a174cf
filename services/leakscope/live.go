package main

import (
	"context"
	"fmt"
	"io"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/query/live"
)

// startLive runs the live aggregator on b's event stream; it publishes the
// stop decisions of adaptive runs back to b (issue 11).
func startLive(ctx context.Context, b *bus.Bus, log io.Writer) *live.Aggregator {
	agg := live.New()
	agg.OnDecision = live.PublishDecisions(ctx, func(ctx context.Context, e events.Event) error {
		_, err := b.Publish(ctx, e)
		return err
	}, log)
	go func() {
		if err := agg.Run(ctx, b); err != nil {
			fmt.Fprintf(log, "live: %v (no live view, no stop decisions)\n", err)
		}
	}()
	return agg
}
