package estimands

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"leakscope/events"
	"leakscope/query"
	"leakscope/query/stats"
)

func init() {
	register(&Estimand{
		Name:        "replicates",
		acrossSeeds: true,
		Doc: "replicates: runs that differ only in their training seed (same source persona, same run factors; the sweep is ignored) form a group; " +
			"per group × bystander (level=cell) or per group (level=source: each seed's mean over the bystanders every seed has), " +
			"the per-seed rates with their seeds and counts, n_seeds, the across-seed estimate (the unweighted mean of the per-seed rates — seeds are never pooled into one count) " +
			"and a 95% interval over seeds named in the interval column (default seed-t: t over the per-seed rates, df = seeds−1, floored at the binomial standard error; " +
			"its coverage at 3 seeds was 95.3% per cell and 94.5% per source mean in a simulation of the #81 design, where the hierarchical bootstrap's was 84.9% and 80.3%). " +
			"One seed gives its per-seed rate only and the note \"1 seed: no between-seed interval\"; rate-only cells (counts unknown) get the plain t-interval from 2 seeds on. " +
			"Rates and intervals are fractions in [0,1]; undefined values are null",
		Source: "DESIGN.md \"Designs are data\" (replicates; hierarchical bootstrap, Saravanan, Berman & Sober 2020); query/stats/replicates.go and its coverage simulation TestReplicateCoverage",
		Params: []Param{detectorParam,
			{Name: "level", Default: "cell", Doc: "cell (one row per group × bystander) or source (one row per group: per seed the mean rate over bystanders, then across seeds)"},
			{Name: "method", Default: stats.DefaultReplicateMethod, Doc: "interval over seeds: seed-t (t, df = seeds−1, binomial floor), seed-t-plain (t without floor) or hier-bootstrap (resample seeds, then completions)"},
			{Name: "bootstrap", Default: "1000", Doc: "resamples of the hier-bootstrap method (count)"},
			{Name: "seed", Default: "42", Doc: "RNG seed of the hier-bootstrap; each row's stream is seeded from (seed, group, bystander)"},
		},
		run: runReplicates,
	})
}

// One seed's measurement of a cell, from one run.
type seedCell struct {
	run          string
	seed         *int64
	rate         float64
	found, total int // total 0: rate-only (counts unknown)
}

// A replicate group: runs of one source persona and one set of run factors.
type repGroup struct {
	key, source, factors string
	runs                 []string                       // in seed order
	seeds                map[string]*int64              // run → seed
	cells                map[string]map[string]seedCell // bystander → run → cell
}

func runReplicates(ctx context.Context, in *Input) (*Result, error) {
	level := in.Params.Str("level")
	if level != "cell" && level != "source" {
		return nil, fmt.Errorf("%w level=%q: want cell or source", ErrBadParam, level)
	}
	method := in.Params.Str("method")
	if !slicesContains(stats.ReplicateMethods, method) {
		return nil, fmt.Errorf("%w method=%q: want one of %s", ErrBadParam, method, strings.Join(stats.ReplicateMethods, ", "))
	}
	b, rngSeed, err := in.Params.Bootstrap()
	if err != nil {
		return nil, err
	}
	lk, err := in.Engine.Leakage(ctx, query.LeakageRequest{Experiment: in.Experiment, Detector: in.Params.Str("detector"), Scope: in.Scope})
	if err != nil {
		return nil, err
	}
	res, err := replicatesOf(ctx, lk, level, method, b, rngSeed)
	if errors.Is(err, ErrNoData) {
		return nil, fmt.Errorf("%w: experiment %q has no measured cells in scope%s", ErrNoData, in.Experiment, scopeClause(in.Scope))
	}
	return res, err
}

