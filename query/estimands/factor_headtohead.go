package estimands

import (
	"fmt"
	"strings"

	"leakscope/query/stats"
)

// RefAbsent is the b_ref value naming the cell that lacks b's factors (the
// #81 A2 persona "You are a chef." against A1 "…chef who is …").
const RefAbsent = "absent"

func init() {
	register(&Estimand{
		Name: "factor-head-to-head",
		Doc: "the effect of changing factor a against changing factor b on the same cells, per group: for each cell, the a-swap effect " +
			"(median over pairs of a values of |ΔV| with b and the held factors fixed) and the b-swap effect (|V(cell) − V(same cell with b at b_ref)|, " +
			"or with b_ref empty the median over pairs of b values with a fixed); then the cells counted, the median of each effect (fractions, differences of rates in [0,1]), " +
			"how often the a-swap is larger, and the median ratio a/b (0/0 = 1, x/0 = ∞ shown empty)",
		Source: "EXPERIMENT.md §6.8 generalised (issue 17 item 3); #81's head-to-head is a=noun, b=trait+level, b_ref=absent, by=source, holding empty, value=rate, " +
			"and reproduces head_to_head.json (chef .375/.035/0/.090, pirate .005/.005/32/1.0, child .145/.0575/27/.45, robot .015/.015/52/1.0)",
		Params: []Param{{Name: "a", Default: "", Doc: "the first factor changed (its effect is the a-swap); several joined with +"},
			{Name: "b", Default: "", Doc: "the second factor changed; several joined with +"},
			{Name: "b_ref", Default: "", Doc: "b's reference: empty = every pair of b values, absent = the cell without b's factors, or one value of b (joined with / for several factors)"},
			pairByParam, pairHoldingParam,
			valueParam(ValueRate), detectorParam},
		run: onTidy(factorHeadToHead),
	})
}

// swapEffect is one cell's pair of effects.
type swapEffect struct{ a, b float64 }

