package estimands

import (
	"fmt"
	"strings"

	"leakscope/events"
	"leakscope/presets/i81"
)

// The #81 preset (presets/i81/i81.json; EXPERIMENT.md §3, §6): its
// bystander keys carry the persona factors kind, noun, trait, level, and it
// pins estimand parameters (the four full-grid sources of H2, H3 and the
// head-to-head family; H3's rule and seed). Generic code reads factors and
// parameters; this file applies the preset: factors for lakes whose cells
// do not declare them (sweeps written before plans carried them), pinned
// defaults at registration.

// presetFactors returns the factors the preset declares for a bystander
// key (a copy), or nil.
func presetFactors(persona string) events.Factors {
	b, ok := i81.Preset.Bystander(persona)
	if !ok || len(b.Factors) == 0 {
		return nil
	}
	f := make(events.Factors, len(b.Factors))
	for k, v := range b.Factors {
		f[k] = v
	}
	return f
}

// pin sets the parameter defaults the preset pins for the estimand.
func pin(e *Estimand) {
	for i, p := range e.Params {
		if v, ok := i81.Preset.Pinned(e.Name, p.Name); ok {
			e.Params[i].Default = v
		}
	}
}

// SourceCell is source s's own cell: the bystander that is the source
// persona — under the preset its own cell (A2(s): "You are a chef." is
// both), else a bystander keyed like the source ("src_villain" or "villain").
func (g *Grid) SourceCell(s string) (Cell, bool) {
	for _, b := range []string{i81.OwnCell(s), "src_" + s, s} {
		if c, ok := g.Get(s, b); b != "" && ok {
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
		"declare them at import (--design) or in the sweep's plan, or use the generic estimands (%s)",
		ErrNoData, in.name, strings.Join(in.needs, ", "), strings.Join(missing, ", "), g.Experiment,
		strings.Join(have, ", "), strings.Join(g.RunFactorNames(), ", "), strings.Join(genericEstimands, ", "))
}

// genericEstimands are named to a design the #81 estimands cannot read.
var genericEstimands = []string{"cell-rates", "factor-effect", "factor-slope", "factor-interaction", "factor-head-to-head", "near-twin-pairs", "replicates"}
