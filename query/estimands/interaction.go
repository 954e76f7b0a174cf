package estimands

import (
	"context"
	"fmt"
	"math"
	"strings"

	"leakscope/presets/i81"
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
		Doc: "trait-variation ranking: Δleak = |r(A1(n,t,ℓ)) − r(A2(n))| averaged per (t,ℓ) over (source, noun) cells (global) or over nouns (per source), ranked from largest; Δcos beside it when persona cosines to the source exist. " +
			"It is factor-ranking with the #81 preset's parameters (presets/i81/i81.json parameterisations: a=trait+level, ref=absent, over=source,noun)",
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

// runTraitRanking is factor-ranking with the preset's parameters
// (a=trait+level, ref=absent, over=source,noun) on the grid in scope:
// per-source moves source from over to by, drop_diagonal drops the cells
// whose noun is the source. per-cell lists the cells instead.
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
	// Δcos where the lake has persona cosines to the source; the ranking
	// is by leakage alone otherwise.
	cos, _ := loadCosines(ctx, in)
	if scope == "per-cell" {
		cosOf := map[[2]string]float64{}
		for _, r := range cos {
			cosOf[[2]string{r.a, r.b}] = r.cos
		}
		return perCellRanking(g, srcs, drop, cosOf), nil
	}
	_, p, err := presetParams("trait-ranking", in.Params)
	if err != nil {
		return nil, err
	}
	if drop {
		p["drop_equal"] = "noun,source"
	}
	if scope == "per-source" {
		var over []string
		for _, f := range p.List("over") {
			if f != "source" {
				over = append(over, f)
			}
		}
		p["by"], p["over"] = "source", strings.Join(over, ",")
	}
	cells := gridTidy(g, srcs)
	res, err := factorRanking(cells, tidyValues(cells), p, cos)
	if err != nil {
		return nil, err
	}
	// The #81 column names: the group is the source ("all" pooled).
	for i, c := range res.Columns {
		res.Columns[i] = map[string]string{"group": "source", "mean_effect_pp": "mean_delta_leak_pp", "sd_effect_pp": "sd_delta_leak_pp"}[c]
		if res.Columns[i] == "" {
			res.Columns[i] = c
		}
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
