package estimands

import (
	"context"
	"fmt"
	"math"

	"leakscope/presets/i81"
	"leakscope/query/stats"
)

// H2 variants (EXPERIMENT.md §6.3, §9).
const (
	H2Pinned   = "pinned"   // all cells, trait anchors = all 125 A1 cells of the source model
	H2OwnNoun  = "own-noun" // trait anchors restricted to the source's own noun (25)
	H2Coherent = "coherent" // low-coherence cells dropped everywhere
)

func init() {
	register(&Estimand{
		Name:  "h2",
		Needs: i81.Factors,
		Doc:   "H2 noun vs trait: NOUN_s (median over (t,ℓ) of the median noun-swap |ΔΔ|) against TRAIT_s (median over anchors of the median trait-swap |ΔΔ|), in pp",
		Source: "EXPERIMENT.md §6.3 (pinned: chef 6.25/2.00, pirate 84.25/0.00, child 66.50/4.25, robot 91.25/0.75); " +
			"variants own-noun and coherent as in §9",
		Params: []Param{sourcesParam(""), bystandersParam, {Name: "variant", Default: H2Pinned, Doc: "pinned, own-noun or coherent"},
			{Name: "threshold", Default: "0.5", Doc: "coherence threshold of the coherent variant"}, detectorParam},
		run: runH2,
	})
}

// H2Row is one source's H2 result; effects are fractions (×100 for pp).
type H2Row struct {
	Source                string
	Noun, Trait           float64 // NaN when undefined
	NounContexts, Anchors int
}

// Ratio is NOUN/TRAIT: +Inf when TRAIT is 0 and NOUN is not, NaN when undefined.
func (r H2Row) Ratio() float64 {
	switch {
	case math.IsNaN(r.Noun) || math.IsNaN(r.Trait):
		return math.NaN()
	case r.Trait == 0 && r.Noun == 0:
		return math.NaN()
	case r.Trait == 0:
		return math.Inf(1)
	}
	return r.Noun / r.Trait
}

// H2 computes, for source s:
//
//	noun_effect(t,ℓ)    = median_{n≠s} |Δ(A1(s,t,ℓ)) − Δ(A1(n,t,ℓ))|      (4 values; 25 contexts)
//	trait_effect(n,t,ℓ) = median_{(t',ℓ')≠(t,ℓ)} |Δ(A1(n,t,ℓ)) − Δ(A1(n,t',ℓ'))|   (24 values)
//	NOUN = median of noun_effect over (t,ℓ);  TRAIT = median of trait_effect over the anchors
//
// with anchors all 125 A1 cells (pinned), or the 25 of the source's own
// noun (own-noun). keep filters cells (the coherent variant drops
// low-coherence ones); comparisons with a dropped cell are skipped, and an
// effect with no comparison left is undefined (NaN).
func H2(g *Grid, s string, ownNounAnchors bool, keep func(Cell) bool) H2Row {
	var cells []tidy
	for _, c := range g.cells[s] {
		if keep(c) && c.Factors[i81.FactorKind] == i81.KindGrid {
			cells = append(cells, tidyOf(c))
		}
	}
	// The generic factor effect with the #81 preset's parameters: the noun
	// changed with trait × level held, referenced at the source's own noun;
	// trait × level changed with the noun held, every anchor (or the own noun's).
	nounEffects, err1 := factorEffects(cells, []string{i81.FactorNoun}, []string{i81.FactorTrait, i81.FactorLevel}, func(t tidy) bool { return t.F[i81.FactorNoun] == s })
	traitEffects, err2 := factorEffects(cells, []string{i81.FactorTrait, i81.FactorLevel}, []string{i81.FactorNoun}, func(t tidy) bool { return !ownNounAnchors || t.F[i81.FactorNoun] == s })
	row := H2Row{Source: s, Noun: math.NaN(), Trait: math.NaN()}
	if err1 != nil || err2 != nil { // a grid holds one cell per bystander: unreachable
		return row
	}
	row.NounContexts, row.Anchors = len(nounEffects), len(traitEffects)
	if len(nounEffects) > 0 {
		row.Noun = stats.Percentile(nounEffects, 50)
	}
	if len(traitEffects) > 0 {
		row.Trait = stats.Percentile(traitEffects, 50)
	}
	return row
}

// tidyOf is a grid cell as a tidy observation (V = the base-subtracted rate).
func tidyOf(c Cell) tidy {
	f := map[string]string{"source": c.Source}
	for k, v := range c.Factors {
		f[k] = v
	}
	return tidy{Persona: c.Bystander, F: f, V: c.Delta(), Rate: c.Rate, Found: c.Found, Total: c.Total}
}

func runH2(ctx context.Context, in *Input) (*Result, error) {
	g, srcs, err := in.LoadScoped(ctx)
	if err != nil {
		return nil, err
	}
	thr, err := in.Params.Fraction("threshold")
	if err != nil {
		return nil, err
	}
	variant := in.Params.Str("variant")
	keep := func(Cell) bool { return true }
	own := false
	switch variant {
	case H2Pinned:
	case H2OwnNoun:
		own = true
	case H2Coherent:
		keep = func(c Cell) bool { return c.Coherence == nil || *c.Coherence >= thr }
	default:
		return nil, fmt.Errorf("%w variant=%q: want pinned, own-noun or coherent", ErrBadParam, variant)
	}
	res := &Result{Columns: []string{"source", "noun_effect_pp", "trait_effect_pp", "ratio", "h2_holds", "noun_contexts", "trait_anchors"}}
	for _, s := range srcs {
		r := H2(g, s, own, keep)
		if math.IsNaN(r.Noun) || math.IsNaN(r.Trait) {
			res.Rows = append(res.Rows, []any{s, nanNil(pp(r.Noun)), nanNil(pp(r.Trait)), nil, nil, r.NounContexts, r.Anchors})
			res.Notes = append(res.Notes, fmt.Sprintf("source %s: undefined under the %s variant (%d noun contexts, %d trait anchors left)", s, variant, r.NounContexts, r.Anchors))
			continue
		}
		res.Rows = append(res.Rows, []any{s, pp(r.Noun), pp(r.Trait), infNil(r.Ratio()), r.Noun > r.Trait, r.NounContexts, r.Anchors})
	}
	if variant != H2Pinned {
		res.Notes = append(res.Notes, "this variant is a contrast: only the pinned variant reproduces the published H2 numbers (EXPERIMENT.md §6.3)")
	}
	res.Notes = append(res.Notes, "ratio = noun/trait, null when infinite (trait effect 0) or undefined")
	return res, nil
}

// nanNil and infNil keep JSON valid: NaN and ±Inf become null.
func nanNil(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

func infNil(x float64) any { return nanNil(x) }
