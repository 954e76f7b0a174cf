package estimands

import (
	"context"
	"fmt"
	"math"
	"strings"

	"leakscope/presets/i81"
	"leakscope/query/stats"
)

func init() {
	register(&Estimand{
		Name:  "head-to-head",
		Needs: i81.Factors,
		Doc:   "trait (adjective) effect TE = |r(A1(n,t,ℓ)) − r(A2(n))| against noun-swap effect NE = median over noun pairs of |r(A1(nᵢ,t,ℓ)) − r(A1(nⱼ,t,ℓ))|, per source or per axis",
		Source: "EXPERIMENT.md §6.8; per source it reproduces head_to_head.json (chef .375/.035/0/.090, pirate .005/.005/32/1.0, " +
			"child .145/.0575/27/.45, robot .015/.015/52/1.0); per axis the published values need person_full130",
		Params: []Param{sourcesParam(""), bystandersParam, {Name: "by", Default: "source", Doc: "source or axis"},
			{Name: "layer", Default: "20", Doc: "decoder layer of the cosines (by=axis, when the lake has them)"},
			{Name: "centering", Default: "raw", Doc: "cosine centering"}, detectorParam},
		run: runHeadToHead,
	})
	register(&Estimand{
		Name:  "symmetric-swap",
		Needs: i81.Factors,
		Doc: "noun-swap NE over (s,t,ℓ) contexts against descriptor-swap: per (s,n) the median over the 300 pairs of (t,ℓ) cells of |Δr|; means and medians in pp. " +
			"It is factor-swap with the #81 preset's parameters (presets/i81/i81.json parameterisations: a=noun, b=trait+level, holding=source, pooled)",
		Source: "EXPERIMENT.md §6.8 (5-source published 3.688 / 2.7 pp; 4-source partial 3.585 / 2.638, medians 2.25 / 1.75)",
		Params: []Param{sourcesParam(""), bystandersParam, detectorParam},
		run:    runSymmetricSwap,
	})
	register(&Estimand{
		Name:  "axis-permutation",
		Needs: i81.Factors,
		Doc: "spread (max − min) of the per-axis mean TE, in pp, with a permutation p-value shuffling trait labels over all cells (share of shuffles ≥ observed). " +
			"It is factor-permutation with the #81 preset's parameters (presets/i81/i81.json parameterisations: a=trait, effect=trait+level, ref=absent, over=source,noun, pooled)",
		Source: "EXPERIMENT.md §6.8 (5-source published spread 2.04 pp, p = 0.97; 4-source partial 1.96 pp, p ≈ 0.966)",
		Params: []Param{sourcesParam(""), bystandersParam, {Name: "permutations", Default: "10000", Doc: "number of shuffles"},
			{Name: "seed", Default: "42", Doc: "RNG seed (PCG)"}, detectorParam},
		run: runAxisPermutation,
	})
}

// teCell is one A1 cell's trait effect with its context.
type teCell struct {
	source, noun, trait, level string
	te, ne                     float64 // ne is the cell's (s,t,ℓ) context's NE
}

// effects returns TE for every A1 cell of source s with its A2 measured,
// and NE per (t,ℓ) context with at least one noun pair.
func effects(g *Grid, s string) ([]teCell, map[[2]string]float64) {
	ne := map[[2]string]float64{}
	for _, t := range i81.Traits {
		for _, l := range i81.Levels {
			var d []float64
			for i := 0; i < len(i81.Nouns); i++ {
				for j := i + 1; j < len(i81.Nouns); j++ {
					a, okA := g.Get(s, i81.A1Key(i81.Nouns[i], t, l))
					b, okB := g.Get(s, i81.A1Key(i81.Nouns[j], t, l))
					if okA && okB {
						d = append(d, math.Abs(a.Rate-b.Rate))
					}
				}
			}
			if len(d) > 0 {
				ne[[2]string{t, l}] = stats.Percentile(d, 50)
			}
		}
	}
	var cells []teCell
	for _, n := range i81.Nouns {
		a2, ok := g.Get(s, i81.A2Key(n))
		if !ok {
			continue
		}
		for _, t := range i81.Traits {
			for _, l := range i81.Levels {
				c, ok := g.Get(s, i81.A1Key(n, t, l))
				nev, okNE := ne[[2]string{t, l}]
				if ok && okNE {
					cells = append(cells, teCell{source: s, noun: n, trait: t, level: l, te: math.Abs(c.Rate - a2.Rate), ne: nev})
				}
			}
		}
	}
	return cells, ne
}

// neOverTE is NE/TE with 0/0 = 1 (pirate reproduces only so) and x/0 = +Inf.
func neOverTE(ne, te float64) float64 {
	switch {
	case te == 0 && ne == 0:
		return 1
	case te == 0:
		return math.Inf(1)
	}
	return ne / te
}

