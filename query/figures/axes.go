package figures

import (
	"fmt"
	"sort"
	"strings"

	"leakscope/query"
)

// Params are the generic figures' parameters (Builder.Params):
//
//	rows, cols  the heatmap's axes: run, persona, source, seed, sweep or a
//	            factor (lr, epochs, category, level, …)
//	x, series   the slice's ordered factor and the factor with one line per value
//	            (or run, source)
//	persona     which cell of each run a run-level axis draws: a bystander
//	            key, "source" (each run's own source persona) or "mean" (the
//	            mean over the bystanders)
//	source_persona  the source persona of runs whose events declare none
var ParamNames = []string{"rows", "cols", "x", "series", "persona", "source_persona"}

// checkParams refuses a parameter no figure takes.
func (b *Builder) checkParams() error {
	for k := range b.Params {
		if index(ParamNames, k) < 0 {
			return fmt.Errorf("%w: unknown parameter %q (known: %s)", ErrBadParam, k, strings.Join(ParamNames, ", "))
		}
	}
	return nil
}

// axis is one dimension a generic figure lays the cells out on.
type axis struct {
	name   string
	run    bool // a run-level axis (every cell of a run has the same value)
	order  order
	of     func(c query.Cell, r *runDesign) (string, bool)
	legend string // axis label
}

// axis resolves an axis name against the design.
func (d *design) axis(name string) (axis, error) {
	switch name {
	case "run":
		labels := make([]string, len(d.runs))
		for i, r := range d.runs {
			labels[i] = r.label
		}
		return axis{name: name, run: true, order: order{values: labels}, legend: "run (source, varying run factors, seed)",
			of: func(_ query.Cell, r *runDesign) (string, bool) { return r.label, true }}, nil
	case "persona":
		return axis{name: name, order: order{values: d.personas}, legend: "bystander persona",
			of: func(c query.Cell, _ *runDesign) (string, bool) { return c.Persona, true }}, nil
	case "source":
		return axis{name: name, run: true, order: ordered(d.sources()), legend: "source persona",
			of: func(_ query.Cell, r *runDesign) (string, bool) { return query.SourceName(r.source), r.source != "" }}, nil
	case "seed", "sweep":
		set := map[string]bool{}
		get := func(r *runDesign) (string, bool) {
			if name == "seed" {
				return seedString(r.seed), r.seed != nil
			}
			return r.sweep, r.sweep != ""
		}
		for _, r := range d.runs {
			if v, ok := get(r); ok {
				set[v] = true
			}
		}
		if len(set) == 0 {
			return axis{}, fmt.Errorf("%w: no run of %s has a %s", ErrNotApplicable, d.experiment, name)
		}
		return axis{name: name, run: true, order: ordered(sortedKeys(set)), legend: name,
			of: func(_ query.Cell, r *runDesign) (string, bool) { return get(r) }}, nil
	}
	if vals, ok := d.runVals[name]; ok {
		return axis{name: name, run: true, order: ordered(vals), legend: name + " (run factor)",
			of: func(_ query.Cell, r *runDesign) (string, bool) { v, ok := r.factors[name]; return v, ok }}, nil
	}
	if vals, ok := d.personaVal[name]; ok {
		return axis{name: name, order: ordered(vals), legend: name + " (persona factor)",
			of: func(c query.Cell, _ *runDesign) (string, bool) { v, ok := c.Factors[name]; return v, ok }}, nil
	}
	return axis{}, fmt.Errorf("%w: %s has no factor %q (%s; axes: run, persona, source, seed, sweep)", ErrNotApplicable, d.experiment, name, d.describe())
}

