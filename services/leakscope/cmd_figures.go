package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"leakscope/query"
	"leakscope/query/figures"
)

func newFiguresCmd(g *globals) *cobra.Command {
	var experiment, out, only, formats string
	cmd := &cobra.Command{
		Use:   "figures --experiment E --out DIR",
		Short: "Draw the analysis' figures from the lake, as PNG, SVG and PDF with their provenance",
		Long: `figures draws the figure set of EXPERIMENT.md §7 from the lake — the base-subtracted
heatmap, noun isolation, trait gradation, interaction, the A2 submatrix, the hero
matrix, H2 bars, source variance, the trait-ranking hero, the per-axis hero — and
the cosine-vs-leakage scatter where the experiment has cosines. Each figure is
written as NAME.png/.svg/.pdf with NAME.meta.json (estimand, parameters, runs, lake
fingerprint, code version, time) and NAME.data.json (the plotted numbers).
Figures the experiment has no data for are listed as skipped. The same figures are
served interactively by 'leakscope up' under /figures/.

Examples:
  leakscope figures --experiment leakage_i81 --out figs
  leakscope figures --experiment single_token_100_persona --out figs --only cosine_vs_leakage --format png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var onlyList []string
			if only != "" {
				onlyList = strings.Split(only, ",")
			}
			fs := strings.Split(formats, ",")
			e, err := query.Open(g.lake())
			if err != nil {
				return err
			}
			defer e.Close()
			ws, err := figures.Write(cmd.Context(), &figures.Builder{Engine: e, Experiment: experiment}, out, onlyList, fs)
			for _, w := range ws {
				if w.Skipped != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "skip  %s: %s\n", w.Name, w.Skipped)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "wrote %s/%s.{%s} + .meta.json + .data.json\n", out, w.Name, formats)
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&experiment, "experiment", "", "experiment")
	cmd.Flags().StringVar(&out, "out", "figures", "output folder")
	cmd.Flags().StringVar(&only, "only", "", "comma-separated figure names (default all): "+strings.Join(figures.Names, ", "))
	cmd.Flags().StringVar(&formats, "format", "png,svg,pdf", "comma-separated formats: png, svg, pdf")
	_ = cmd.MarkFlagRequired("experiment")
	return cmd
}
