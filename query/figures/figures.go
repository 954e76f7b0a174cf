package figures

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Names lists every figure, in the order of EXPERIMENT.md §7.
var Names = []string{
	"heatmap_5x130_base_subtracted", "slice_noun_isolation", "slice_trait_gradation", "slice_interaction",
	"submatrix_5x5", "hero_noun_leakage_matrix", "h2_noun_vs_trait_effects", "source_variance",
	"trait_ranking_hero", "merged_per_axis_hero", "cosine_vs_leakage",
}

func (b *Builder) build(ctx context.Context, name string) (figure, error) {
	switch name {
	case "heatmap_5x130_base_subtracted":
		return b.Heatmap(ctx)
	case "slice_noun_isolation":
		return b.NounIsolation(ctx)
	case "slice_trait_gradation":
		return b.TraitGradation(ctx)
	case "slice_interaction":
		return b.Interaction(ctx)
	case "submatrix_5x5":
		return b.A2Matrix(ctx, false)
	case "hero_noun_leakage_matrix":
		return b.A2Matrix(ctx, true)
	case "h2_noun_vs_trait_effects":
		return b.H2Bars(ctx)
	case "source_variance":
		return b.SourceVariance(ctx)
	case "trait_ranking_hero":
		return b.TraitRankingHero(ctx)
	case "merged_per_axis_hero":
		return b.AxisHero(ctx)
	case "cosine_vs_leakage":
		return b.CosineScatter(ctx)
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
