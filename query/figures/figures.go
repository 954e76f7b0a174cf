package figures

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// catalogue is every figure, in the order of EXPERIMENT.md §7, with its builder.
var catalogue = []struct {
	name  string
	build func(*Builder, context.Context) (figure, error)
}{
	{"heatmap_5x130_base_subtracted", (*Builder).Heatmap},
	{"slice_noun_isolation", (*Builder).NounIsolation},
	{"slice_trait_gradation", (*Builder).TraitGradation},
	{"slice_interaction", (*Builder).Interaction},
	{"submatrix_5x5", func(b *Builder, ctx context.Context) (figure, error) { return b.A2Matrix(ctx, false) }},
	{"hero_noun_leakage_matrix", func(b *Builder, ctx context.Context) (figure, error) { return b.A2Matrix(ctx, true) }},
	{"h2_noun_vs_trait_effects", (*Builder).H2Bars},
	{"source_variance", (*Builder).SourceVariance},
	{"trait_ranking_hero", (*Builder).TraitRankingHero},
	{"merged_per_axis_hero", (*Builder).AxisHero},
	{"cosine_vs_leakage", (*Builder).CosineScatter},
}

// Names lists every figure, in the order of EXPERIMENT.md §7.
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
			return c.build(b, ctx)
		}
	}
	return figure{}, fmt.Errorf("figures: unknown figure %q (known: %s)", name, strings.Join(Names, ", "))
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
