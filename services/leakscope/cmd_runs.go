package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"leakscope/events"
	"leakscope/ingest/dataset"
	"leakscope/query"
)

func newRunsCmd(g *globals) *cobra.Command {
	var format, experiment string
	var sf scopeFlags
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List experiments and runs with what the lake holds for each; retract, restore and tag runs",
		Long: `Lists every run: its experiment, run ID, when it started (for imports: the
import time), source persona, sweep, seed, design factors (k=v), tags, marker,
whether it is the base model, how many completions, imported cell aggregates
(whole cells, not per-question rows) and cosine pairs the lake holds, whether a
run_finished event exists (no = running, or its worker or import died), the
origin file, and whether the run is retracted (with the reason). Retracted runs
are listed, marked; every analysis leaves them out.

The scope flags select runs by run-level fields (--run, --seed, --sweep,
--source, --where on run-level factors such as lr).

Subcommands record a decision about a run as a run_mark event (the log stays
the truth; each is undone by its opposite):
  runs retract RUN --experiment E --reason "…"   take a run out of every analysis
  runs restore RUN --experiment E                 put a retracted run back
  runs tag RUN TAG --experiment E                 label a run
  runs untag RUN TAG --experiment E               remove a label

Examples:
  leakscope runs
  leakscope runs --experiment leakage_i81 --format json
  leakscope runs --experiment sweep1 --seed 42 --where lr=1e-4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			scope, err := sf.scope()
			if err != nil {
				return err
			}
			return withEngine(g, format, plainFormats, func(e *query.Engine) error {
				runs, err := e.Runs(cmd.Context(), experiment)
				if err != nil {
					return err
				}
				if len(runs) == 0 && experiment != "" {
					return fmt.Errorf("%w %q in the lake at %s (leakscope runs lists them all)", query.ErrUnknownExperiment, experiment, g.lake())
				}
				if runs, err = query.FilterRuns(runs, scope, true); err != nil {
					return err
				}
				return printRuns(cmd.OutOrStdout(), format, g.lake(), runs)
			})
		},
	}
	cmd.Flags().StringVar(&experiment, "experiment", "", "only this experiment")
	cmd.Flags().StringVar(&format, "format", "table", formatHelp)
	sf.register(cmd)
	cmd.AddCommand(newRunMarkCmd(g, events.MarkRetract), newRunMarkCmd(g, events.MarkRestore), newRunMarkCmd(g, events.MarkTag), newRunMarkCmd(g, events.MarkUntag))
	return cmd
}

// printRuns prints the run listing.
func printRuns(w io.Writer, format, lake string, runs []query.RunSummary) error {
	if format == "json" {
		return writeJSON(w, runs)
	}
	rows := make([][]string, len(runs))
	for i, r := range runs {
		kind, marker := "trained", r.Marker
		switch {
		case r.IsBase:
			kind = "base"
		case r.Completions == 0 && r.Cells == 0:
			kind, marker = "(cosines only)", ""
		}
		fin := "yes"
		if !r.Finished {
			fin = "no"
		}
		started := ""
		if !r.StartedAt.IsZero() {
			started = r.StartedAt.UTC().Format("2006-01-02 15:04")
			if format == "csv" {
				started = r.StartedAt.UTC().Format(time.RFC3339)
			}
		}
		seed := ""
		if r.Seed != nil {
			seed = fmt.Sprint(*r.Seed)
		}
		state := ""
		if r.Retracted {
			state = "RETRACTED: " + r.RetractReason
			if format == "table" && len(state) > 60 {
				state = state[:57] + "..."
			}
		}
		rows[i] = []string{r.Experiment, r.RunID, started, r.SourcePersona, r.Sweep, seed, factorList(r.Factors), strings.Join(r.Tags, ","), marker, kind,
			fmt.Sprint(r.Completions), fmt.Sprint(r.Cells), fmt.Sprint(r.CosinePairs), fin, r.OriginFile, state}
	}
	if len(runs) == 0 && format == "table" {
		fmt.Fprintf(w, "the lake at %s holds no runs yet: try `leakscope import ../shared/fixtures`\n", lake)
		return nil
	}
	if err := writeRows(w, format, []string{"experiment", "run", "started", "source", "sweep", "seed", "factors", "tags", "marker", "model",
		"completions", "cells", "cosine_pairs", "finished", "origin", "retracted"}, rows); err != nil {
		return err
	}
	if format == "table" {
		n := 0
		for _, r := range runs {
			if r.Retracted {
				n++
			}
		}
		if n > 0 {
			fmt.Fprintf(w, "\n%d retracted runs: every analysis leaves them out (`leakscope runs restore` puts one back; --include-retracted keeps them in one analysis)\n", n)
		}
	}
	return nil
}

// factorList is a run's factors as a compact, sorted k=v list.
func factorList(f events.Factors) string {
	parts := make([]string, 0, len(f))
	for _, k := range f.Keys() {
		parts = append(parts, k+"="+f[k])
	}
	return strings.Join(parts, " ")
}

type markFlags struct {
	experiment, reason, by string
}

// newRunMarkCmd is `runs retract|restore|tag|untag`.
func newRunMarkCmd(g *globals, action string) *cobra.Command {
	f := &markFlags{}
	spec := map[string]struct {
		use, short string
		nargs      int
	}{
		events.MarkRetract: {"retract RUN --experiment E --reason TEXT", "Take a run out of every analysis (a run_mark event; restore undoes it)", 1},
		events.MarkRestore: {"restore RUN --experiment E", "Put a retracted run back into the analyses", 1},
		events.MarkTag:     {"tag RUN TAG --experiment E", "Label a run (shown by leakscope runs)", 2},
		events.MarkUntag:   {"untag RUN TAG --experiment E", "Remove a run's label", 2},
	}[action]
	use, short, nargs := spec.use, spec.short, spec.nargs
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

The decision is published as a run_mark event on the bus, exactly as import
publishes: without --nats-url through a running 'leakscope up' on the same
--data, or the embedded server and ingest for the command's duration; the
command returns once ingest has committed it to the lake. Its time is now (UTC).
The run and the experiment are checked against --data's lake first: an
unknown run, retracting a retracted run or restoring one that is not retracted
is refused. A retracted run leaves every estimand, matrix, figure, notebook
and live view (each names it in a note); --include-retracted keeps it in one
analysis.

Examples:
  leakscope runs retract coherence_flags/chef --experiment leakage_i81 --reason "adapter trained on the wrong negatives"
  leakscope runs restore coherence_flags/chef --experiment leakage_i81
  leakscope runs tag coherence_flags/chef pilot --experiment leakage_i81
  leakscope runs untag coherence_flags/chef pilot --experiment leakage_i81`,
		Args: cobra.ExactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			m := &events.RunMark{Action: action, Reason: strings.TrimSpace(f.reason), By: f.by}
			if nargs == 2 {
				m.Tag = args[1]
			}
			return runMark(cmd.Context(), g, f.experiment, args[0], m, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&f.experiment, "experiment", "", "the run's experiment (required; leakscope runs lists them)")
	if action == events.MarkRetract {
		cmd.Flags().StringVar(&f.reason, "reason", "", "why the run is retracted (required: shown beside every analysis that leaves it out)")
	} else {
		cmd.Flags().StringVar(&f.reason, "reason", "", "why (optional)")
	}
	cmd.Flags().StringVar(&f.by, "by", os.Getenv("USER"), "who decided")
	return cmd
}

