package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"leakscope/query"
	"leakscope/query/estimands"
)

func newAnalyzeCmd(g *globals) *cobra.Command {
	var experiment, format string
	var params []string
	var list bool
	var sf scopeFlags
	cmd := &cobra.Command{
		Use:   "analyze ESTIMAND --experiment E [--param k=v …]",
		Short: "Compute a named estimand of the leakage analysis (H1–H4, head-to-head, …) from the lake",
		Long: `analyze computes one named estimand (EXPERIMENT.md §4, §6) over an experiment in
the lake. Every estimand states its definition and source, takes parameters with
defaults, and returns its table with provenance: runs and cells used, parameters,
RNG seed, code version and a fingerprint of the lake files read.

Rates are fractions; columns ending in _pp are percentage points, _pct percent.

Examples:
  leakscope analyze --list
  leakscope analyze h2 --experiment leakage_i81
  leakscope analyze h2 --experiment leakage_i81 --param variant=own-noun
  leakscope analyze h3 --experiment leakage_i81 --param seed=7 --param rule=wald
  leakscope analyze head-to-head --experiment leakage_i81 --param by=axis --format csv
  leakscope analyze cosine-leakage --experiment single_token_100_persona --param layer=10
  leakscope analyze cell-rates --experiment sweep1 --seed 42 --where lr=1e-4
` + scopeHelp + `
The scope flags fill the estimand's scope parameters (runs, seeds, sweeps,
sources, where, include_retracted); --param sets them too.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if list {
				return cobra.NoArgs(cmd, args)
			}
			if len(args) != 1 {
				return fmt.Errorf("name one estimand (leakscope analyze --list shows them)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if list {
				return printEstimandList(out, format)
			}
			if experiment == "" {
				return fmt.Errorf("--experiment is required (leakscope runs lists them)")
			}
			kv := map[string]string{}
			for _, p := range params {
				k, v, ok := strings.Cut(p, "=")
				if !ok {
					return fmt.Errorf("--param %q: want key=value", p)
				}
				if old, dup := kv[k]; dup && old != v {
					return fmt.Errorf("--param %s is given twice (%q and %q): give one", k, old, v)
				}
				kv[k] = v
			}
			return withEngine(g, format, plainFormats, func(e *query.Engine) error {
				scope, err := sf.check(cmd.Context(), e, experiment)
				if err != nil {
					return err
				}
				for k, v := range scope.EstimandParams() {
					if old, ok := kv[k]; ok && old != v {
						return fmt.Errorf("--param %s=%s and the scope flags (%s=%s) disagree: give one", k, old, k, v)
					}
					kv[k] = v
				}
				res, err := estimands.Run(cmd.Context(), e, args[0], experiment, kv)
				if err != nil {
					return err
				}
				return printResult(out, format, res)
			})
		},
	}
	cmd.Flags().StringVar(&experiment, "experiment", "", "experiment name")
	cmd.Flags().StringArrayVar(&params, "param", nil, "estimand parameter key=value (repeatable)")
	cmd.Flags().BoolVar(&list, "list", false, "list every estimand with its parameters")
	cmd.Flags().StringVar(&format, "format", "table", formatHelp)
	sf.register(cmd)
	return cmd
}

func printEstimandList(w io.Writer, format string) error {
	list := estimands.List()
	if format == "json" {
		return writeJSON(w, list)
	}
	for _, e := range list {
		fmt.Fprintf(w, "%s\n  %s\n  source: %s\n", e.Name, e.Doc, e.Source)
		for _, p := range e.Params {
			fmt.Fprintf(w, "    %s=%s  %s\n", p.Name, p.Default, p.Doc)
		}
		fmt.Fprintln(w)
	}
	return nil
}

func printResult(w io.Writer, format string, res *estimands.Result) error {
	if format == "json" {
		return writeJSON(w, res)
	}
	rows := make([][]string, len(res.Rows))
	for i, r := range res.Rows {
		rows[i] = make([]string, len(r))
		for j, v := range r {
			rows[i][j] = resultText(v, format)
		}
	}
	if err := writeRows(w, format, res.Columns, rows); err != nil || format == "csv" {
		return err
	}
	pv := res.Provenance
	keys := make([]string, 0, len(pv.Params))
	for k := range pv.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ps []string
	for _, k := range keys {
		ps = append(ps, k+"="+pv.Params[k])
	}
	fmt.Fprintf(w, "\n%s · experiment %s", res.Estimand, pv.Experiment)
	if len(ps) > 0 {
		fmt.Fprintf(w, " · %s", strings.Join(ps, " "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "provenance: %d runs, %d cells in scope, lake %d files (fingerprint %.12s), code %s, %s\n",
		len(pv.Runs), pv.CellsUsed, pv.LakeFiles, pv.Fingerprint, pv.CodeVersion, pv.ComputedAt.Format("2006-01-02T15:04:05Z"))
	for _, n := range res.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	return nil
}

// resultText prints numbers compactly in tables and exactly in CSV.
func resultText(v any, format string) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		if format == "csv" {
			return fmt.Sprint(x)
		}
		return fmt.Sprintf("%.4g", x)
	}
	return fmt.Sprint(v)
}
