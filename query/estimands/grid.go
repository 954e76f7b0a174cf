// Package estimands computes every number of the persona-marker leakage
// analysis (EXPERIMENT.md §4, §6) from the lake, each as a named,
// parameterised, documented estimand whose result carries its provenance.
// Rates are fractions in [0,1]; effects reported "in pp" are percentage
// points (100 × a difference of rates) and say so in their column names.
package estimands

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"leakscope/events"
	"leakscope/presets/i81"
	"leakscope/query"
)

// Cell is one measured (source, bystander) cell of the grid.
type Cell struct {
	Source    string // source noun ("chef"), from the run's source persona "src_chef"
	RunID     string
	Bystander string
	Found     int
	Total     int
	Rate      float64
	BaseRate  float64 // 0 when the run names no base run (HasBase false)
	HasBase   bool    // the run names a base run that measured this bystander
	Coherence *float64
	// Sequence is, for a cell of an adaptive run (issue 11), its
	// anytime-valid confidence sequence at its n; nil for fixed-n cells.
	Sequence *[2]float64
	// Factors are the bystander's design factors; Seed the run's.
	Factors events.Factors
	Seed    *int64
	// SourcePersona is the run's source persona key ("src_chef"; "" when
	// the origin names none), as the cosines table spells it.
	SourcePersona string
}

// Delta is the base-subtracted rate Δ = rate − base rate (EXPERIMENT.md §6.1;
// no clipping).
func (c Cell) Delta() float64 { return c.Rate - c.BaseRate }

// Grid holds the measured cells of one experiment's factorial, by source
// and bystander. Missing cells (never measured, e.g. person's zero-filled
// pilot rows) are absent, never zero.
type Grid struct {
	Experiment string
	Sources    []string // sources present (run source persona without "src_"), the preset's nouns first
	cells      map[string]map[string]Cell
	Runs       []string                   // runs the cells came from
	Missing    int                        // cells the origin lists as never measured
	RateOnly   int                        // cells in scope with a rate but no count (left out of the grid)
	factors    map[string]map[string]bool // bystander → its persona factor names
	runFactors map[string]bool
}

// Get returns the cell of source s and bystander b, if measured.
func (g *Grid) Get(s, b string) (Cell, bool) {
	c, ok := g.cells[s][b]
	return c, ok
}

// Count is the number of measured cells.
func (g *Grid) Count() int {
	n := 0
	for _, m := range g.cells {
		n += len(m)
	}
	return n
}

// LoadGrid reads the experiment's leakage matrix in scope
// (query.Engine.Leakage with the detector, or the origin's count for
// imported aggregates) and indexes its counted cells by source (the run's
// source persona without "src_") and bystander. Rate-only cells (no count)
// are kept apart in RateOnly. Two runs of one source in scope are an error
// that names what tells them apart (seed, a factor) and the flag to add.
func LoadGrid(ctx context.Context, e *query.Engine, experiment, detector string, scope query.Scope) (*Grid, error) {
	lk, err := e.Leakage(ctx, query.LeakageRequest{Experiment: experiment, Detector: detector, Scope: scope})
	if err != nil {
		return nil, err
	}
	g := &Grid{Experiment: experiment, cells: map[string]map[string]Cell{}, factors: map[string]map[string]bool{}, runFactors: map[string]bool{}}
	runs := map[string]bool{}
	runOf := map[string]query.Cell{} // a cell of each run, for its design
	present := map[string]bool{}
	for _, c := range lk.Cells {
		src := query.SourceName(c.SourcePersona)
		if src == "" {
			src = c.RunID // the origin names no source: the run stands for it
		}
		for k := range c.RunFactors {
			g.runFactors[k] = true
		}
		if c.Missing {
			g.Missing++
			continue
		}
		if c.RateOnly {
			g.RateOnly++
			continue
		}
		if c.Found == nil || c.Total == nil || *c.Total == 0 {
			continue
		}
		if g.cells[src] == nil {
			g.cells[src] = map[string]Cell{}
		}
		if prev, dup := g.cells[src][c.Persona]; dup {
			return nil, twoRunsError(src, c.Persona, runOf[prev.RunID], c)
		}
		if len(c.Factors) == 0 {
			c.Factors = presetFactors(c.Persona)
		}
		cell := Cell{Source: src, RunID: c.RunID, Bystander: c.Persona, Found: int(*c.Found), Total: int(*c.Total), Rate: *c.Rate,
			Coherence: c.CoherenceMean, Factors: c.Factors, Seed: c.Seed, SourcePersona: c.SourcePersona}
		if c.BaseRate != nil {
			cell.BaseRate, cell.HasBase = *c.BaseRate, true
		}
		if c.Interval == events.MethodBetaBinomial && c.CILow != nil && c.CIHigh != nil {
			cell.Sequence = &[2]float64{*c.CILow, *c.CIHigh}
		}
		g.cells[src][c.Persona] = cell
		if g.factors[c.Persona] == nil {
			g.factors[c.Persona] = map[string]bool{}
		}
		for k := range c.Factors {
			g.factors[c.Persona][k] = true
		}
		runs[c.RunID] = true
		runOf[c.RunID] = c
		present[src] = true
	}
	g.Sources = orderSources(present)
	for r := range runs {
		g.Runs = append(g.Runs, r)
	}
	sort.Strings(g.Runs)
	if len(g.Sources) == 0 {
		why := "no run in scope has a source persona and counted cells"
		switch {
		case g.RateOnly > 0:
			why = fmt.Sprintf("its %d cells in scope are rates without counts (rate only, n unknown): this estimand needs found/total", g.RateOnly)
		case len(lk.Notes) > 0 && len(lk.Cells) == 0:
			why = "no cell answers for detector " + detector + ": " + lk.Notes[0]
		case !scope.Empty():
			why = "no counted cell matches the scope " + scope.String()
		}
		return nil, fmt.Errorf("%w: experiment %q: %s", ErrNoData, experiment, why)
	}
	return g, nil
}