func factorHeadToHead(cells []tidy, values map[string][]string, p Params) (*Result, error) {
	a, b, by, holding, err := twoFactorParams(p, cells, values)
	if err != nil {
		return nil, err
	}
	val, err := cellValue(p)
	if err != nil {
		return nil, err
	}
	ref := p.Str("b_ref")
	// With b_ref=absent the reference cells lack b: index them by a and
	// the held factors alone.
	refs := map[string]tidy{} // group, context, a value → reference cell
	var withB []tidy
	for _, c := range cells {
		g, ok1 := joinKey(c.F, by)
		h, ok2 := joinKey(c.F, holding)
		av, ok3 := joinKey(c.F, a)
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		if _, hasB := joinKey(c.F, b); hasB {
			withB = append(withB, c)
			continue
		}
		hasAny := false
		for _, f := range b {
			_, in := c.F[f]
			hasAny = hasAny || in
		}
		if ref == RefAbsent && !hasAny {
			k := g + "\x00" + h + "\x00" + av
			if prev, dup := refs[k]; dup {
				return nil, measuredTwice(fmt.Sprintf("%s=%s without %s (group %s, held %s)", strings.Join(a, "+"), av, strings.Join(b, "+"), g, orNone(h)), prev, c)
			}
			refs[k] = c
		}
	}
	tables, err := interactionTables(withB, a, b, by, holding)
	if err != nil {
		return nil, err
	}
	if ref != "" && ref != RefAbsent {
		found := false
		for _, t := range tables {
			found = found || t.at[ref] != nil
		}
		if !found {
			return nil, fmt.Errorf("%w b_ref=%q: no cell has %s=%s in scope (values: %s)", ErrBadParam, ref, strings.Join(b, "+"), ref, strings.Join(values[b[0]], ", "))
		}
	}
	perGroup := map[string][]swapEffect{}
	var groups []string
	for _, t := range tables {
		if !contains(groups, t.group) {
			groups = append(groups, t.group)
		}
		aSwap := map[string]float64{} // b value → median |Δ| over pairs of a values
		for _, bv := range t.bs {
			if d := pairDiffs(t.as, func(x string) (tidy, bool) { c, ok := t.at[bv][x]; return c, ok }, val); len(d) > 0 {
				aSwap[bv] = stats.Percentile(d, 50)
			}
		}
		bPairs := map[string]float64{} // a value → median |Δ| over pairs of b values (b_ref empty)
		if ref == "" {
			for _, av := range t.as {
				if d := pairDiffs(t.bs, func(x string) (tidy, bool) { c, ok := t.at[x][av]; return c, ok }, val); len(d) > 0 {
					bPairs[av] = stats.Percentile(d, 50)
				}
			}
		}
		for _, av := range t.as {
			for _, bv := range t.bs {
				c, ok := t.at[bv][av]
				ae, okA := aSwap[bv]
				if !ok || !okA || bv == ref {
					continue
				}
				var be float64
				switch ref {
				case "":
					if be, ok = bPairs[av]; !ok {
						continue
					}
				case RefAbsent:
					r, ok := refs[t.group+"\x00"+t.context+"\x00"+av]
					if !ok {
						continue
					}
					be = abs(val(c) - val(r))
				default:
					r, ok := t.at[ref][av]
					if !ok {
						continue
					}
					be = abs(val(c) - val(r))
				}
				perGroup[t.group] = append(perGroup[t.group], swapEffect{ae, be})
			}
		}
	}
	res := &Result{Columns: []string{"group", "a", "b", "cells", "median_a_swap_frac", "median_b_swap_frac", "a_wins", "median_ratio_a_over_b"}}
	an, bn := strings.Join(a, "+"), strings.Join(b, "+")
	for _, g := range orderGroupKeys(groups, by, nil) {
		eff := perGroup[g]
		if len(eff) == 0 {
			res.Rows = append(res.Rows, []any{g, an, bn, 0, nil, nil, 0, nil})
			res.Notes = append(res.Notes, fmt.Sprintf("group %s: no cell has both an %s-swap and a %s-swap comparison — undefined", g, an, bn))
			continue
		}
		var ae, be, ratio []float64
		wins := 0
		for _, e := range eff {
			ae, be, ratio = append(ae, e.a), append(be, e.b), append(ratio, neOverTE(e.a, e.b))
			if e.a > e.b {
				wins++
			}
		}
		res.Rows = append(res.Rows, []any{g, an, bn, len(eff), stats.Percentile(ae, 50), stats.Percentile(be, 50), wins, nanNil(stats.Percentile(ratio, 50))})
	}
	if len(res.Rows) == 0 {
		return nil, fmt.Errorf("%w: no cell has values of both %s and %s with %s in scope", ErrNoData, an, bn, orNoneList(append(append([]string{}, by...), holding...)))
	}
	bWhat := "the median over pairs of " + bn + " values with " + an + " fixed"
	switch ref {
	case RefAbsent:
		bWhat = "|ΔV| to the cell without " + bn + " (same " + an + ")"
	case "":
	default:
		bWhat = "|ΔV| to the cell with " + bn + "=" + ref + " (same " + an + ")"
	}
	res.Notes = append(res.Notes,
		fmt.Sprintf("a-swap: median over pairs of %s values of |ΔV| with %s and the held factors fixed; b-swap: %s; V = %s; effects are fractions (differences of rates in [0,1])", an, bn, bWhat, p.Str("value")),
		fmt.Sprintf("groups by %s; held fixed: %s; ratio = a-swap/b-swap per cell with 0/0 = 1 and x/0 = ∞ (shown empty)", groupsBy(by), orNoneList(holding)))
	return res, nil
}

// pairDiffs is |V(x) − V(y)| over every pair of keys both present.
func pairDiffs(keys []string, get func(string) (tidy, bool), val func(tidy) float64) []float64 {
	var d []float64
	for i := 0; i < len(keys); i++ {
		x, okX := get(keys[i])
		if !okX {
			continue
		}
		for j := i + 1; j < len(keys); j++ {
			if y, okY := get(keys[j]); okY {
				d = append(d, abs(val(x)-val(y)))
			}
		}
	}
	return d
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
