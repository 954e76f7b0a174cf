package estimands

import (
	"context"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"

	"leakscope/presets/i81"
	"leakscope/query/stats"
)

func init() {
	register(&Estimand{
		Name:   "interaction",
		Needs:  i81.Factors,
		Doc:    "noun range per (source, trait, level): max − min over the five nouns of Δ(A1(n,t,ℓ)), in pp (a 5×5 grid per source)",
		Source: "EXPERIMENT.md §6.6 (figure 4)",
		Params: []Param{sourcesParam(""), bystandersParam, detectorParam},
		run:    runInteraction,
	})
	register(&Estimand{
		Name:  "trait-ranking",
		Needs: i81.Factors,
		Doc:   "trait-variation ranking: Δleak = |r(A1(n,t,ℓ)) − r(A2(n))| averaged per (t,ℓ) over (source, noun) cells (global) or over nouns (per source), ranked from largest; Δcos beside it when persona cosines to the source exist",
		Source: "EXPERIMENT.md §6.7 (global needs person_full130 for the published values; 4-source partial: Agreeableness L1 first, 23.10 pp over 20 cells); " +
			"drop_diagonal removes the n = source cells before averaging",
		Params: []Param{sourcesParam(""), bystandersParam, {Name: "scope", Default: "global", Doc: "global, per-source, or per-cell (one row per (source, noun, trait, level), as per_cell_ranking.csv)"},
			{Name: "drop_diagonal", Default: "false", Doc: "true drops cells whose noun is the source"},
			{Name: "layer", Default: "20", Doc: "decoder layer of the cosines (when the lake has them)"},
			{Name: "centering", Default: "raw", Doc: "cosine centering"}, detectorParam},
		run: runTraitRanking,
	})
}

func runInteraction(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: []string{"source", "trait", "level", "noun_range_pp", "nouns"}}
	for _, s := range srcs {
		for _, t := range i81.Traits {
			for _, l := range i81.Levels {
				lo, hi, n := math.Inf(1), math.Inf(-1), 0
				for _, noun := range i81.Nouns {
					if c, ok := g.Get(s, i81.A1Key(noun, t, l)); ok {
						lo, hi, n = math.Min(lo, c.Delta()), math.Max(hi, c.Delta()), n+1
					}
				}
				if n > 0 {
					res.Rows = append(res.Rows, []any{s, t, l, pp(hi - lo), n})
				}
			}
		}
	}
	return res, nil
}

