package estimands

import (
	"fmt"
	"strings"

	"leakscope/events"
	"leakscope/presets/i81"
)

// The #81 preset (EXPERIMENT.md §3, §6): the design data — its bystander
// keys carry the persona factors kind, noun, trait, level — and the pinned
// estimand parameters (sources chef, pirate, child, robot for H2/H3; seeds
// and thresholds in each estimand's defaults). Generic code reads factors;
// only this file knows how #81's keys spell them, for lakes whose cells do
// not declare their factors (sweeps written before plans carried them).

// i81Factors are the persona factors the #81 estimands read.
var i81Factors = []string{"kind", "noun", "trait", "level"}

// presetFactors returns the factors a #81 bystander key spells, or nil.
func presetFactors(persona string) events.Factors {
	b, ok := i81.ByKey[persona]
	if !ok {
		return nil
	}
	f := events.Factors{"kind": b.Kind, "noun": b.Noun}
	if b.Trait != "" {
		f["trait"], f["level"] = b.Trait, b.Level
	}
	return f
}

// SourceCell is source s's own cell: the bystander that is the source
// persona — under the #81 preset A2(s) ("You are a chef." is both), else a
// bystander keyed like the source ("src_villain" or "villain").
func (g *Grid) SourceCell(s string) (Cell, bool) {
	for _, b := range []string{A2Key(s), "src_" + s, s} {
		if c, ok := g.Get(s, b); ok {
			return c, true
		}
	}
	return Cell{}, false
}

// checkNeeds refuses a grid whose bystanders lack the persona factors the
// estimand reads, naming what is missing and what the experiment has.
func (in *Input) checkNeeds(g *Grid) error {
	if len(in.needs) == 0 {
		return nil
	}
	have := g.PersonaFactors()
	var missing []string
	for _, f := range in.needs {
		if !contains(have, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s needs persona factors %s (missing: %s); experiment %q has persona factors [%s] and run factors [%s] — "+
		"declare them at import (--design) or in the sweep's plan, or use the generic estimands (cell-rates, source-cell, factor-effect, factor-slope, replicates)",
		ErrNoData, in.name, strings.Join(in.needs, ", "), strings.Join(missing, ", "), g.Experiment,
		strings.Join(have, ", "), strings.Join(g.RunFactorNames(), ", "))
}
