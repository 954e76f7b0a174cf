package figures

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// catalogue is every figure with its builder and what it needs of the
// design: first the generic figures (any experiment), then the #81
// preset's, in the order of EXPERIMENT.md §7, then the cosine scatter.
var catalogue = []struct {
	name  string
	build func(*Builder, context.Context) (figure, error)
	needs func(*Builder, context.Context) error // nil: the build itself says
	about string                                // one line for the figures index
}{
	{"heatmap", (*Builder).DesignHeatmap, nil, "Marker rate (fraction) over two axes of the design: runs × bystanders, or factor × factor."},
	{"slice", (*Builder).Slice, nil, "Marker rate (fraction) against one ordered factor, one line per run or factor value, with 95% Wilson intervals."},
	{"source_cell", (*Builder).SourceCell, nil, "Each run's marker rate (fraction) on its own source persona, with 95% Wilson intervals."},
	{"heatmap_5x130_base_subtracted", (*Builder).Heatmap, (*Builder).requireI81, "Δ rate vs the base model (pp) for every source × bystander, one panel per bystander noun."},
	{"slice_noun_isolation", (*Builder).NounIsolation, (*Builder).requireI81, "Δ rate (pp) per bystander noun, one panel per trait × level, with 95% Wilson intervals."},
	{"slice_trait_gradation", (*Builder).TraitGradation, (*Builder).requireI81, "Δ rate (pp) over trait levels, one panel per source × noun, with 95% Wilson intervals."},
	{"slice_interaction", (*Builder).Interaction, (*Builder).requireI81, "Noun range of Δ rate (pp) per trait × level, one panel per source."},
	{"submatrix_5x5", func(b *Builder, ctx context.Context) (figure, error) { return b.A2Matrix(ctx, false) }, (*Builder).requireI81, "Marker rate (fraction) of each pure-noun bystander under each trained source."},
	{"hero_noun_leakage_matrix", func(b *Builder, ctx context.Context) (figure, error) { return b.A2Matrix(ctx, true) }, (*Builder).requireI81, "The hero matrix: marker leakage (fraction) to the pure-noun personas."},
	{"h2_noun_vs_trait_effects", (*Builder).H2Bars, (*Builder).requireI81, "H2: noun-swap effect against trait effect per source (medians, pp)."},
	{"source_variance", (*Builder).SourceVariance, (*Builder).requireI81, "Self-implant rate and mean cross-noun leak per source (fraction)."},
	{"trait_ranking_hero", (*Builder).TraitRankingHero, (*Builder).requireI81, "Marker rate (fraction) by trait level, mean over source × noun, ±1 SE."},
	{"merged_per_axis_hero", (*Builder).AxisHero, (*Builder).requireI81, "Trait effect against noun-swap effect per Big-5 axis (pp), with their ratio."},
	{"cosine_vs_leakage", (*Builder).CosineScatter, (*Builder).requireCosines, "Cosine of each bystander to the source against its marker rate (fraction), with Spearman ρ."},
}

// About is the figure's one-line description ("" for an unknown name).
func About(name string) string {
	for _, c := range catalogue {
		if c.name == name {
			return c.about
		}
	}
	return ""
}

// Names lists every figure: the generic ones, then the #81 preset's (EXPERIMENT.md §7), then the cosine scatter.
var Names = func() []string {
	names := make([]string, len(catalogue))
	for i, c := range catalogue {
		names[i] = c.name
	}
	return names
}()

func (b *Builder) build(ctx context.Context, name string) (figure, error) {
	for _, c := range catalogue {
		if c.name == name {
			if c.needs != nil {
				if err := c.needs(b, ctx); err != nil {
					return figure{}, err
				}
			}
			return c.build(b, ctx)
		}
	}
	return figure{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownFigure, name, strings.Join(Names, ", "))
}

// Applicable reports, for every figure, whether it applies to the
// experiment in scope (Skipped empty) or why not. It draws nothing: the
// preset figures are judged by their design check, the generic ones by
// laying out their numbers.
func (b *Builder) Applicable(ctx context.Context) ([]Written, error) {
	var out []Written
	for _, c := range catalogue {
		var err error
		if c.needs != nil {
			err = c.needs(b, ctx)
		} else {
			_, err = c.build(b, ctx)
		}
		switch {
		case err == nil:
			out = append(out, Written{Name: c.name})
		case errors.Is(err, ErrNotApplicable):
			out = append(out, Written{Name: c.name, Skipped: err.Error()})
		default:
			return out, fmt.Errorf("figure %s: %w", c.name, err)
		}
	}
	return out, nil
}

// Written reports one figure's outcome.
type Written struct {
	Name    string
	Skipped string // why it was not drawn for this experiment
}

// Write draws the named figures (all when only is empty) of the experiment
// into dir in the formats. Figures the experiment has no data for are
// reported as skipped, not failed.
func Write(ctx context.Context, b *Builder, dir string, only []string, formats []string) ([]Written, error) {
	names := only
	if len(names) == 0 {
		names = Names
	}
	var out []Written
	for _, n := range names {
		f, err := b.build(ctx, n)
		if errors.Is(err, ErrNotApplicable) && len(only) == 0 {
			out = append(out, Written{Name: n, Skipped: err.Error()})
			continue
		}
		if err != nil {
			return out, fmt.Errorf("figure %s: %w", n, err)
		}
		if err := f.write(dir, formats); err != nil {
			return out, err
		}
		out = append(out, Written{Name: n})
	}
	return out, nil
}
