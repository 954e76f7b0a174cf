// Package estimands computes every number of the persona-marker leakage
// analysis (EXPERIMENT.md §4, §6) from the lake, each as a named,
// parameterised, documented estimand whose result carries its provenance.
// Rates are fractions in [0,1]; effects reported "in pp" are percentage
// points (100 × a difference of rates) and say so in their column names.
package estimands

import (
	"context"
	"fmt"
	"leakscope/events"
	"sort"
	"strings"

	"leakscope/query"
)

// The i81 factorial axes (EXPERIMENT.md §3), in the authors' order.
var (
	Nouns  = []string{"person", "chef", "pirate", "child", "robot"}
	Traits = []string{"Openness", "Conscientiousness", "Extraversion", "Agreeableness", "Neuroticism"}
	Levels = []string{"L1", "L2", "L3", "L4", "L5"}
)

// A1Key is the bystander key of noun × trait × level: "A1__chef__Openness__L1".
func A1Key(noun, trait, level string) string { return "A1__" + noun + "__" + trait + "__" + level }

// A2Key is the bystander key of the pure noun persona: "A2__chef".
func A2Key(noun string) string { return "A2__" + noun }

// Cell is one measured (source, bystander) cell of the grid.
type Cell struct {
	Source    string // source noun ("chef"), from the run's source persona "src_chef"
	RunID     string
	Bystander string
	Found     int
	Total     int
	Rate      float64
	BaseRate  float64 // 0 when the run names no base run
	Coherence *float64
	// Sequence is, for a cell of an adaptive run (issue 11), its
	// anytime-valid confidence sequence at its n; nil for fixed-n cells.
	Sequence *[2]float64
}

// Delta is the base-subtracted rate Δ = rate − base rate (EXPERIMENT.md §6.1;
// no clipping).
func (c Cell) Delta() float64 { return c.Rate - c.BaseRate }

// Grid holds the measured cells of one experiment's factorial, by source
// and bystander. Missing cells (never measured, e.g. person's zero-filled
// pilot rows) are absent, never zero.
type Grid struct {
	Experiment string
	Sources    []string // source nouns present, in Nouns order
	cells      map[string]map[string]Cell
	Runs       []string // runs the cells came from
	Missing    int      // cells the origin lists as never measured
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

// LoadGrid reads the experiment's leakage matrix (query.Engine.Leakage with
// the strict detector, or the origin's count for imported aggregates) and
// keeps the runs whose source persona is "src_<noun>" of the i81 nouns.
func LoadGrid(ctx context.Context, e *query.Engine, experiment, detector string, scope query.Scope) (*Grid, error) {
	lk, err := e.Leakage(ctx, query.LeakageRequest{Experiment: experiment, Detector: detector, Scope: scope})
	if err != nil {
		return nil, err
	}
	g := &Grid{Experiment: experiment, cells: map[string]map[string]Cell{}}
	runs := map[string]bool{}
	for _, c := range lk.Cells {
		src, ok := strings.CutPrefix(c.SourcePersona, "src_")
		if !ok || !contains(Nouns, src) {
			continue
		}
		if c.Missing {
			g.Missing++
			continue
		}
		if c.Found == nil || c.Total == nil || *c.Total == 0 {
			continue
		}
		if g.cells[src] == nil {
			g.cells[src] = map[string]Cell{}
		}
		if prev, dup := g.cells[src][c.Persona]; dup {
			return nil, fmt.Errorf("estimands: source %s has bystander %s in two runs (%s, %s): restrict the scope to one run", src, c.Persona, prev.RunID, c.RunID)
		}
		cell := Cell{Source: src, RunID: c.RunID, Bystander: c.Persona, Found: int(*c.Found), Total: int(*c.Total), Rate: *c.Rate, Coherence: c.CoherenceMean}
		if c.BaseRate != nil {
			cell.BaseRate = *c.BaseRate
		}
		if c.Interval == events.MethodBetaBinomial && c.CILow != nil && c.CIHigh != nil {
			cell.Sequence = &[2]float64{*c.CILow, *c.CIHigh}
		}
		g.cells[src][c.Persona] = cell
		runs[c.RunID] = true
	}
	for _, n := range Nouns {
		if len(g.cells[n]) > 0 {
			g.Sources = append(g.Sources, n)
		}
	}
	for r := range runs {
		g.Runs = append(g.Runs, r)
	}
	sort.Strings(g.Runs)
	if len(g.Sources) == 0 {
		why := "it has no runs with an i81 source persona (src_person, src_chef, …)"
		if len(lk.Notes) > 0 && len(lk.Cells) == 0 {
			why = "no cell answers for detector " + detector + ": " + lk.Notes[0]
		}
		return nil, fmt.Errorf("%w: experiment %q: %s", ErrNoData, experiment, why)
	}
	return g, nil
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
		g.cells[c.Source][c.Bystander] = c
	}
	for _, n := range Nouns {
		if len(g.cells[n]) > 0 {
			g.Sources = append(g.Sources, n)
		}
	}
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
