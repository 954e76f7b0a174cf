package estimands

import (
	"fmt"
	"strings"

	"leakscope/query/stats"
)

func init() {
	register(&Estimand{
		Name: "factor-swap",
		Doc: "swapping factor a against swapping factor b on the same cells, per group: every context of an a-swap (b and the held factors fixed) gives " +
			"the median over pairs of a values of |ΔV|, and likewise for b with a fixed; one row per swapped factor with the contexts counted and " +
			"the mean and median over contexts in pp (differences of fractions ×100); a note gives the ratio of the means, b/a",
		Source: "EXPERIMENT.md §6.8 generalised (issue 17 item 3); #81's symmetric-swap is a=noun, b=trait+level, by= (empty), holding=source, value=rate " +
			"(presets/i81/i81.json parameterisations), and reproduces its 4-source partial: means 3.585 / 2.638 pp, medians 2.25 / 1.75 pp",
		Params: []Param{{Name: "a", Default: "", Doc: "the first factor swapped; several joined with +"},
			{Name: "b", Default: "", Doc: "the second factor swapped; several joined with +"},
			pairByParam, pairHoldingParam,
			valueParam(ValueRate), detectorParam},
		run: onTidy(factorSwap),
	})
}

// factorSwap compares a-swaps with b-swaps on the cells that have both.
func factorSwap(cells []tidy, values map[string][]string, p Params) (*Result, error) {
	s, err := twoFactorSetup(cells, values, p)
	if err != nil {
		return nil, err
	}
	a, b, by, holding, val, tables := s.a, s.b, s.by, s.holding, s.val, s.tables
	an, bn := strings.Join(a, "+"), strings.Join(b, "+")
	if len(tables) == 0 {
		return nil, fmt.Errorf("%w: no cell has values of both %s and %s with %s in scope", ErrNoData, an, bn, orNoneList(append(append([]string{}, by...), holding...)))
	}
	aSwaps, bSwaps := map[string][]float64{}, map[string][]float64{}
	var groups []string
	for _, t := range tables {
		if !contains(groups, t.group) {
			groups = append(groups, t.group)
		}
		for _, bv := range t.bs {
			if d := pairDiffs(t.as, func(x string) (tidy, bool) { c, ok := t.at[bv][x]; return c, ok }, val); len(d) > 0 {
				aSwaps[t.group] = append(aSwaps[t.group], stats.Percentile(d, 50))
			}
		}
		for _, av := range t.as {
			if d := pairDiffs(t.bs, func(x string) (tidy, bool) { c, ok := t.at[x][av]; return c, ok }, val); len(d) > 0 {
				bSwaps[t.group] = append(bSwaps[t.group], stats.Percentile(d, 50))
			}
		}
	}
	res := &Result{Columns: []string{"group", "swap", "contexts", "mean_pp", "median_pp"}}
	row := func(g, name string, x []float64) []any {
		if len(x) == 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("group %s: no context holds two values of %s — its swap is undefined", g, name))
			return []any{g, name, 0, nil, nil}
		}
		return []any{g, name, len(x), pp(mean(x)), pp(stats.Percentile(x, 50))}
	}
	for _, g := range groups {
		res.Rows = append(res.Rows, row(g, an, aSwaps[g]), row(g, bn, bSwaps[g]))
		if ma, mb := mean(aSwaps[g]), mean(bSwaps[g]); len(aSwaps[g]) > 0 && len(bSwaps[g]) > 0 && ma > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("group %s: ratio %s-swap / %s-swap (means) = %.3f", g, bn, an, mb/ma))
		}
	}
	res.Notes = append(res.Notes,
		fmt.Sprintf("%s-swap: per context (a value of %s and of the held factors) the median over pairs of %s values of |ΔV|; %s-swap likewise with %s fixed; V = %s",
			an, bn, an, bn, an, p.Str("value")),
		fmt.Sprintf("groups by %s; held fixed: %s", groupsBy(by), orNoneList(holding)))
	return res, nil
}