// defaultX is the factor a slice puts on x: a numeric run factor (one
// spanning decades first), then an ordered persona factor (L1..L5), then
// any other run or persona factor with two or more values; "" when none.
func (d *design) defaultX() string {
	type cand struct {
		name      string
		rank      int
		log       bool
		nvals     int
		personaLv bool
	}
	var cs []cand
	for k, v := range d.runVals {
		if len(v) > 1 {
			o := ordered(v)
			r := 2
			if o.numeric {
				r = 0
			}
			cs = append(cs, cand{k, r, o.log, len(v), false})
		}
	}
	for k, v := range d.personaVal {
		if _, clash := d.runVals[k]; clash || len(v) < 2 {
			continue
		}
		o := ordered(v)
		r := 3
		if o.ordinal() {
			r = 1
		}
		cs = append(cs, cand{k, r, o.log, len(v), true})
	}
	if len(cs) == 0 {
		return ""
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		switch {
		case a.rank != b.rank:
			return a.rank < b.rank
		case a.log != b.log:
			return a.log
		case a.nvals != b.nvals:
			return a.nvals > b.nvals
		}
		return a.name < b.name
	})
	return cs[0].name
}

// pick selects, for figures whose axes are all run-level, which cell of
// each run is drawn: persona = a bystander key, "source" (each run's own
// source persona; the default when every run has one) or "mean" (the
// bystanders, each run's own source cell left out). It returns the filter
// and words for the title.
func (d *design) pick(persona string) (func(c query.Cell, r *runDesign) bool, string, error) {
	withSource := d.withSourceCell()
	switch persona = d.personaChoice(persona); persona {
	case "source":
		if withSource == 0 {
			return nil, "", fmt.Errorf("%w: persona=source needs runs whose own source persona was measured as a cell; %s", ErrNotApplicable, d.sourceReasons())
		}
		return func(c query.Cell, r *runDesign) bool { return r.sourceCell != "" && c.Persona == r.sourceCell }, "each run's own source-persona cell", nil
	case "mean":
		words := "mean over the bystanders"
		if withSource > 0 {
			words += " (each run's own source cell left out)"
		}
		return func(c query.Cell, r *runDesign) bool { return c.Persona != r.sourceCell }, words, nil
	}
	if index(d.personas, persona) < 0 {
		return nil, "", fmt.Errorf("%w: %s has no bystander %q (persona=source, mean or one of %s)", ErrNotApplicable, d.experiment, persona, shortList(d.personas))
	}
	return func(c query.Cell, _ *runDesign) bool { return c.Persona == persona }, "bystander " + persona, nil
}

// sourceReasons says why runs have no source cell.
func (d *design) sourceReasons() string {
	var none, unmatched []string
	for _, r := range d.runs {
		switch {
		case r.sourceCell != "":
		case r.source == "" && r.prompt == "":
			none = append(none, r.id)
		default:
			unmatched = append(unmatched, fmt.Sprintf("%s (source %q)", r.id, r.source))
		}
	}
	var parts []string
	if len(none) > 0 {
		parts = append(parts, fmt.Sprintf("runs %s declare no source persona or prompt: pass source_persona=<one of %s>, or declare it at import (--design with {\"runs\": {\"<run>\": {\"source_persona\": \"…\"}}})",
			shortList(none), shortList(d.personas)))
	}
	if len(unmatched) > 0 {
		parts = append(parts, fmt.Sprintf("runs %s have no bystander cell with the source's key or prompt", shortList(unmatched)))
	}
	return strings.Join(parts, "; ")
}

func shortList(list []string) string {
	if len(list) > 8 {
		return strings.Join(list[:8], ", ") + fmt.Sprintf(", … (%d in all)", len(list))
	}
	return strings.Join(list, ", ")
}

func (d *design) withSourceCell() int {
	n := 0
	for _, r := range d.runs {
		if r.sourceCell != "" {
			n++
		}
	}
	return n
}

// personaChoice resolves the persona parameter: as given, else "source"
// when every run has its own source cell, else "mean".
func (d *design) personaChoice(persona string) string {
	if persona != "" {
		return persona
	}
	if n := d.withSourceCell(); n == len(d.runs) && n > 0 {
		return "source"
	}
	return "mean"
}
