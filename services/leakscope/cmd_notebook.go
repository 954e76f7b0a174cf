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
	run := &cobra.Command{
		Use:   "run FILE...",
		Short: "Run notebooks and write their reports (Markdown and HTML, figures inline)",
		Long: `run executes every cell of each notebook against the lake — SQL, estimand calls,
figure calls and assertions — and writes NAME.md and NAME.html into --out. A cell
error or a failed assertion makes the command fail (after writing the report).
The cell syntax is documented in notebooks/README.md.

Example:
  leakscope notebook run notebooks/i81_factorial.md --out reports`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := query.Open(g.lake())
			if err != nil {
				return err
			}
			defer e.Close()
			var firstErr error
			for _, f := range args {
				if filepath.Base(f) == "README.md" {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: skipped (a README, not a notebook)\n", f)
					continue
				}
				rep, err := notebook.Run(cmd.Context(), e, f, out)
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
	nb.AddCommand(run)
	return nb
}
