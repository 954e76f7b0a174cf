package estimands

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"leakscope/query"
)

// runPerSeed runs an estimand once per training seed in scope when the
// scope holds several (replicates are never pooled silently): each seed's
// rows are prefixed with a seed column and its notes with "seed N:". With
// one seed the result says so. The replicates estimand reads every seed
// at once and is run as it is.
func runPerSeed(ctx context.Context, est *Estimand, in *Input) (*Result, error) {
	if in.Engine == nil || est.acrossSeeds || len(in.Scope.Seeds) == 1 {
		return est.run(ctx, in)
	}
	seeds, unseeded, err := in.Engine.ScopeSeeds(ctx, in.Experiment, in.Scope)
	if errors.Is(err, query.ErrUnknownExperiment) {
		return est.run(ctx, in) // the estimand names the experiment in its own error
	}
	if err != nil {
		return nil, err
	}
	if len(seeds) < 2 {
		res, err := est.run(ctx, in)
		if err == nil && len(seeds) == 1 && unseeded == 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("1 seed (%d) in scope: these numbers carry no between-seed variation", seeds[0]))
		}
		return res, err
	}
	out := &Result{}
	runs := map[string]bool{}
	cells := 0
	for _, sd := range seeds {
		sub := *in
		sub.Scope.Seeds = []int64{sd}
		sub.grid, sub.scope = nil, nil
		sub.Params = Params{}
		for k, v := range in.Params {
			sub.Params[k] = v
		}
		res, err := est.run(ctx, &sub)
		if err != nil {
			return nil, fmt.Errorf("seed %d: %w", sd, err)
		}
		if out.Columns == nil {
			out.Columns = append([]string{"seed"}, res.Columns...)
		}
		for _, r := range res.Rows {
			out.Rows = append(out.Rows, append([]any{sd}, r...))
		}
		for _, n := range res.Notes {
			out.Notes = append(out.Notes, fmt.Sprintf("seed %d: %s", sd, n))
		}
		rs, n := res.Provenance.Runs, res.Provenance.CellsUsed
		if sub.grid != nil && rs == nil {
			rs, n = sub.grid.used(sub.scope)
		}
		if rs == nil && sub.tidyRuns != nil {
			rs, n = sub.tidyRuns, sub.tidyCells
		}
		for _, r := range rs {
			runs[r] = true
		}
		cells += n
	}
	for r := range runs {
		out.Provenance.Runs = append(out.Provenance.Runs, r)
	}
	sort.Strings(out.Provenance.Runs)
	out.Provenance.CellsUsed = cells
	note := fmt.Sprintf("%d seeds in scope (%v): one row set per seed, never pooled; the replicates estimand gives across-seed estimates and intervals, --seed picks one", len(seeds), seeds)
	if unseeded > 0 {
		note += fmt.Sprintf("; %d runs without a seed are left out", unseeded)
	}
	out.Notes = append(out.Notes, note)
	return out, nil
}
