package estimands

import (
	"context"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
)

func init() {
	register(&Estimand{
		Name:   "interaction",
		Doc:    "noun range per (source, trait, level): max − min over the five nouns of Δ(A1(n,t,ℓ)), in pp (a 5×5 grid per source)",
		Source: "EXPERIMENT.md §6.6 (figure 4)",
		Params: []Param{sourcesParam(fullSources), bystandersParam, detectorParam},
		run:    runInteraction,
	})
	register(&Estimand{
		Name: "trait-ranking",
		Doc:  "trait-variation ranking: Δleak = |r(A1(n,t,ℓ)) − r(A2(n))| averaged per (t,ℓ) over (source, noun) cells (global) or over nouns (per source), ranked from largest; Δcos beside it when persona cosines to the source exist",
		Source: "EXPERIMENT.md §6.7 (global needs person_full130 for the published values; 4-source partial: Agreeableness L1 first, 23.10 pp over 20 cells); " +
			"drop_diagonal removes the n = source cells before averaging",
		Params: []Param{sourcesParam(fullSources), bystandersParam, {Name: "scope", Default: "global", Doc: "global or per-source"},
			{Name: "drop_diagonal", Default: "false", Doc: "true drops cells whose noun is the source"}, detectorParam},
		run: runTraitRanking,
	})
}

func runInteraction(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.Scope(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: []string{"source", "trait", "level", "noun_range_pp", "nouns"}}
	for _, s := range srcs {
		for _, t := range Traits {
			for _, l := range Levels {
				lo, hi, n := math.Inf(1), math.Inf(-1), 0
				for _, noun := range Nouns {
					if c, ok := g.Get(s, A1Key(noun, t, l)); ok {
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
	g, srcs, err := in.Scope(ctx)
	if err != nil {
		return nil, err
	}
	drop := in.Params.Str("drop_diagonal") == "true"
	scope := in.Params.Str("scope")
	if scope != "global" && scope != "per-source" {
		return nil, fmt.Errorf("%w scope=%q: want global or per-source", ErrBadParam, scope)
	}
	type key struct{ source, trait, level string }
	groups := map[key][]float64{}
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
		}
	}
	type agg struct {
		k     key
		m, sd float64
		n     int
	}
	var rows []agg
	for k, v := range groups {
		sd := math.NaN()
		if len(v) > 1 {
			sd = stat.StdDev(v, nil) // ddof = 1, as pandas
		}
		rows = append(rows, agg{k, mean(v), sd, len(v)})
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
	res := &Result{Columns: []string{"source", "rank", "trait", "level", "mean_delta_leak_pp", "sd_delta_leak_pp", "cells"}}
	rank, prev := 0, ""
	for _, r := range rows {
		if r.k.source != prev {
			rank, prev = 0, r.k.source
		}
		rank++
		src := r.k.source
		if src == "" {
			src = "all"
		}
		res.Rows = append(res.Rows, []any{src, rank, r.k.trait, r.k.level, pp(r.m), nanNil(pp(r.sd)), r.n})
	}
	res.Notes = append(res.Notes, "Δcos columns need persona-centroid cosines to the source (EXPERIMENT.md §5); the i81 vectors were never published, so this ranking is by leakage only — the Δleak–Δcos Spearman is the cosine-leakage estimand where cosines exist")
	return res, nil
}