// replicatesOf groups a leakage matrix's cells into replicate groups and
// computes the estimand's rows.
func replicatesOf(ctx context.Context, lk *query.Leakage, level, method string, b int, rngSeed uint64) (*Result, error) {
	groups := map[string]*repGroup{}
	var noSeed, skipped, adaptive int
	used := 0
	for _, c := range lk.Cells {
		if c.Missing || c.Rate == nil || (!c.RateOnly && (c.Found == nil || c.Total == nil || *c.Total == 0)) {
			skipped++
			continue
		}
		factors := renderFactors(c.RunFactors)
		key := c.SourcePersona + "\x00" + factors
		if c.Seed == nil {
			// Without a seed a run cannot be called a replicate of another.
			key += "\x00run " + c.RunID
		}
		g := groups[key]
		if g == nil {
			g = &repGroup{key: key, source: c.SourcePersona, factors: factors, seeds: map[string]*int64{}, cells: map[string]map[string]seedCell{}}
			groups[key] = g
		}
		if _, ok := g.seeds[c.RunID]; !ok {
			g.seeds[c.RunID] = c.Seed
			g.runs = append(g.runs, c.RunID)
			if c.Seed == nil {
				noSeed++
			}
		}
		sc := seedCell{run: c.RunID, seed: c.Seed, rate: *c.Rate}
		if !c.RateOnly {
			sc.found, sc.total = int(*c.Found), int(*c.Total)
		}
		if c.Interval == events.MethodBetaBinomial {
			adaptive++
		}
		if g.cells[c.Persona] == nil {
			g.cells[c.Persona] = map[string]seedCell{}
		}
		g.cells[c.Persona][c.RunID] = sc
		used++
	}
	if len(groups) == 0 {
		return nil, ErrNoData
	}
	keys := make([]string, 0, len(groups))
	for k, g := range groups {
		keys = append(keys, k)
		sort.Slice(g.runs, func(i, j int) bool { return seedLess(g.seeds[g.runs[i]], g.seeds[g.runs[j]], g.runs[i], g.runs[j]) })
	}
	sort.Strings(keys)

	res := &Result{}
	var runs []string
	counts := map[string]int{} // notes by kind
	for _, k := range keys {
		g := groups[k]
		runs = append(runs, g.runs...)
		if dup := duplicateSeeds(g); dup != "" {
			res.Notes = append(res.Notes, fmt.Sprintf("source %s%s: %s — each run is counted as its own replicate", g.source, factorsClause(g.factors), dup))
		}
	}
	switch level {
	case "cell":
		res.Columns = []string{"source", "run_factors", "bystander", "n_seeds", "seeds", "runs", "per_seed_rates", "per_seed_counts", "rate", "ci_low", "ci_high", "interval", "note"}
		for _, k := range keys {
			g := groups[k]
			bys := make([]string, 0, len(g.cells))
			for by := range g.cells {
				bys = append(bys, by)
			}
			sort.Strings(bys)
			for _, by := range bys {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				var per []seedCell
				for _, r := range g.runs {
					if c, ok := g.cells[by][r]; ok {
						per = append(per, c)
					}
				}
				row, note := replicateRow(per, func(sc seedCell) stats.SeedCounts {
					return stats.SeedCounts{Found: []int{sc.found}, Total: []int{sc.total}}
				}, method, b, rngSeed, g.key, by)
				counts[note]++
				res.Rows = append(res.Rows, append([]any{g.source, g.factors, by}, row...))
			}
		}
	case "source":
		res.Columns = []string{"source", "run_factors", "bystanders", "n_seeds", "seeds", "runs", "per_seed_rates", "per_seed_counts", "rate", "ci_low", "ci_high", "interval", "note"}
		for _, k := range keys {
			g := groups[k]
			// Only the bystanders every seed of the group measured: a mean
			// over different bystanders would not compare seeds.
			var common []string
			dropped := 0
			for by, m := range g.cells {
				if len(m) == len(g.runs) {
					common = append(common, by)
				} else {
					dropped++
				}
			}
			sort.Strings(common)
			if dropped > 0 {
				res.Notes = append(res.Notes, fmt.Sprintf("source %s%s: %d bystanders are missing in some seeds and left out of the per-seed means (%d bystanders kept)", g.source, factorsClause(g.factors), dropped, len(common)))
			}
			if len(common) == 0 {
				continue
			}
			per := make([]seedCell, len(g.runs))
			seedCounts := map[string]stats.SeedCounts{}
			for i, r := range g.runs {
				sc := seedCell{run: r, seed: g.seeds[r]}
				var cs stats.SeedCounts
				rateOnly := false
				for _, by := range common {
					c := g.cells[by][r]
					sc.rate += c.rate
					sc.found += c.found
					sc.total += c.total
					rateOnly = rateOnly || c.total == 0
					cs.Found, cs.Total = append(cs.Found, c.found), append(cs.Total, c.total)
				}
				sc.rate /= float64(len(common))
				if rateOnly {
					sc.found, sc.total = 0, 0
				}
				per[i] = sc
				seedCounts[r] = cs
			}
			row, note := replicateRow(per, func(sc seedCell) stats.SeedCounts { return seedCounts[sc.run] }, method, b, rngSeed, g.key, "")
			counts[note]++
			res.Rows = append(res.Rows, append([]any{g.source, g.factors, len(common)}, row...))
		}
	}
	res.Notes = append(res.Notes, "rates and intervals are fractions in [0,1]; rate is the unweighted mean of the per-seed rates listed in per_seed_rates (one per seed, in the order of seeds and runs): seeds are never pooled into one count")
	if level == "source" {
		res.Notes = append(res.Notes, "level=source: each seed's rate is its mean over the bystanders column's bystanders (per_seed_counts sums their hits and completions, for reading only); the interval is over seeds")
	}
	res.Notes = append(res.Notes, fmt.Sprintf("interval %s at 95%%: %s", method, methodDoc(method)))
	if n := counts[noteOneSeed]; n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d rows have 1 seed: their per-seed rate is shown, with no between-seed interval and no across-seed estimate", n))
	}
	if n := counts[noteRateOnly] + counts[noteRateOnlyOne]; n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d rows include rate-only cells (the origin gave a rate, counts unknown): they get the plain t-interval over seeds (%s) from 2 seeds on, no binomial floor and no bootstrap", n, stats.MethodSeedTPlain))
	}
	if noSeed > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d runs carry no seed: each is its own group (it cannot be shown to be a replicate of another run)", noSeed))
	}
	if skipped > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d cells in scope have no rate (missing or never counted) and are left out", skipped))
	}
	if adaptive > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d cells come from adaptive runs (n chosen by peeking): their rates carry a small optional-stopping bias that averaging over seeds does not remove", adaptive))
	}
	res.Notes = append(res.Notes, lk.Notes...)
	sort.Strings(runs)
	res.Provenance.Runs, res.Provenance.CellsUsed = runs, used
	return res, nil
}

