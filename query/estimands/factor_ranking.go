package estimands

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/gonum/stat"

	"leakscope/query/stats"
)

func init() {
	register(&Estimand{
		Name: "factor-ranking",
		Doc: "ranks the values of factor a by their mean effect, per group: a cell's effect is |V(cell) − V(reference)| (ref=absent: the cell without a's factors, " +
			"ref=VALUE: the cell with a at that value; matched on by and over), or V itself without ref; columns: the group, the rank (1 = largest), " +
			"a's value (one column per factor of a), the mean and SD (ddof 1) of the effects in pp, the cells averaged, and the mean Δcos = " +
			"|cos(source, cell) − cos(source, reference)| where the lake has persona cosines to the source (else empty)",
		Source: "EXPERIMENT.md §6.7 generalised (issue 17 item 3); #81's trait-ranking is a=trait+level, ref=absent, over=source,noun, by= (empty), value=rate " +
			"(presets/i81/i81.json parameterisations), and reproduces its 4-source partial: Agreeableness L1 first, 23.10 pp over 20 cells",
		Params: []Param{{Name: "a", Default: "", Doc: "the factor whose values are ranked; several joined with + (trait+level)"},
			{Name: "ref", Default: "", Doc: "the reference: absent (the cell without a's factors), a value of a (joined with / for several factors), or empty (no reference: rank by the mean value)"},
			{Name: "over", Default: ByDefault, Doc: "comma-separated factors the mean runs over, matched between a cell and its reference (auto: every other varying factor on which cells and references meet)"},
			{Name: "by", Default: ByDefault, Doc: "comma-separated factors ranked separately (auto: source when it is not in a or over; empty = one ranking)"},
			{Name: "drop_equal", Default: "", Doc: "two factors, comma-separated: cells where they are equal are left out (noun,source drops the source's own noun)"},
			{Name: "layer", Default: "20", Doc: "decoder layer of the cosines (when the lake has them)"},
			{Name: "centering", Default: "raw", Doc: "cosine centering"},
			valueParam(ValueRate), detectorParam},
		run: runFactorRanking,
	})
}

func runFactorRanking(ctx context.Context, in *Input) (*Result, error) {
	cells, values, err := loadTidy(ctx, in)
	if err != nil {
		return nil, err
	}
	cos, err := loadCosines(ctx, in)
	if errors.Is(err, ErrBadParam) {
		return nil, err
	}
	return factorRanking(cells, values, in.Params, cos)
}

// rankRow is one value of a in one group.
type rankRow struct {
	group, value  string
	parts         []string // the value of each factor of a
	effects, dcos []float64
}

// factorRanking ranks a's values by the mean effect per group, with the
// mean Δcos where cos has the cell's and its reference's cosines to the
// source (cos may be nil).
func factorRanking(cells []tidy, values map[string][]string, p Params, cos []cosRow) (*Result, error) {
	rp, err := parseRefParams(p, cells, values, "")
	if err != nil {
		return nil, err
	}
	cells, dropped := dropEqual(cells, rp.drop)
	effs, missing, err := referenceEffects(cells, rp)
	if err != nil {
		return nil, err
	}
	// Sum in the factors' order, so that equal data give equal means to
	// the last bit whatever order the lake returned the cells in.
	sortEffects(effs, append(append(append([]string{}, rp.by...), rp.over...), rp.a...))
	cosOf := map[[2]string]float64{}
	for _, r := range cos {
		cosOf[[2]string{r.a, r.b}] = r.cos
	}
	cosTo := func(c tidy) (float64, bool) {
		if c.SourcePersona == "" {
			return 0, false
		}
		v, ok := cosOf[[2]string{c.SourcePersona, c.Persona}]
		return v, ok
	}
	rows := map[[2]string]*rankRow{}
	var groups []string
	for _, e := range effs {
		g, _ := joinKey(e.cell.F, rp.by)
		if len(rp.by) == 0 {
			g = "all"
		}
		v, _ := joinKey(e.cell.F, rp.a)
		r := rows[[2]string{g, v}]
		if r == nil {
			r = &rankRow{group: g, value: v}
			for _, f := range rp.a {
				r.parts = append(r.parts, e.cell.F[f])
			}
			rows[[2]string{g, v}] = r
			if !contains(groups, g) {
				groups = append(groups, g)
			}
		}
		r.effects = append(r.effects, e.effect)
		if e.ref != nil {
			c1, ok1 := cosTo(e.cell)
			c2, ok2 := cosTo(*e.ref)
			if ok1 && ok2 {
				r.dcos = append(r.dcos, math.Abs(c1-c2))
			}
		}
	}
	cols := append([]string{"group", "rank"}, rp.a...)
	res := &Result{Columns: append(cols, "mean_effect_pp", "sd_effect_pp", "cells", "mean_delta_cos")}
	an := strings.Join(rp.a, "+")
	withCos := 0
	for _, g := range orderGroupKeys(groups, rp.by, nil) {
		var vals []string
		for k := range rows {
			if k[0] == g {
				vals = append(vals, k[1])
			}
		}
		vals = orderGroupKeys(vals, rp.a, nil) // ties keep a's order
		means := map[string]float64{}
		for _, v := range vals {
			means[v] = mean(rows[[2]string{g, v}].effects)
		}
		sort.SliceStable(vals, func(i, j int) bool { return means[vals[i]] > means[vals[j]] })
		var leak, dc []float64
		for i, v := range vals {
			r := rows[[2]string{g, v}]
			m := means[v]
			var sd, dcos any
			if len(r.effects) > 1 {
				sd = pp(stat.StdDev(r.effects, nil)) // ddof = 1, as pandas
			}
			if len(r.dcos) > 0 {
				dcos = mean(r.dcos)
				leak, dc = append(leak, m), append(dc, mean(r.dcos))
			}
			row := []any{g, i + 1}
			for _, part := range r.parts {
				row = append(row, part)
			}
			res.Rows = append(res.Rows, append(row, pp(m), sd, len(r.effects), dcos))
		}
		if len(dc) == 0 {
			continue
		}
		withCos++
		rho, pv, err := stats.Spearman(leak, dc)
		if err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: Spearman(mean effect, mean Δcos) undefined: %v", g, err))
			continue
		}
		res.Notes = append(res.Notes, fmt.Sprintf("%s: Spearman(mean effect, mean Δcos) ρ = %.3f, p = %.3g, N = %d", g, rho, pv, len(dc)))
	}
	res.Notes = append(res.Notes, fmt.Sprintf("effect = |V(cell) − V(reference)| with reference %s (same %s), V = %s; a fraction, shown ×100 in pp; ranked by %s within each group (by %s)",
		refWhat(rp), orNoneList(rp.match()), p.Str("value"), an, groupsBy(rp.by)))
	if rp.ref == "" {
		res.Notes[len(res.Notes)-1] = fmt.Sprintf("effect = V (no reference), V = %s, in pp; mean over %s; ranked by %s within each group (by %s)", p.Str("value"), orNoneList(rp.over), an, groupsBy(rp.by))
	}
	if dropped > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d cells with %s = %s left out (drop_equal)", dropped, rp.drop[0], rp.drop[1]))
	}
	if missing > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d cells have no reference in scope and are left out", missing))
	}
	if withCos == 0 && rp.ref != "" {
		res.Notes = append(res.Notes, "no persona cosines to the source for these cells: ranked by the effect alone, mean_delta_cos empty")
	}
	return res, nil
}
