package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"leakscope/events/bus"
	"leakscope/ingest/dataset"
	"leakscope/query"
	"leakscope/services/internal/workercmd"
)

// newSweepCmd is `leakscope sweep check|submit|status`: against --nats-url,
// a running `leakscope up` on --data, or an embedded server on --data.
// Before a submit it looks for imported runs of the sweep's experiment on
// the bus and in --data's lake.
func newSweepCmd(g *globals) *cobra.Command {
	return workercmd.SweepCmd(func(ctx context.Context) (*bus.Bus, string, func(), error) {
		st, err := startStack(ctx, g, stackOpts{reuseUp: true})
		if err != nil {
			return nil, "", nil, err
		}
		return st.Bus, st.Describe, st.Close, nil
	}, func(ctx context.Context, experiment string) ([]string, error) {
		return lakeImportedRuns(ctx, g, experiment)
	})
}

// lakeImportedRuns lists the imported runs of an experiment in --data's lake.
func lakeImportedRuns(ctx context.Context, g *globals, experiment string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(g.lake(), dataset.TableRuns)); err != nil {
		return nil, nil
	}
	e, err := query.Open(g.lake())
	if err != nil {
		return nil, err
	}
	defer e.Close()
	runs, err := e.Runs(ctx, experiment)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range runs {
		if r.Imported {
			out = append(out, r.RunID)
		}
	}
	return out, nil
}