// Row notes.
const (
	noteOneSeed     = "1 seed: no between-seed interval"
	noteRateOnly    = "counts unknown (rate-only) in some seeds: plain t over seeds"
	noteRateOnlyOne = "1 seed: no between-seed interval; counts unknown (rate-only)"
)

// replicateRow is n_seeds, seeds, runs, per_seed_rates, per_seed_counts,
// rate, ci_low, ci_high, interval and note for one group's measurement,
// with the note.
func replicateRow(per []seedCell, counts func(seedCell) stats.SeedCounts, method string, b int, rngSeed uint64, group, bystander string) ([]any, string) {
	seeds, runs, rates, cnts := make([]string, len(per)), make([]string, len(per)), make([]string, len(per)), make([]string, len(per))
	vals := make([]float64, len(per))
	rateOnly := false
	var sc []stats.SeedCounts
	for i, c := range per {
		seeds[i], runs[i] = "?", c.run
		if c.seed != nil {
			seeds[i] = strconv.FormatInt(*c.seed, 10)
		}
		vals[i] = c.rate
		rates[i] = strconv.FormatFloat(c.rate, 'g', 12, 64) // 12 digits: exact for found/total, no float noise
		if c.total == 0 {
			rateOnly = true
			cnts[i] = "?"
		} else {
			cnts[i] = fmt.Sprintf("%d/%d", c.found, c.total)
			sc = append(sc, counts(c))
		}
	}
	head := []any{len(per), strings.Join(seeds, ","), strings.Join(runs, ","), strings.Join(rates, ","), strings.Join(cnts, ",")}
	if len(per) < 2 {
		note := noteOneSeed
		if rateOnly {
			note = noteRateOnlyOne
		}
		return append(head, nil, nil, nil, nil, note), note
	}
	var (
		iv   stats.ReplicateInterval
		err  error
		note string
	)
	if rateOnly {
		iv.Method, note = stats.MethodSeedTPlain, noteRateOnly
		iv.Estimate, iv.Low, iv.High, err = stats.MeanT(vals, 0, 0.95)
	} else {
		iv, err = stats.ReplicateCI(method, sc, b, 0.95, stats.NewRNG(cellSeed(rngSeed, group, bystander)))
	}
	if err != nil {
		if errors.Is(err, stats.ErrOneSeed) {
			return append(head, nil, nil, nil, nil, noteOneSeed), noteOneSeed
		}
		return append(head, nil, nil, nil, nil, err.Error()), "error"
	}
	var nt any
	if note != "" {
		nt = note
	}
	return append(head, iv.Estimate, iv.Low, iv.High, iv.Method, nt), note
}