// runMark checks the decision against the lake, publishes it and waits
// until ingest has committed it.
func runMark(ctx context.Context, g *globals, experiment, run string, m *events.RunMark, out, errw io.Writer) error {
	if experiment == "" {
		return errors.New(`--experiment is required (leakscope runs lists the experiments and their runs)`)
	}
	if m.Action == events.MarkRetract && m.Reason == "" {
		return fmt.Errorf(`--reason is required: a retraction says why (e.g. --reason "adapter trained on the wrong negatives")`)
	}
	m.At = time.Now().UTC()
	ev, err := events.New(experiment, run, m.At, m)
	if err != nil {
		return fmt.Errorf("run %s: %w", m.Action, err)
	}
	if err := checkMark(ctx, g, experiment, run, m); err != nil {
		return err
	}
	st, err := startStack(ctx, g, stackOpts{withIngest: g.natsURL == "", reuseUp: true})
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := st.Bus.PublishAll(ctx, []events.Event{ev}, nil)
	if err != nil {
		return err
	}
	if err := st.WaitDurable(ctx, res.LastSeq, nil); err != nil {
		return err
	}
	what := map[string]string{
		events.MarkRetract: "retracted (" + m.Reason + "): every analysis leaves it out",
		events.MarkRestore: "restored: analyses count it again",
		events.MarkTag:     "tagged " + m.Tag,
		events.MarkUntag:   "untagged " + m.Tag,
	}[m.Action]
	fmt.Fprintf(out, "run %s of %s %s (run_mark via %s, committed)\n", run, experiment, what, st.Describe)
	return nil
}

