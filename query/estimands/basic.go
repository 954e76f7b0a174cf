package estimands

import (
	"context"
	"fmt"
	"math"
	"strings"

	"leakscope/presets/i81"
)

var sourcesParam = func(def string) Param {
	return Param{Name: "sources", Default: def, Doc: "comma-separated source nouns in scope (empty = every source in the lake)"}
}

// scopeSources resolves the sources parameter against the grid.
func scopeSources(g *Grid, p Params) ([]string, error) {
	want := p.List("sources")
	if len(want) == 0 {
		return g.Sources, nil
	}
	for _, s := range want {
		if !contains(g.Sources, s) {
			return nil, fmt.Errorf("%w sources: %q has no cells in %s (present: %v)", ErrBadParam, s, g.Experiment, g.Sources)
		}
	}
	return want, nil
}

func pp(x float64) float64 { return 100 * x }

// Bystander sets an analysis can be restricted to: every bystander, the
// pilot slice, or one value of the preset's kind factor (a1, a2: the
// bystander families of presets/i81/i81.json), matched without case.
const (
	BystandersAll   = "all"
	BystandersA1    = "a1"
	BystandersA2    = "a2"
	BystandersPilot = "pilot" // the 35-cell slice person was evaluated on (EXPERIMENT.md §2.5)
)

// kindFactor is the persona factor that names a bystander's family.
const kindFactor = "kind"

var bystandersParam = Param{Name: "bystanders", Default: BystandersAll,
	Doc: "all, pilot (the 35-cell person pilot slice: 5 A2 + sorted A1 keys [::4][:30]), or a value of the bystanders' kind factor: a1 (noun × trait × level), a2 (pure nouns)"}

// presetKinds are the values of the kind factor the preset's bystanders carry.
var presetKinds = func() []string {
	var out []string
	for _, b := range i81.Preset.Bystanders {
		if k, ok := b.Factors[kindFactor]; ok && !contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}()

// filterBystanders restricts the grid to a bystander set: cells whose kind
// factor is the set (without case), or the pilot slice. A set other than
// all on a grid whose cells carry no kind is refused, naming the factor.
func filterBystanders(g *Grid, set string) (*Grid, error) {
	var keep func(string, Cell) bool
	switch {
	case set == BystandersAll || set == "":
		return g, nil
	case set == BystandersPilot:
		keep = func(b string, _ Cell) bool { return i81.PilotSlice[b] }
	default:
		kind := ""
		for _, k := range presetKinds {
			if strings.EqualFold(k, set) {
				kind = k
			}
		}
		if kind == "" {
			return nil, fmt.Errorf("%w bystanders=%q: want all, pilot or a kind (%s)", ErrBadParam, set, strings.ToLower(strings.Join(presetKinds, ", ")))
		}
		hasKind := false
		for _, m := range g.cells {
			for _, c := range m {
				_, ok := c.Factors[kindFactor]
				hasKind = hasKind || ok
			}
		}
		if !hasKind {
			return nil, fmt.Errorf("%w: bystanders=%s needs the persona factor %q (missing); experiment %q has persona factors [%s]", ErrNoData, set, kindFactor, g.Experiment, strings.Join(g.PersonaFactors(), ", "))
		}
		keep = func(_ string, c Cell) bool { return c.Factors[kindFactor] == kind }
	}
	out := &Grid{Experiment: g.Experiment, Sources: g.Sources, Runs: g.Runs, Missing: g.Missing, RateOnly: g.RateOnly,
		factors: g.factors, runFactors: g.runFactors, cells: map[string]map[string]Cell{}}
	for s, m := range g.cells {
		out.cells[s] = map[string]Cell{}
		for b, c := range m {
			if keep(b, c) {
				out.cells[s][b] = c
			}
		}
	}
	return out, nil
}

func init() {
	register(&Estimand{
		Name:   "self-implant",
		Doc:    "H1 (self-implant): each source's rate on its own cell — the bystander that is the source persona (the #81 preset: A2(s)) — in %, and whether it exceeds the threshold",
		Source: "EXPERIMENT.md §6.2, §9 (published 93.0 / 92.5 / 86.0 / 98.5 / 95.0 %)",
		Params: []Param{sourcesParam(""), bystandersParam, {Name: "threshold", Default: "0.80", Doc: "H1 holds when the rate (fraction) exceeds this"}, detectorParam},
		run:    runSelfImplant,
	})
	register(&Estimand{
		Name:   "cross-noun",
		Needs:  []string{i81.FactorKind, i81.FactorNoun},
		Doc:    "mean cross-noun leak: plain mean of the 4 non-self A2 rates per source, in pp",
		Source: "EXPERIMENT.md §9 (published person 27.3 — a slip for 27.125 —, chef 37.5, pirate 0.4, child 24.5, robot 3.5)",
		Params: []Param{sourcesParam(""), bystandersParam, detectorParam},
		run:    runCrossNoun,
	})
	register(&Estimand{
		Name:   "a2-matrix",
		Needs:  []string{i81.FactorKind, i81.FactorNoun},
		Doc:    "the 5×5 pure-noun submatrix: rate (%) of every A2 bystander under every source",
		Source: "EXPERIMENT.md §7 figure 5, §9 (pilot person A2: robot 87.5, child 15.5, chef 5.5, pirate 0.0 %)",
		Params: []Param{sourcesParam(""), bystandersParam, detectorParam},
		run:    runA2Matrix,
	})
	register(&Estimand{
		Name:   "coherence",
		Doc:    "per source: cells with a judge score, mean of the per-cell judge means, and low-coherence cells (mean < threshold)",
		Source: "EXPERIMENT.md §4, §9 (chef 130 / 0.413 / 89 …); the judge scores how in-character a reply is",
		Params: []Param{sourcesParam(""), bystandersParam, {Name: "threshold", Default: "0.5", Doc: "a cell is low-coherence when its judge mean is below this"},
			{Name: "from", Default: "imported", Doc: "imported (the origin's judge means) or judge (scores from leakscope judge)"},
			{Name: "judge", Default: "", Doc: "with from=judge: NAME or NAME@VERSION (default: the experiment's only judge)"}, detectorParam},
		run: runCoherence,
	})
}

func runSelfImplant(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	thr, err := in.Params.Fraction("threshold")
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: []string{"source", "self_implant_pct", "found", "total", "h1_holds"}}
	all := true
	for _, s := range srcs {
		c, ok := g.SourceCell(s)
		if !ok {
			res.Notes = append(res.Notes, fmt.Sprintf("source %s: its own cell (the bystander that is the source persona) was not measured", s))
			all = false
			continue
		}
		holds := c.Rate > thr
		all = all && holds
		res.Rows = append(res.Rows, []any{s, pp(c.Rate), c.Found, c.Total, holds})
	}
	res.Notes = append(res.Notes, fmt.Sprintf("H1 (rate > %.2f for every source in scope): %v", thr, all))
	return res, nil
}