func runTraitRanking(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	drop := in.Params.Str("drop_diagonal") == "true"
	scope := in.Params.Str("scope")
	if scope != "global" && scope != "per-source" && scope != "per-cell" {
		return nil, fmt.Errorf("%w scope=%q: want global, per-source or per-cell", ErrBadParam, scope)
	}
	// Δcos = |cos(src_s, A1(n,t,ℓ)) − cos(src_s, A2(n))| where the lake has
	// persona cosines to the source; the ranking is by leakage alone otherwise.
	cosOf := map[[2]string]float64{}
	if rows, err := loadCosines(ctx, in); err == nil {
		for _, r := range rows {
			cosOf[[2]string{r.a, r.b}] = r.cos
		}
	}
	if scope == "per-cell" {
		return perCellRanking(g, srcs, drop, cosOf), nil
	}
	type key struct{ source, trait, level string }
	groups := map[key][]float64{}
	cosGroups := map[key][]float64{}
	for _, s := range srcs {
		cells, _ := effects(g, s)
		for _, c := range cells {
			if drop && c.noun == s {
				continue
			}
			k := key{trait: c.trait, level: c.level}
			if scope == "per-source" {
				k.source = s
			}
			groups[k] = append(groups[k], c.te)
			a1, ok1 := cosOf[[2]string{"src_" + s, i81.A1Key(c.noun, c.trait, c.level)}]
			a2, ok2 := cosOf[[2]string{"src_" + s, i81.A2Key(c.noun)}]
			if ok1 && ok2 {
				cosGroups[k] = append(cosGroups[k], math.Abs(a1-a2))
			}
		}
	}
	type agg struct {
		k         key
		m, sd, dc float64
		n         int
	}
	var rows []agg
	for k, v := range groups {
		sd := math.NaN()
		if len(v) > 1 {
			sd = stat.StdDev(v, nil) // ddof = 1, as pandas
		}
		rows = append(rows, agg{k, mean(v), sd, mean(cosGroups[k]), len(v)})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].k.source != rows[j].k.source {
			return rows[i].k.source < rows[j].k.source
		}
		if rows[i].m != rows[j].m {
			return rows[i].m > rows[j].m
		}
		return rows[i].k.trait+rows[i].k.level < rows[j].k.trait+rows[j].k.level
	})
	res := &Result{Columns: []string{"source", "rank", "trait", "level", "mean_delta_leak_pp", "sd_delta_leak_pp", "cells", "mean_delta_cos"}}
	rank, prev := 0, ""
	leakBy, cosBy := map[string][]float64{}, map[string][]float64{}
	for _, r := range rows {
		if r.k.source != prev {
			rank, prev = 0, r.k.source
		}
		rank++
		src := r.k.source
		if src == "" {
			src = "all"
		}
		res.Rows = append(res.Rows, []any{src, rank, r.k.trait, r.k.level, pp(r.m), nanNil(pp(r.sd)), r.n, nanNil(r.dc)})
		if !math.IsNaN(r.dc) {
			leakBy[src], cosBy[src] = append(leakBy[src], r.m), append(cosBy[src], r.dc)
		}
	}
	if len(cosOf) == 0 || len(cosBy) == 0 {
		res.Notes = append(res.Notes, "no persona cosines to the source in this experiment (EXPERIMENT.md §5: the i81 vectors were never published): ranked by leakage only")
		return res, nil
	}
	names := make([]string, 0, len(leakBy))
	for n := range leakBy {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rho, p, err := stats.Spearman(leakBy[n], cosBy[n])
		if err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: Spearman(mean Δleak, mean Δcos) undefined: %v", n, err))
			continue
		}
		res.Notes = append(res.Notes, fmt.Sprintf("%s: Spearman(mean Δleak, mean Δcos) ρ = %.3f, p = %.3g, N = %d (drop_diagonal=%v)", n, rho, p, len(leakBy[n]), drop))
	}
	return res, nil
}

// perCellRanking lists every A1 cell with its rates and, where cosines
// exist, its cosines (the columns of the authors' per_cell_ranking.csv).
func perCellRanking(g *Grid, srcs []string, drop bool, cosOf map[[2]string]float64) *Result {
	res := &Result{Columns: []string{"source", "noun", "trait", "level", "rate_a1", "rate_a2", "delta_leak", "cos_a1", "cos_a2", "delta_cos"}}
	for _, s := range srcs {
		for _, n := range i81.Nouns {
			if drop && n == s {
				continue
			}
			a2, ok := g.Get(s, i81.A2Key(n))
			if !ok {
				continue
			}
			for _, t := range i81.Traits {
				for _, l := range i81.Levels {
					a1, ok := g.Get(s, i81.A1Key(n, t, l))
					if !ok {
						continue
					}
					row := []any{s, n, t, l, a1.Rate, a2.Rate, math.Abs(a1.Rate - a2.Rate), nil, nil, nil}
					c1, ok1 := cosOf[[2]string{"src_" + s, i81.A1Key(n, t, l)}]
					c2, ok2 := cosOf[[2]string{"src_" + s, i81.A2Key(n)}]
					if ok1 && ok2 {
						row[7], row[8], row[9] = c1, c2, math.Abs(c1-c2)
					}
					res.Rows = append(res.Rows, row)
				}
			}
		}
	}
	res.Notes = append(res.Notes, "rates and cosines as fractions; delta_leak = |rate_a1 − rate_a2| (TE)")
	return res
}
