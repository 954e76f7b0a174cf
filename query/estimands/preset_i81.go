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

// presetParams are the parameters of the generic estimand that the preset
// says the #81 estimand name is (presets/i81/i81.json parameterisations):
// the generic's defaults, then the preset's parameters, then those of the
// #81 estimand's own (own) that the generic also takes and the preset does
// not set (detector, layer, permutations, seed). It returns the generic
// estimand's name with them.
func presetParams(name string, own Params) (string, Params, error) {
	pz, ok := i81.Preset.Parameterisations[name]
	if !ok {
		return "", nil, fmt.Errorf("estimands: the preset %s has no parameterisation of %s", i81.Name, name)
	}
	gen, ok := registry[pz.Estimand]
	if !ok {
		return "", nil, fmt.Errorf("%w estimand %q in the preset's parameterisation of %s", ErrUnknown, pz.Estimand, name)
	}
	p := Params{}
	for _, d := range gen.Params {
		p[d.Name] = d.Default
	}
	for k, v := range pz.Params {
		if _, ok := p[k]; !ok {
			return "", nil, fmt.Errorf("%w parameter %q of %s in the preset's parameterisation of %s (it takes: %s)", ErrUnknown, k, pz.Estimand, name, paramNames(gen))
		}
		p[k] = v
	}
	for k, v := range own {
		if _, takes := p[k]; takes {
			if _, pinned := pz.Params[k]; !pinned {
				p[k] = v
			}
		}
	}
	return pz.Estimand, p, nil
}

// genericEstimands are named to a design the #81 estimands cannot read.
var genericEstimands = []string{"cell-rates", "factor-effect", "factor-slope", "factor-interaction", "factor-head-to-head", "factor-ranking", "factor-swap", "factor-permutation", "near-twin-pairs", "replicates"}
