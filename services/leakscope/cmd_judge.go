package main

import (
	"context"
	"io"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"leakscope/events"
	"leakscope/services/internal/judgecmd"
)

// newJudgeCmd is `leakscope judge`: candidates from --data's lake, scores
// through a running `leakscope up`, --nats-url, or an embedded stack
// started for the command's duration.
func newJudgeCmd(g *globals) *cobra.Command {
	return judgecmd.Cmd("judge", judgecmd.Env{
		Lake: g.lake,
		Open: func(ctx context.Context) (judgecmd.Bus, func(), error) {
			st, err := startStack(ctx, g, stackOpts{withIngest: g.natsURL == "", reuseUp: true})
			if err != nil {
				return nil, nil, err
			}
			return judgeBus{st}, st.Close, nil
		},
		Progress: func(w io.Writer, total int) (func(int), func()) {
			b := newBar(w, total, "judge  ")
			return b.set, b.done
		},
	})
}

// judgeBus publishes on the stack's bus and waits on the stack (which
// knows whether ingest is its own).
type judgeBus struct{ st *stack }

func (j judgeBus) Publish(ctx context.Context, e events.Event) (*jetstream.PubAck, error) {
	return j.st.Bus.Publish(ctx, e)
}

func (j judgeBus) WaitDurable(ctx context.Context, seq uint64, progress func(uint64)) error {
	return j.st.WaitDurable(ctx, seq, progress)
}