func runHeadToHead(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	switch in.Params.Str("by") {
	case "source":
		res := &Result{Columns: []string{"source", "cells", "median_trait_leak_frac", "median_noun_leak_frac", "noun_wins_leak", "median_ratio_leak"}}
		for _, s := range srcs {
			cells, _ := effects(g, s)
			var te, ne, ratio []float64
			wins := 0
			for _, c := range cells {
				te, ne, ratio = append(te, c.te), append(ne, c.ne), append(ratio, neOverTE(c.ne, c.te))
				if c.ne > c.te {
					wins++
				}
			}
			res.Rows = append(res.Rows, []any{s, len(cells), stats.Percentile(te, 50), stats.Percentile(ne, 50), wins, nanNil(stats.Percentile(ratio, 50))})
		}
		res.Notes = append(res.Notes, "effects are fractions (as head_to_head.json); ratio = NE/TE per cell with 0/0 = 1 and x/0 = ∞ (null in JSON)")
		return res, nil
	case "axis":
		// Cosine effects, the same definitions on cos(src_s, ·), where the
		// lake has persona cosines to the source (EXPERIMENT.md §6.8).
		cosOf := map[[2]string]float64{}
		if rows, err := loadCosines(ctx, in); err == nil {
			for _, r := range rows {
				cosOf[[2]string{r.a, r.b}] = r.cos
			}
		}
		cosAt := func(s, b string) (float64, bool) { v, ok := cosOf[[2]string{"src_" + s, b}]; return v, ok }
		res := &Result{Columns: []string{"trait", "trait_effect_leak_pp", "noun_effect_leak_pp", "ratio_leak", "trait_over_noun", "cells", "contexts",
			"trait_effect_cos", "noun_effect_cos", "ratio_cos"}}
		for _, t := range i81.Traits {
			var te, ne, tc, nc []float64
			for _, s := range srcs {
				cells, neMap := effects(g, s)
				for _, c := range cells {
					if c.trait != t {
						continue
					}
					te = append(te, c.te)
					a1, ok1 := cosAt(s, i81.A1Key(c.noun, t, c.level))
					a2, ok2 := cosAt(s, i81.A2Key(c.noun))
					if ok1 && ok2 {
						tc = append(tc, math.Abs(a1-a2))
					}
				}
				for _, l := range i81.Levels {
					if v, ok := neMap[[2]string{t, l}]; ok {
						ne = append(ne, v)
					}
					var d []float64
					for i := 0; i < len(i81.Nouns); i++ {
						for j := i + 1; j < len(i81.Nouns); j++ {
							x, okX := cosAt(s, i81.A1Key(i81.Nouns[i], t, l))
							y, okY := cosAt(s, i81.A1Key(i81.Nouns[j], t, l))
							if okX && okY {
								d = append(d, math.Abs(x-y))
							}
						}
					}
					if len(d) > 0 {
						nc = append(nc, stats.Percentile(d, 50))
					}
				}
			}
			mt, mn, ct, cn := mean(te), mean(ne), mean(tc), mean(nc)
			res.Rows = append(res.Rows, []any{t, pp(mt), pp(mn), nanNil(mn / mt), nanNil(mt / mn), len(te), len(ne), nanNil(ct), nanNil(cn), nanNil(cn / ct)})
		}
		if len(cosOf) == 0 {
			res.Notes = append(res.Notes, "no persona cosines to the source in this experiment: the cosine columns are empty")
		}
		res.Notes = append(res.Notes, "the authors' published per-axis values used all 5 sources with person_full130, which is not in the published data")
		return res, nil
	}
	return nil, fmt.Errorf("%w by=%q: want source or axis", ErrBadParam, in.Params.Str("by"))
}

// runSymmetricSwap is factor-swap with the preset's parameters (a=noun,
// b=trait+level, holding=source, pooled) on the grid in scope, under the
// #81 names: the noun swap and the descriptor (trait × level) swap.
func runSymmetricSwap(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	_, p, err := presetParams("symmetric-swap", in.Params)
	if err != nil {
		return nil, err
	}
	cells := gridTidy(g, srcs)
	gen, err := factorSwap(cells, tidyValues(cells), p)
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: []string{"swap", "contexts", "mean_pp", "median_pp"}}
	for i, r := range gen.Rows {
		name := "noun"
		if i%2 == 1 {
			name = "descriptor"
		}
		res.Rows = append(res.Rows, append([]any{name}, r[2:]...))
	}
	if len(gen.Rows) == 2 && gen.Rows[0][3] != nil && gen.Rows[1][3] != nil && gen.Rows[0][3].(float64) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("ratio descriptor/noun (means) = %.3f", gen.Rows[1][3].(float64)/gen.Rows[0][3].(float64)))
	}
	res.Notes = append(res.Notes, fmt.Sprintf("factor-swap with a=%s, b=%s, holding=%s, pooled: noun = the a-swap, descriptor = the b-swap", p.Str("a"), p.Str("b"), p.Str("holding")))
	return res, nil
}

// runAxisPermutation is factor-permutation with the preset's parameters
// (a=trait, effect=trait+level, ref=absent, over=source,noun, pooled) on
// the grid in scope.
func runAxisPermutation(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	_, p, err := presetParams("axis-permutation", in.Params)
	if err != nil {
		return nil, err
	}
	cells := gridTidy(g, srcs)
	gen, err := factorPermutation(ctx, cells, tidyValues(cells), p)
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: []string{"cells", "observed_spread_pp", "p_value", "permutations", "seed"}}
	for _, r := range gen.Rows {
		res.Rows = append(res.Rows, []any{r[1], r[3], r[6], r[7], r[8]})
	}
	res.Notes = append(res.Notes, "statistic: max − min over traits of the mean TE = |r(A1(n,t,ℓ)) − r(A2(n))|; null: trait labels shuffled over all cells; p = share of shuffles with spread ≥ observed")
	for _, n := range gen.Notes {
		if strings.Contains(n, "undefined") || strings.Contains(n, "left out") {
			res.Notes = append(res.Notes, n)
		}
	}
	return res, nil
}

func mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}
