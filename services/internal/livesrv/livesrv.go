// Package livesrv starts the live aggregator for the services that serve
// the live view (leakscope up/serve, leakscope-query, leakscope-live). It
// stays free of DuckDB, so the static leakscope-live can use it.
package livesrv

import (
	"context"
	"fmt"
	"io"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/query/live"
)

// Start runs the live aggregator on b's event stream until ctx ends; it
// publishes the stop decisions of adaptive runs back to b (issue 11).
// Failures are written to log: the service keeps serving without a live
// view.
func Start(ctx context.Context, b *bus.Bus, log io.Writer) *live.Aggregator {
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