// twoRunsError explains two runs of one source in scope: what differs
// between them and how to pick one (or to see them as replicates).
func twoRunsError(src, bystander string, a, b query.Cell) error {
	var diff []string
	if seedStr(a.Seed) != seedStr(b.Seed) {
		diff = append(diff, fmt.Sprintf("seed %s vs %s (replicates: add --seed, or use the replicates estimand)", seedStr(a.Seed), seedStr(b.Seed)))
	}
	keys := map[string]bool{}
	for k := range a.RunFactors {
		keys[k] = true
	}
	for k := range b.RunFactors {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if a.RunFactors[k] != b.RunFactors[k] {
			diff = append(diff, fmt.Sprintf("%s=%s vs %s (add --where %s=%s)", k, orDash(a.RunFactors[k]), orDash(b.RunFactors[k]), k, orDash(a.RunFactors[k])))
		}
	}
	if a.Sweep != b.Sweep {
		diff = append(diff, fmt.Sprintf("sweep %s vs %s (add --sweep)", orDash(a.Sweep), orDash(b.Sweep)))
	}
	if len(diff) == 0 {
		diff = append(diff, fmt.Sprintf("nothing in their design (add --run %s, or retract one: leakscope runs retract)", a.RunID))
	}
	return fmt.Errorf("%w: source %s has bystander %s in two runs in scope (%s, %s); they differ in %s",
		ErrScope, src, bystander, a.RunID, b.RunID, strings.Join(diff, "; "))
}

func seedStr(p *int64) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

func orDash(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// orderSources lists the sources present: the preset's source order first,
// then the others sorted.
func orderSources(present map[string]bool) []string {
	var out []string
	order := i81.Preset.Order("source")
	for _, n := range order {
		if present[n] {
			out = append(out, n)
		}
	}
	var rest []string
	for s := range present {
		if !contains(order, s) {
			rest = append(rest, s)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// PersonaFactors lists the persona-level factors of the grid's cells, sorted.
func (g *Grid) PersonaFactors() []string {
	seen := map[string]bool{}
	for _, m := range g.factors {
		for k := range m {
			seen[k] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// RunFactorNames lists the run-level factors of the runs in scope, sorted.
func (g *Grid) RunFactorNames() []string {
	out := make([]string, 0, len(g.runFactors))
	for k := range g.runFactors {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// used lists the runs and counts the cells of the given sources (all when nil).
func (g *Grid) used(sources []string) ([]string, int) {
	if sources == nil {
		sources = g.Sources
	}
	runs := map[string]bool{}
	n := 0
	for _, s := range sources {
		for _, c := range g.cells[s] {
			runs[c.RunID] = true
			n++
		}
	}
	out := make([]string, 0, len(runs))
	for r := range runs {
		out = append(out, r)
	}
	sort.Strings(out)
	return out, n
}

// NewGrid builds a grid from cells (tests and callers with their own data).
func NewGrid(experiment string, cells []Cell) *Grid {
	g := &Grid{Experiment: experiment, cells: map[string]map[string]Cell{}}
	for _, c := range cells {
		if g.cells[c.Source] == nil {
			g.cells[c.Source] = map[string]Cell{}
		}
		if c.Total > 0 { // the rate is found/total, whatever the caller set
			c.Rate = float64(c.Found) / float64(c.Total)
		}
		if len(c.Factors) == 0 {
			c.Factors = presetFactors(c.Bystander)
		}
		g.cells[c.Source][c.Bystander] = c
	}
	present := map[string]bool{}
	for s, m := range g.cells {
		if len(m) > 0 {
			present[s] = true
		}
	}
	g.Sources = orderSources(present)
	return g
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