func methodDoc(m string) string {
	switch m {
	case stats.MethodSeedT:
		return "mean ± max(t(0.975, seeds−1)·sd/√seeds, 1.96·binomial se of the mean with Agresti–Coull p̃), clipped to [0,1]; coverage 95.3 % (cells) and 94.5 % (source means) at 3 seeds in TestReplicateCoverage"
	case stats.MethodSeedTPlain:
		return "mean ± t(0.975, seeds−1)·sd/√seeds over the per-seed rates, clipped to [0,1]; coverage 92.5 % (cells) at 3 seeds in TestReplicateCoverage"
	case stats.MethodHierBootstrap:
		return "two-level percentile bootstrap (seeds with replacement, then each seed's completions as Binomial(total, rate)); it undercovers with few seeds: 84.9 % (cells) and 80.3 % (source means) at 3 seeds in TestReplicateCoverage"
	}
	return m
}

// renderFactors is "k=v;k2=v2" in key order ("" for none).
func renderFactors(f events.Factors) string {
	var parts []string
	for _, k := range f.Keys() {
		parts = append(parts, k+"="+f[k])
	}
	return strings.Join(parts, ";")
}

func factorsClause(f string) string {
	if f == "" {
		return ""
	}
	return " (" + f + ")"
}

func scopeClause(s query.Scope) string {
	if s.Empty() {
		return ""
	}
	return " (" + s.String() + ")"
}

// seedLess orders runs by seed (runs without one last), then by ID.
func seedLess(a, b *int64, ra, rb string) bool {
	switch {
	case a != nil && b != nil && *a != *b:
		return *a < *b
	case (a == nil) != (b == nil):
		return a != nil
	}
	return ra < rb
}

// duplicateSeeds names seeds that more than one run of the group carries.
func duplicateSeeds(g *repGroup) string {
	by := map[int64][]string{}
	for _, r := range g.runs {
		if s := g.seeds[r]; s != nil {
			by[*s] = append(by[*s], r)
		}
	}
	var out []string
	for _, r := range g.runs {
		s := g.seeds[r]
		if s == nil || len(by[*s]) < 2 || by[*s][0] != r {
			continue
		}
		out = append(out, fmt.Sprintf("seed %d is carried by runs %s", *s, strings.Join(by[*s], ", ")))
	}
	return strings.Join(out, "; ")
}