// checkMark refuses a decision about a run the lake does not hold, or one
// that changes nothing a reader would expect it to change.
func checkMark(ctx context.Context, g *globals, experiment, run string, m *events.RunMark) error {
	if _, err := os.Stat(filepath.Join(g.lake(), dataset.TableRuns)); err != nil {
		return fmt.Errorf("%w %q: the lake at %s holds no runs yet", query.ErrUnknownExperiment, experiment, g.lake())
	}
	e, err := query.Open(g.lake())
	if err != nil {
		return err
	}
	defer e.Close()
	states, err := e.RunStates(ctx, experiment)
	if errors.Is(err, query.ErrUnknownExperiment) {
		all, lerr := e.Runs(ctx, "")
		if lerr != nil {
			return lerr
		}
		var exps []string
		for _, r := range all {
			if len(exps) == 0 || exps[len(exps)-1] != r.Experiment {
				exps = append(exps, r.Experiment)
			}
		}
		return fmt.Errorf("%w %q in the lake at %s (experiments: %s)", query.ErrUnknownExperiment, experiment, g.lake(), strings.Join(exps, ", "))
	}
	if err != nil {
		return err
	}
	st, ok := states[run]
	if !ok {
		ids := make([]string, 0, len(states))
		for id := range states {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		list := strings.Join(ids, ", ")
		if len(ids) > 20 {
			list = strings.Join(ids[:20], ", ") + fmt.Sprintf(", … (%d in all)", len(ids))
		}
		return fmt.Errorf("run %q is not in experiment %q (runs: %s)", run, experiment, list)
	}
	hasTag := false
	for _, t := range st.Tags {
		hasTag = hasTag || t == m.Tag
	}
	switch {
	case m.Action == events.MarkRetract && st.Retracted:
		return fmt.Errorf("run %q of %s is already retracted (%s): nothing to do (`leakscope runs restore` puts it back)", run, experiment, st.Reason)
	case m.Action == events.MarkRestore && !st.Retracted:
		return fmt.Errorf("run %q of %s is not retracted: nothing to restore", run, experiment)
	case m.Action == events.MarkTag && hasTag:
		return fmt.Errorf("run %q of %s already has tag %q", run, experiment, m.Tag)
	case m.Action == events.MarkUntag && !hasTag:
		tags := "none"
		if len(st.Tags) > 0 {
			tags = strings.Join(st.Tags, ", ")
		}
		return fmt.Errorf("run %q of %s has no tag %q (tags: %s)", run, experiment, m.Tag, tags)
	}
	return nil
}
