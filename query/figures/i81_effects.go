package figures

import (
	"context"
	"fmt"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The #81 preset's effect figures: bar charts of its pinned estimands
// (H2, self-implant vs cross-noun, head-to-head per axis).

// H2Bars is figure 7: NOUN vs TRAIT effect per source (H2 as pinned).
func (b *Builder) H2Bars(ctx context.Context) (figure, error) {
	res, err := b.estimand(ctx, "h2", nil)
	if err != nil {
		return figure{}, err
	}
	var groups []string
	vals := map[[2]int]float64{}
	for gi, r := range res.Rows {
		groups = append(groups, r[0].(string))
		for si, col := range []int{1, 2} {
			if v, ok := r[col].(float64); ok {
				vals[[2]int{gi, si}] = v
			}
		}
	}
	p := bars("H2: noun-swap effect vs trait effect per source (medians)", "trained source", "effect (percentage points)", groups, h2Series,
		func(g, s int) float64 { return vals[[2]int{g, s}] }, nil)
	meta := b.meta("h2_noun_vs_trait_effects", "H2: noun-swap vs trait effect per source", "estimand h2 (variant pinned)", "percentage points",
		res.Provenance.Params, res.Provenance.Runs)
	return figure{meta: meta, w: 6 * vg.Inch, h: 3.8 * vg.Inch, data: res.Rows, draw: func(dc draw.Canvas) { p.Draw(dc) }, axes: barAxes(p)}, nil
}

// h2Series name the H2 statistics as a reader says them (EXPERIMENT.md's
// NOUN_s and TRAIT_s).
var h2Series = []string{"noun-swap effect (median over trait × level)", "trait effect (median over anchors)"}

// SourceVariance is figure 8: per source, the self-implant rate and the
// mean cross-noun leak (the assistant QC bar needs data never published).
func (b *Builder) SourceVariance(ctx context.Context) (figure, error) {
	self, err := b.estimand(ctx, "self-implant", nil)
	if err != nil {
		return figure{}, err
	}
	cross, err := b.estimand(ctx, "cross-noun", nil)
	if err != nil {
		return figure{}, err
	}
	crossBy := map[string]float64{}
	for _, r := range cross.Rows {
		crossBy[r[0].(string)] = r[1].(float64)
	}
	var groups []string
	vals := map[[2]int]float64{}
	for gi, r := range self.Rows { // the estimands give percent: a rate is drawn as a fraction
		s := r[0].(string)
		groups = append(groups, s)
		vals[[2]int{gi, 0}], vals[[2]int{gi, 1}] = r[1].(float64)/100, crossBy[s]/100
	}
	p := bars("Self-implant vs mean cross-noun leak per source", "trained source", "marker rate (fraction)", groups, sourceVarianceSeries,
		func(g, s int) float64 { return vals[[2]int{g, s}] }, nil)
	meta := b.meta("source_variance", "Self-implant and cross-noun leak per source", "estimands self-implant and cross-noun", "fraction in [0, 1] (the estimands' percent ÷ 100)",
		nil, self.Provenance.Runs)
	meta.Notes = []string{"no assistant-QC bar: the i81 assistant cells were never published (EXPERIMENT.md §9)"}
	return figure{meta: meta, w: 6 * vg.Inch, h: 3.8 * vg.Inch, data: map[string]any{"self_implant": self.Rows, "cross_noun": cross.Rows},
		draw: func(dc draw.Canvas) { p.Draw(dc) }, axes: barAxes(p)}, nil
}

// sourceVarianceSeries name source_variance's bars.
var sourceVarianceSeries = []string{"own pure-noun cell (self-implant)", "mean of the other pure-noun cells"}

// AxisHero is figure 10: per axis, mean trait (adjective) effect vs mean
// noun-swap effect, with the trait/noun ratio above each pair.
func (b *Builder) AxisHero(ctx context.Context) (figure, error) {
	res, err := b.estimand(ctx, "head-to-head", map[string]string{"by": "axis"})
	if err != nil {
		return figure{}, err
	}
	var groups []string
	vals := map[[2]int]float64{}
	ratio := map[int]float64{}
	for gi, r := range res.Rows {
		groups = append(groups, r[0].(string))
		vals[[2]int{gi, 0}], vals[[2]int{gi, 1}] = r[1].(float64), r[2].(float64)
		if v, ok := r[4].(float64); ok {
			ratio[gi] = v
		}
	}
	p := bars("Trait (adjective) effect vs noun-swap effect per Big-5 axis", "Big-5 axis (label: ratio TE/NE)", "mean |Δ rate| (percentage points)", groups,
		[]string{"trait effect (TE)", "noun-swap effect (NE)"}, func(g, s int) float64 { return vals[[2]int{g, s}] },
		func(g int) string { return fmt.Sprintf("%.1f×", ratio[g]) })
	meta := b.meta("merged_per_axis_hero", "Trait vs noun-swap effect per axis", "estimand head-to-head (by axis)", "percentage points; ratio = TE/NE",
		res.Provenance.Params, res.Provenance.Runs)
	meta.Notes = res.Notes
	return figure{meta: meta, w: 7 * vg.Inch, h: 4 * vg.Inch, data: res.Rows, draw: func(dc draw.Canvas) { p.Draw(dc) }, axes: barAxes(p)}, nil
}
