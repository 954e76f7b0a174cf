package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"leakscope/query"
	"leakscope/query/figures"
)

func newFiguresCmd(g *globals) *cobra.Command {
	var experiment, out, only, formats string
	var params []string
	var sf scopeFlags
	cmd := &cobra.Command{
		Use:   "figures --experiment E --out DIR",
		Short: "Draw the analysis' figures from the lake, as PNG, SVG and PDF with their provenance",
		Long: `figures draws every figure that applies to the experiment's design. The generic
figures apply to any experiment with leakage cells, their axes picked from its design:
heatmap (runs × bystanders, or factor × factor when the runs vary in exactly two run
factors such as lr × epochs), slice (the rate against one ordered factor — log scale for
factors spanning decades such as lr — one line per value of another factor or per run)
and source_cell (each run's rate on its own source persona). The #81 preset's figures
(EXPERIMENT.md §7: the base-subtracted 5×130 heatmap, noun isolation, trait gradation,
interaction, the A2 submatrix, the hero matrix, H2 bars, source variance, the trait-ranking
hero, the per-axis hero) apply where the design has the factorial's persona factors
(noun, trait, level) and src_<noun> sources; the cosine scatter where the experiment has
cosines. Each figure is written as NAME.png/.svg/.pdf with NAME.meta.json (title, units,
parameters, runs, lake fingerprint, code version, notes such as "rate only, n unknown")
and NAME.data.json (the plotted numbers). A figure that does not apply is listed with the
reason; when none applies the command fails. Rates are drawn as fractions in [0, 1],
differences of rates in percentage points (pp); every figure is at most 7 in wide with
no text under 9 pt, for a two-column paper. The same figures are served interactively
by 'leakscope up' under /figures/ (parameters as ?rows=lr&cols=epochs), each with these
files to download (/figures/E/NAME.png, .svg or .pdf).

Parameters (--param, repeatable): rows, cols (run, persona, source, seed, sweep or a
factor); x, series (the slice's factor and its lines); persona (a bystander key, source
or mean: which cell run-level axes draw); source_persona (the source of runs that
declare none).

Examples:
  leakscope figures --experiment leakage_i81 --out figs
  leakscope figures --experiment single_token_100_persona --out figs --only heatmap,slice --format png
  leakscope figures --experiment sweep1 --out figs --param rows=lr --param cols=epochs --param persona=mean` + scopeHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var onlyList []string
			if only != "" {
				onlyList = strings.Split(only, ",")
			}
			fs := strings.Split(formats, ",")
			b := &figures.Builder{Experiment: experiment, Params: map[string]string{}}
			for _, p := range params {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k == "" || v == "" {
					return fmt.Errorf("--param %q: want name=value (names: %s)", p, strings.Join(figures.ParamNames, ", "))
				}
				if old, dup := b.Params[k]; dup && old != v {
					return fmt.Errorf("--param %s is given twice (%q and %q): give one", k, old, v)
				}
				b.Params[k] = v
			}
			e, err := query.Open(g.lake())
			if err != nil {
				return err
			}
			defer e.Close()
			if b.Scope, err = sf.check(cmd.Context(), e, experiment); err != nil {
				return err
			}
			b.Engine = e
			if out == "" { // beside the lake, as the demo writes them
				out = filepath.Join(g.data, "figures", experiment)
			}
			ws, err := figures.Write(cmd.Context(), b, out, onlyList, fs)
			drawn := 0
			for _, w := range ws {
				if w.Skipped != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "skip  %s: %s\n", w.Name, w.Skipped)
				} else {
					drawn++
					fmt.Fprintf(cmd.OutOrStdout(), "wrote %s/%s.{%s} + .meta.json + .data.json\n", out, w.Name, formats)
				}
			}
			if err != nil {
				if errors.Is(err, figures.ErrNotApplicable) {
					return fmt.Errorf("experiment %s: %w", experiment, err)
				}
				return err
			}
			if drawn == 0 {
				return fmt.Errorf("experiment %s: no figure applies to its design (reasons above); nothing was drawn", experiment)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&experiment, "experiment", "", "experiment")
	cmd.Flags().StringVar(&out, "out", "", "output folder (default DATA/figures/EXPERIMENT)")
	cmd.Flags().StringVar(&only, "only", "", "comma-separated figure names (default all that apply): "+strings.Join(figures.Names, ", "))
	cmd.Flags().StringVar(&formats, "format", "png,svg,pdf", "comma-separated formats: png, svg, pdf")
	cmd.Flags().StringArrayVar(&params, "param", nil, "figure parameter name=value (repeatable): "+strings.Join(figures.ParamNames, ", "))
	sf.register(cmd)
	_ = cmd.MarkFlagRequired("experiment")
	return cmd
}
