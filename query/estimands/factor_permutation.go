package estimands

import (
	"context"
	"fmt"
	"math"
	"strings"

	"leakscope/query/stats"
)

func init() {
	register(&Estimand{
		Name: "factor-permutation",
		Doc: "does factor a matter: per group, the spread (max − min) over a's values of the mean effect, in pp, with a permutation p-value " +
			"(a's labels shuffled over the group's cells; p = share of shuffles with a spread ≥ the observed, no +1 correction). " +
			"A cell's effect is |V(cell) − V(reference)| for a change of the effect factors (ref=absent: the cell without them; ref=VALUE: the cell with them at that value; " +
			"matched on by and over), or V itself without ref",
		Source: "EXPERIMENT.md §6.8 generalised (issue 17 item 3); #81's axis-permutation is a=trait, effect=trait+level, ref=absent, over=source,noun, by= (empty), " +
			"value=rate, seed 42 (presets/i81/i81.json parameterisations), and reproduces its 4-source partial: spread 1.96 pp, p ≈ 0.966",
		Params: []Param{{Name: "a", Default: "", Doc: "the factor whose labels are shuffled; several joined with +"},
			{Name: "effect", Default: "", Doc: "the factors whose change is a cell's effect, joined with + (empty: a)"},
			{Name: "ref", Default: "", Doc: "the reference: absent (the cell without the effect factors), a value of them (joined with /), or empty (the effect is the value itself)"},
			{Name: "over", Default: ByDefault, Doc: "comma-separated factors matched between a cell and its reference (auto: every other varying factor on which cells and references meet)"},
			{Name: "by", Default: ByDefault, Doc: "comma-separated factors tested separately (auto: source when it is not in a, effect or over; empty = one test)"},
			{Name: "drop_equal", Default: "", Doc: "two factors, comma-separated: cells where they are equal are left out"},
			{Name: "permutations", Default: "10000", Doc: "number of shuffles per group"},
			{Name: "seed", Default: "42", Doc: "RNG seed (PCG); groups in order, cells in the factors' order"},
			valueParam(ValueRate), detectorParam},
		run: runFactorPermutation,
	})
}

func runFactorPermutation(ctx context.Context, in *Input) (*Result, error) {
	cells, values, err := loadTidy(ctx, in)
	if err != nil {
		return nil, err
	}
	return factorPermutation(ctx, cells, values, in.Params)
}

// factorPermutation tests, per group, whether the mean effect differs
// between a's values.
func factorPermutation(ctx context.Context, cells []tidy, values map[string][]string, p Params) (*Result, error) {
	rp, err := parseRefParams(p, cells, values, "effect")
	if err != nil {
		return nil, err
	}
	b, err := p.Resamples("permutations")
	if err != nil {
		return nil, err
	}
	seed, err := p.Seed("seed")
	if err != nil {
		return nil, err
	}
	cells, dropped := dropEqual(cells, rp.drop)
	effs, missing, err := referenceEffects(cells, rp)
	if err != nil {
		return nil, err
	}
	// Cells in the factors' order, so that a seed gives the same shuffles
	// whatever order the lake returned them in.
	sortEffects(effs, append(append(append(append([]string{}, rp.by...), rp.over...), rp.change...), rp.a...))
	byGroup := map[string][]refEffect{}
	var groups []string
	for _, e := range effs {
		g, _ := joinKey(e.cell.F, rp.by)
		if len(rp.by) == 0 {
			g = "all"
		}
		if _, ok := byGroup[g]; !ok {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], e)
	}
	rng := stats.NewRNG(seed)
	an := strings.Join(rp.a, "+")
	res := &Result{Columns: []string{"group", "cells", "values", "observed_spread_pp", "lowest", "highest", "p_value", "permutations", "seed"}}
	for _, g := range orderGroupKeys(groups, rp.by, nil) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ge := byGroup[g]
		var names []string
		for _, e := range ge {
			if v, _ := joinKey(e.cell.F, rp.a); !contains(names, v) {
				names = append(names, v)
			}
		}
		names = orderGroupKeys(names, rp.a, nil)
		idx := map[string]int{}
		for i, n := range names {
			idx[n] = i
		}
		te, labels := make([]float64, len(ge)), make([]int, len(ge))
		for i, e := range ge {
			v, _ := joinKey(e.cell.F, rp.a)
			te[i], labels[i] = e.effect, idx[v]
		}
		if len(names) < 2 {
			res.Rows = append(res.Rows, []any{g, len(ge), len(names), nil, nil, nil, nil, b, seed})
			res.Notes = append(res.Notes, fmt.Sprintf("group %s: one value of %s — no spread to test, undefined", g, an))
			continue
		}
		spread := func(lab []int) float64 { s, _, _ := meanSpread(te, lab, len(names)); return s }
		obs, pv := stats.PermutationTest(labels, spread, b, rng)
		_, lo, hi := meanSpread(te, labels, len(names))
		res.Rows = append(res.Rows, []any{g, len(ge), len(names), pp(obs), names[lo], names[hi], pv, b, seed})
	}
	what := fmt.Sprintf("|V(cell) − V(reference)|, reference %s (same %s)", refWhat(rp), orNoneList(rp.match()))
	if rp.ref == "" {
		what = "V itself (no reference)"
	}
	res.Notes = append(res.Notes,
		fmt.Sprintf("statistic: max − min over %s of the mean effect, in pp; effect = %s, V = %s; null: %s labels shuffled over the group's cells; p = share of %d shuffles with spread ≥ observed",
			an, what, p.Str("value"), an, b),
		fmt.Sprintf("groups by %s", groupsBy(rp.by)))
	if dropped > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d cells with %s = %s left out (drop_equal)", dropped, rp.drop[0], rp.drop[1]))
	}
	if missing > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d cells have no reference in scope and are left out", missing))
	}
	return res, nil
}

// meanSpread is max_l mean(x | l) − min_l mean(x | l) over the k labels
// present, with the labels of the lowest and highest means.
func meanSpread(x []float64, labels []int, k int) (spread float64, lo, hi int) {
	sum, n := make([]float64, k), make([]int, k)
	for i, l := range labels {
		sum[l] += x[i]
		n[l]++
	}
	min, max := math.Inf(1), math.Inf(-1)
	for l := range sum {
		if n[l] == 0 {
			continue
		}
		m := sum[l] / float64(n[l])
		if m < min {
			min, lo = m, l
		}
		if m > max {
			max, hi = m, l
		}
	}
	return max - min, lo, hi
}
