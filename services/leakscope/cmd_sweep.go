package main

import (
	"context"

	"github.com/spf13/cobra"

	"leakscope/events/bus"
	"leakscope/services/internal/workercmd"
)

// newSweepCmd is `leakscope sweep check|submit|status`: against --nats-url,
// a running `leakscope up` on --data, or an embedded server on --data.
func newSweepCmd(g *globals) *cobra.Command {
	return workercmd.SweepCmd(func(ctx context.Context) (*bus.Bus, string, func(), error) {
		st, err := startStack(ctx, g, stackOpts{reuseUp: true})
		if err != nil {
			return nil, "", nil, err
		}
		return st.Bus, st.Describe, st.Close, nil
	})
}
