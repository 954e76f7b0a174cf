package estimands

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"sort"

	"golang.org/x/sync/errgroup"

	"leakscope/query/stats"
)

func init() {
	register(&Estimand{
		Name: "cell-rates",
		Doc:  "per (source, bystander) cell: rate, found/total, 95% Wilson CI, 95% bootstrap CI over the completion flags, base-subtracted rate, floor (N/S) test and low-coherence flag",
		Source: "EXPERIMENT.md §6.1 (bootstrap of 1,000 resamples of the completions; Δ = rate − base, unclipped) and §4 " +
			"(ns_floor: |rate − base| < 2·sqrt(max(base(1−base), 1e−12)/n); low coherence: judge mean < threshold)",
		Params: []Param{sourcesParam(""), bystandersParam, {Name: "bootstrap", Default: "1000", Doc: "bootstrap resamples per cell"},
			{Name: "seed", Default: "42", Doc: "RNG seed; each cell's stream is seeded from (seed, source, bystander)"},
			{Name: "threshold", Default: "0.5", Doc: "low-coherence threshold"}, detectorParam},
		run: runCellRates,
	})
}

// FloorTest is the authors' ns_floor rule (EXPERIMENT.md §4): a cell is
// indistinguishable from the base model when
// |rate − base| < 2·sqrt(max(base·(1−base), 1e−12)/n).
func FloorTest(rate, base float64, n int) bool {
	return math.Abs(rate-base) < 2*math.Sqrt(math.Max(base*(1-base), 1e-12)/float64(n))
}

// cellSeed derives one cell's RNG seed from the run seed and the cell, so a
// cell's interval does not depend on which other cells are in scope.
func cellSeed(seed uint64, source, bystander string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s\x00%s", seed, source, bystander)
	return h.Sum64()
}

// bootstrapCells computes every fixed-n cell's bootstrap interval (b
// resamples, seeded per cell by cellSeed), on as many goroutines as there
// are CPUs: each cell has its own RNG, so the intervals do not depend on
// the order or the parallelism.
func bootstrapCells(ctx context.Context, g *Grid, srcs []string, b int, seed uint64) (map[[2]string][2]float64, error) {
	type job struct {
		key          [2]string
		found, total int
	}
	var jobs []job
	for _, s := range srcs {
		for k, c := range g.cells[s] {
			if c.Sequence == nil {
				jobs = append(jobs, job{[2]string{s, k}, c.Found, c.Total})
			}
		}
	}
	out := make([][2]float64, len(jobs))
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(runtime.GOMAXPROCS(0))
	for i, j := range jobs {
		eg.Go(func() error {
			if err := ctx.Err(); err != nil { // a cancelled request stops between cells
				return err
			}
			l, h, err := stats.BootstrapRate(j.found, j.total, b, 0.95, stats.NewRNG(cellSeed(seed, j.key[0], j.key[1])))
			out[i] = [2]float64{l, h}
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	m := make(map[[2]string][2]float64, len(jobs))
	for i, j := range jobs {
		m[j.key] = out[i]
	}
	return m, nil
}

func runCellRates(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	b, seed, err := in.Params.Bootstrap()
	if err != nil {
		return nil, err
	}
	thr, err := in.Params.Fraction("threshold")
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: []string{"source", "bystander", "rate", "found", "total", "wilson_low", "wilson_high",
		"boot_low", "boot_high", "base_rate", "rate_minus_base", "ns_floor", "coherence_mean", "low_coherence", "sequence_low", "sequence_high"}}
	adaptive := 0
	boot, err := bootstrapCells(ctx, g, srcs, b, seed)
	if err != nil {
		return nil, err
	}
	for _, s := range srcs {
		keys := make([]string, 0, len(g.cells[s]))
		for k := range g.cells[s] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := ctx.Err(); err != nil { // a cancelled request stops between cells
				return nil, err
			}
			c := g.cells[s][k]
			var wl, wh, bl, bh, sl, sh any
			if c.Sequence != nil {
				// n was chosen by peeking: fixed-n intervals undercover.
				adaptive++
				sl, sh = c.Sequence[0], c.Sequence[1]
			} else {
				l, h, err := stats.Wilson(c.Found, c.Total, stats.Z95)
				if err != nil {
					return nil, err
				}
				wl, wh = l, h
				bl, bh = boot[[2]string{s, k}][0], boot[[2]string{s, k}][1]
			}
			var coh, low any
			if c.Coherence != nil {
				coh, low = *c.Coherence, *c.Coherence < thr
			}
			// Without a base run the base columns are undefined, not 0.
			var base, delta, floor any
			if c.HasBase {
				base, delta, floor = c.BaseRate, c.Delta(), FloorTest(c.Rate, c.BaseRate, c.Total)
			}
			res.Rows = append(res.Rows, []any{s, k, c.Rate, c.Found, c.Total, wl, wh, bl, bh, base, delta, floor, coh, low, sl, sh})
		}
	}
	res.Notes = append(res.Notes, "rates and intervals are fractions in [0,1]; cells without a judge score have no low-coherence flag (the authors' CSV wrote False)")
	if adaptive > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d cells come from adaptive runs: their n was chosen by peeking, so they report only the anytime-valid confidence sequence (sequence_low/high, docs/ADAPTIVE.md), no Wilson or bootstrap interval", adaptive))
	}
	return res, nil
}