func runCrossNoun(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: []string{"source", "mean_cross_noun_pp", "n_cells"}}
	for _, s := range srcs {
		sum, n := 0.0, 0
		for _, b := range i81.Nouns {
			if c, ok := g.Get(s, i81.A2Key(b)); ok && b != s {
				sum += c.Rate
				n++
			}
		}
		if n == 0 {
			continue
		}
		res.Rows = append(res.Rows, []any{s, pp(sum / float64(n)), n})
		if s == "person" && math.Abs(pp(sum/float64(n))-27.125) < 1e-9 {
			res.Notes = append(res.Notes, "person: 27.125 pp; the authors' write-up printed 27.3, a slip the reviewer flagged (EXPERIMENT.md §10.12)")
		}
	}
	return res, nil
}

func runA2Matrix(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	cols := []string{"source"}
	for _, b := range i81.Nouns {
		cols = append(cols, i81.A2Key(b)+"_pct")
	}
	res := &Result{Columns: cols}
	for _, s := range srcs {
		row := []any{s}
		for _, b := range i81.Nouns {
			if c, ok := g.Get(s, i81.A2Key(b)); ok {
				row = append(row, pp(c.Rate))
			} else {
				row = append(row, nil)
			}
		}
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}

func runCoherence(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	thr, err := in.Params.Fraction("threshold")
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: []string{"source", "cells_scored", "mean_coherence", "low_coherence_cells"}}
	switch in.Params.Str("from") {
	case "imported":
	case "judge":
		j, err := pickJudge(ctx, in)
		if err != nil {
			return nil, err
		}
		means, err := judgeCellMeans(ctx, in, j)
		if err != nil {
			return nil, err
		}
		for _, s := range srcs {
			for b, c := range g.cells[s] {
				c.Coherence = nil
				if m, ok := means[[2]string{c.RunID, b}]; ok {
					c.Coherence = &m
				}
				g.cells[s][b] = c
			}
		}
		res.Notes = append(res.Notes, fmt.Sprintf("cell coherence from judge %s@%d: mean over questions of the per-question mean score", j.name, j.version))
	default:
		return nil, fmt.Errorf("%w from=%q: want imported or judge", ErrBadParam, in.Params.Str("from"))
	}
	for _, s := range srcs {
		n, low, sum := 0, 0, 0.0
		for _, c := range g.cells[s] {
			if c.Coherence == nil {
				continue
			}
			n++
			sum += *c.Coherence
			if *c.Coherence < thr {
				low++
			}
		}
		var mean any
		if n > 0 {
			mean = sum / float64(n)
		}
		res.Rows = append(res.Rows, []any{s, n, mean, low})
	}
	return res, nil
}
