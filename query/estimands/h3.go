package estimands

import (
	"context"
	"fmt"
	"math"
	"strings"

	"leakscope/presets/i81"
	"leakscope/query/stats"
)

// H3 threshold rules (EXPERIMENT.md §6.4).
const (
	H3HalfWidth = "half-width" // |slope| > half the bootstrap CI width: what produced the published 42
	H3FullWidth = "full-width" // |slope| > the full CI width: what the plan said (15–17)
	H3Wald      = "wald"       // |slope|/SE > 1.96 with the binomial SE: deterministic near-equivalent
)

func init() {
	register(&Estimand{
		Name:  "h3",
		Needs: i81.Factors,
		Doc:   "H3 gradation: per (source, noun, trait) the OLS slope of the rate over levels 1..5 against its binomial-bootstrap 95% CI; counts triples whose slope clears the rule",
		Source: "EXPERIMENT.md §6.4, §9 (published chef 10, pirate 7, child 19, robot 6: 42 of 100; " +
			"reproductions give totals 40–43 depending on the RNG, child always 19)",
		Params: []Param{sourcesParam(""), bystandersParam, {Name: "rule", Default: H3HalfWidth, Doc: "half-width, full-width or wald"},
			{Name: "bootstrap", Default: "1000", Doc: "bootstrap resamples per triple"},
			{Name: "seed", Default: "1000", Doc: "RNG seed (PCG); triples are visited source → noun → trait"}, detectorParam},
		run: runH3,
	})
}

// H3Triple is one (source, noun, trait) gradation; slope in rate per level.
type H3Triple struct {
	Source, Noun, Trait string
	Slope, Lo, Hi, SE   float64
}

// Passes reports whether the slope clears the rule.
func (t H3Triple) Passes(rule string) bool {
	switch rule {
	case H3FullWidth:
		return math.Abs(t.Slope) > t.Hi-t.Lo
	case H3Wald:
		return t.SE > 0 && math.Abs(t.Slope)/t.SE > 1.96
	}
	return math.Abs(t.Slope) > (t.Hi-t.Lo)/2
}

// H3Triples fits every complete triple of source s; fit returns the
// bootstrapped slopes of one triple. The slope is OLS of the
// raw rate on x = 1..5; the CI is the 2.5/97.5 percentiles of b slopes refit
// on Binomial(total, p̂)/total redraws of every level; SE =
// sqrt(Σ(x−3)² p̂(1−p̂)/n)/10 (Σ(x−3)² = 10).
func H3Triples(g *Grid, s string, fit func(x, r []float64, n []int) ([]float64, error)) ([]H3Triple, []string, error) {
	var cells []tidy
	for _, c := range g.cells[s] {
		if c.Factors[i81.FactorKind] == i81.KindGrid {
			cells = append(cells, tidyOf(c))
		}
	}
	// The generic slope over an ordered factor with the #81 preset's
	// parameters: level on ranks 1..5, one series per (noun, trait), visited
	// in the preset's noun → trait order (the bootstrap draws follow it).
	groups, incomplete, _, err := slopeGroups(cells, i81.FactorLevel, []string{i81.FactorNoun, i81.FactorTrait}, nil, ScaleRank)
	if err != nil {
		return nil, nil, err
	}
	var out []H3Triple
	skipped := make([]string, 0, len(incomplete))
	for _, k := range incomplete {
		skipped = append(skipped, s+"/"+k)
	}
	for _, gr := range groups {
		slope, err := stats.OLSSlope(gr.X, gr.Rates)
		if err != nil {
			return nil, nil, err
		}
		boot, err := fit(gr.X, gr.Rates, gr.Totals)
		if err != nil {
			return nil, nil, err
		}
		nt := strings.SplitN(gr.Key, "/", 2)
		out = append(out, H3Triple{Source: s, Noun: nt[0], Trait: nt[1], Slope: slope,
			Lo: stats.Percentile(boot, 2.5), Hi: stats.Percentile(boot, 97.5), SE: slopeSE(gr.X, gr.Rates, gr.Totals)})
	}
	return out, skipped, nil
}

// slopeSE is the binomial standard error of an OLS slope:
// sqrt(Σ(x−x̄)² p̂(1−p̂)/n) / Σ(x−x̄)² (for x = 1..5: Σ(x−3)² = 10).
func slopeSE(x, rates []float64, totals []int) float64 {
	mean := 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	sxx, v := 0.0, 0.0
	for i, p := range rates {
		d := x[i] - mean
		sxx += d * d
		v += d * d * p * (1 - p) / float64(totals[i])
	}
	return math.Sqrt(v) / sxx
}

func runH3(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	rule := in.Params.Str("rule")
	if rule != H3HalfWidth && rule != H3FullWidth && rule != H3Wald {
		return nil, fmt.Errorf("%w rule=%q: want half-width, full-width or wald", ErrBadParam, rule)
	}
	b, seed, err := in.Params.Bootstrap()
	if err != nil {
		return nil, err
	}
	rng := stats.NewRNG(seed)
	fit := func(x, r []float64, n []int) ([]float64, error) {
		if err := ctx.Err(); err != nil { // a cancelled request stops between triples
			return nil, err
		}
		return stats.BootstrapSlope(x, r, n, b, rng)
	}
	res := &Result{Columns: []string{"source", "triples_passing", "triples", "rule"}}
	total, count := 0, 0
	for _, s := range srcs {
		triples, skipped, err := H3Triples(g, s, fit)
		if err != nil {
			return nil, err
		}
		pass := 0
		for _, t := range triples {
			if t.Passes(rule) {
				pass++
			}
		}
		if len(skipped) > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("source %s: %d triples lack a level and are left out (e.g. %s)", s, len(skipped), skipped[0]))
		}
		res.Rows = append(res.Rows, []any{s, pass, len(triples), rule})
		total += pass
		count += len(triples)
	}
	res.Rows = append(res.Rows, []any{"total", total, count, rule})
	res.Notes = append(res.Notes, fmt.Sprintf("seed %d, %d bootstrap resamples per triple; another seed moves the bootstrap totals by a few triples (the published 42 is one draw)", seed, b))
	return res, nil
}
