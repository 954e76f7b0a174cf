package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"leakscope/events"
	"leakscope/query/live"
)

// newAdaptiveCmd is `leakscope adaptive`: the stopping rule of adaptive
// sampling (issue 11), measured before GPU time is spent on it.
func newAdaptiveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "adaptive",
		Short: "Adaptive sampling: simulate a stopping rule on published per-cell rates",
	}
	cmd.AddCommand(newAdaptiveSimulateCmd())
	return cmd
}

func newAdaptiveSimulateCmd() *cobra.Command {
	var fixtures string
	var reps, fixedN int
	var seed uint64
	rule := events.DefaultStoppingRule(20)
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Samples saved and interval coverage of a stopping rule vs fixed n, on the i81 per-cell rates",
		Long: `simulate replays the i81 sweep many times: each published cell
(leakage_i81/coherence_flags.csv, the 95 zero-filled person rows left out)
draws Bernoulli(rate) completions in rounds of --questions, the live
aggregator's rule decides after each round, and the cell stops as a worker
would. The same cells also draw --fixed-n completions each. It prints the
completions sampled by both designs, the saving, and how often each design's
reported 95 % interval holds the true rate: the anytime-valid confidence
sequence at the stopping n (beta-binomial mixture, Howard et al. 2021) vs
the Wilson interval at fixed n. Rates are fractions in [0,1].

The flags start from the default rule of a sweep's eval.adaptive block.

Examples:
  leakscope adaptive simulate
  leakscope adaptive simulate --half-width 0.03 --reps 500`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := filepath.Join(fixtures, "leakage_i81", "coherence_flags.csv")
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("per-cell rates: %w (give --fixtures the folder holding leakage_i81/)", err)
			}
			defer f.Close()
			cells, err := live.ReadCellRates(f, path)
			if err != nil {
				return err
			}
			res, err := live.Simulate(cells, rule, fixedN, reps, seed)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "rule: half-width %.3g, below %.3g, above %.3g, n in [%d, %d] by rounds of %d, alpha %.3g, Beta(%.3g, %.3g) mixture\n",
				rule.HalfWidth, rule.Below, rule.Above, rule.MinN, rule.MaxN, rule.Questions, rule.Alpha, rule.PriorA, rule.PriorB)
			fmt.Fprintf(out, "%d cells × %d simulated sweeps (seed %d)\n\n", res.Cells, res.Reps, seed)
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "design\tcompletions\tmean n per cell\tcoverage of the 95% interval\tmean half-width")
			fmt.Fprintf(tw, "fixed n = %d (Wilson)\t%d\t%.1f\t%.4f\t%.4f\n", res.FixedN, res.FixedSamples, float64(res.FixedN), res.FixedCoverage, res.FixedMeanHalfWidth)
			fmt.Fprintf(tw, "adaptive (confidence sequence)\t%d\t%.1f\t%.4f\t%.4f\n", res.Samples, res.MeanN, res.Coverage, res.MeanHalfWidth)
			tw.Flush()
			fmt.Fprintf(out, "\ncoverage where the true rate is above 0 (a rate of 0 lies in any interval from 0): adaptive %.4f, fixed %.4f\n", res.CoverageNonZero, res.FixedCoverageNonZero)
			fmt.Fprintf(out, "saved: %.1f%% of the completions\nstopped by:", 100*res.Saved)
			reasons := make([]string, 0, len(res.Reasons))
			for r := range res.Reasons {
				reasons = append(reasons, r)
			}
			sort.Strings(reasons)
			for _, r := range reasons {
				fmt.Fprintf(out, " %s %.1f%%", r, 100*float64(res.Reasons[r])/float64(res.Cells*res.Reps))
			}
			fmt.Fprintln(out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&fixtures, "fixtures", defaultFixtures, "folder holding leakage_i81/coherence_flags.csv")
	fl.IntVar(&reps, "reps", 200, "simulated sweeps")
	fl.IntVar(&fixedN, "fixed-n", 200, "completions per cell of the fixed design (the original's)")
	fl.Uint64Var(&seed, "seed", 1, "RNG seed")
	fl.Float64Var(&rule.HalfWidth, "half-width", rule.HalfWidth, "stop once the sequence's half-width is at most this (rate; 0 = off)")
	fl.Float64Var(&rule.Below, "below", rule.Below, "stop once the sequence lies below this rate (0 = off)")
	fl.Float64Var(&rule.Above, "above", rule.Above, "stop once the sequence lies above this rate (0 = off)")
	fl.IntVar(&rule.MinN, "min-n", rule.MinN, "completions per cell before any stop")
	fl.IntVar(&rule.MaxN, "max-n", rule.MaxN, "completions per cell at most")
	fl.IntVar(&rule.Questions, "questions", rule.Questions, "completions per cell per round (one per eval question)")
	fl.Float64Var(&rule.Alpha, "alpha", rule.Alpha, "miscoverage of the confidence sequence, over all n at once")
	fl.Float64Var(&rule.PriorA, "prior-a", rule.PriorA, "Beta mixing distribution of the sequence, first shape")
	fl.Float64Var(&rule.PriorB, "prior-b", rule.PriorB, "Beta mixing distribution of the sequence, second shape")
	return cmd
}
