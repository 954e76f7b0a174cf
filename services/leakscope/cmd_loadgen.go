package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"leakscope/events"
	"leakscope/gpuworker/loadgen"
)

// newLoadgenCmd is `leakscope loadgen`: synthetic #81-shaped sweeps
// through the real bus → ingest path, for performance work (issue 9).
func newLoadgenCmd(g *globals) *cobra.Command {
	var fixtures, experiment string
	var sweeps int
	var seed uint64
	cmd := &cobra.Command{
		Use:   "loadgen --sweeps N [--experiment E]",
		Short: "Publish synthetic #81-shaped sweeps (load for performance work)",
		Long: `loadgen publishes N synthetic sweeps shaped like #81 into one experiment: per
sweep the 5 sources × 130 bystanders × 20 questions × 10 samples = 130,000
completions (N=1 is the original's size; N=100 ≈ 13 M), completion lengths
drawn from the published fixtures' length distribution, marker rates from the
published per-cell rates (--fixtures/leakage_i81/coherence_flags.csv). It
goes through the bus and ingest like any worker, and returns once ingest has
committed everything, printing the throughput.

Examples:
  leakscope --data /tmp/perf loadgen --sweeps 1
  leakscope --data /tmp/perf --sync interval loadgen --sweeps 100 --experiment perf_100x`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sweeps < 1 {
				return fmt.Errorf("--sweeps %d: want >= 1", sweeps)
			}
			if !events.ValidExperiment(experiment) {
				return fmt.Errorf("--experiment %q: letters, digits, _ and -, at most 100", experiment)
			}
			rates, err := loadgen.RatesFromCSV(fixtures)
			if err != nil {
				return fmt.Errorf("marker rates: %w (give --fixtures the folder holding leakage_i81/)", err)
			}
			cfg := loadgen.Config{Experiment: experiment, Sweeps: sweeps, Rates: rates, Seed: seed}
			return runLoadgen(cmd.Context(), g, cfg, cmd)
		},
	}
	cmd.Flags().IntVar(&sweeps, "sweeps", 1, "synthetic sweeps (130,000 completions each)")
	cmd.Flags().StringVar(&experiment, "experiment", "perf", "experiment to publish into")
	cmd.Flags().StringVar(&fixtures, "fixtures", defaultFixtures, "folder holding leakage_i81/coherence_flags.csv (the per-cell marker rates)")
	cmd.Flags().Uint64Var(&seed, "seed", 9, "RNG seed of texts and marker draws")
	return cmd
}

func runLoadgen(ctx context.Context, g *globals, cfg loadgen.Config, cmd *cobra.Command) error {
	st, err := startStack(ctx, g, stackOpts{withIngest: g.natsURL == "", reuseUp: true})
	if err != nil {
		return err
	}
	defer st.Close()
	out := cmd.ErrOrStderr()
	fmt.Fprintf(out, "publishing %d completions (%d sweeps) into %s via %s\n", cfg.Completions(), cfg.Sweeps, cfg.Experiment, st.Describe)
	t0 := time.Now()
	var last uint64
	done := 0
	if err := cfg.Chunks(20_000, func(chunk []events.Event) error {
		res, err := st.Bus.PublishAll(ctx, chunk, nil)
		if err != nil {
			return err
		}
		last, done = res.LastSeq, done+len(chunk)
		if done%200_000 < 20_000 {
			fmt.Fprintf(out, "  %d events published (%.0f/s)\n", done, float64(done)/time.Since(t0).Seconds())
		}
		return nil
	}); err != nil {
		return err
	}
	pub := time.Since(t0)
	if err := st.WaitDurable(ctx, last, nil); err != nil {
		return err
	}
	all := time.Since(t0)
	fmt.Fprintf(cmd.OutOrStdout(), "%d completions: published in %.1f s (%.0f/s), in the lake after %.1f s (%.0f completions/s)\n",
		cfg.Completions(), pub.Seconds(), float64(cfg.Completions())/pub.Seconds(), all.Seconds(), float64(cfg.Completions())/all.Seconds())
	return nil
}
