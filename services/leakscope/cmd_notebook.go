package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"leakscope/query"
	"leakscope/query/notebook"
)

func newNotebookCmd(g *globals) *cobra.Command {
	nb := &cobra.Command{Use: "notebook", Short: "Run executable analysis documents (notebooks/*.md) against the lake"}
	var out string
	var sf scopeFlags
	run := &cobra.Command{
		Use:   "run FILE...",
		Short: "Run notebooks and write their reports (Markdown and HTML, figures inline)",
		Long: `run executes every cell of each notebook against the lake — SQL, estimand calls,
figure calls and assertions — and writes NAME.md and NAME.html into --out. A cell
error or a failed assertion makes the command fail (after writing the report).
The cell syntax is documented in notebooks/README.md.

The scope flags give the whole notebook a scope: every estimand, leakage and
figure cell reads only what it selects (an estimand cell that sets a scope
parameter itself keeps its own).

Examples:
  leakscope notebook run notebooks/i81_factorial.md --out reports
  leakscope notebook run notebooks/i81_factorial.md --out reports-s42 --seed 42
` + scopeHelp,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := query.Open(g.lake())
			if err != nil {
				return err
			}
			defer e.Close()
			scope, err := sf.scope()
			if err != nil {
				return err
			}
			var firstErr error
			for _, f := range args {
				if filepath.Base(f) == "README.md" {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: skipped (a README, not a notebook)\n", f)
					continue
				}
				rep, err := notebook.RunWith(cmd.Context(), e, f, out, notebook.Options{Scope: scope})
				if rep != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %d cells, %d assertions, %d failed → %s, %s\n", f, rep.Cells, rep.Asserts, len(rep.Failed), rep.Markdown, rep.HTML)
				}
				if err != nil && firstErr == nil {
					firstErr = err
				}
			}
			return firstErr
		},
	}
	run.Flags().StringVar(&out, "out", "reports", "folder for the reports")
	sf.register(run)
	nb.AddCommand(run)
	return nb
}
