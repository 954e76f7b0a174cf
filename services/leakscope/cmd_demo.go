package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"leakscope/query"
)

// defaultFixtures is where the team's shared copy of the authors' published
// results lives, relative to a checkout.
const defaultFixtures = "../shared/fixtures"

func newDemoCmd(g *globals) *cobra.Command {
	var fixtures, httpAddr string
	var synthetic bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The main job on its defaults: import the published results (or run a synthetic sweep) and print the leakage matrix",
		Long: `demo starts the embedded stack (NATS JetStream + ingest) and fills the lake, then
prints a leakage matrix recomputed by DuckDB from the lake. Running it again
changes nothing.

With the team's ../shared/fixtures beside the checkout (or --fixtures DIR), it
imports the authors' published results through the bus into the lake (files of
no known shape are listed as skipped, as import --skip-unknown), lists the runs
and prints the matrix of the i81 factorial (5 sources × 130 bystanders).
--fixtures is relative to the current directory; e.g. the eval_results/ of a
clone of the authors' public repository (superkaiba/explore-persona-space).

Without it (or with --synthetic), it runs a built-in, SYNTHETIC sweep of the
#81 design with small n (experiment demo_synthetic) through the real worker
path: the sweep's jobs go on the job queue, an in-process replay worker (no
model, no GPU; marker rates from the replay engine's synthetic leakage model)
takes them and publishes to the bus, ingest writes the lake. While it runs,
the query HTTP server serves its live view (--http; a free port when the
default is taken). Then it prints the matrix, the H2 estimand and where the
figures are. It refuses an experiment that holds imported runs.

Examples:
  leakscope demo
  leakscope --data /tmp/ls demo --synthetic --http 127.0.0.1:9090
  leakscope --data /tmp/ls demo --fixtures ~/explore-persona-space/eval_results`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			given := cmd.Flag("fixtures").Changed
			if synthetic && given {
				return fmt.Errorf("--synthetic and --fixtures: choose one")
			}
			st, statErr := os.Stat(fixtures)
			haveFixtures := statErr == nil && st.IsDir()
			if synthetic || (!given && !haveFixtures) {
				if !synthetic {
					fmt.Fprintf(out, "no results folder at %s (the team's shared fixtures): running the built-in synthetic sweep instead\n", fixtures)
				}
				return runSyntheticDemo(cmd.Context(), g, httpAddr, cmd.Flag("http").Changed, out, cmd.ErrOrStderr())
			}
			if !haveFixtures {
				return fmt.Errorf("no results folder at %s: pass --fixtures DIR (e.g. the eval_results/ folder of a clone of the authors' repository superkaiba/explore-persona-space), or run the synthetic demo (--synthetic)", fixtures)
			}
			fmt.Fprintf(out, "== importing %s\n", fixtures)
			if err := runImport(cmd.Context(), g, &importFlags{skipUnknown: true}, []string{fixtures}, out, cmd.ErrOrStderr()); err != nil {
				return err
			}
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			defer e.Close()
			runs, err := e.Runs(cmd.Context(), "")
			if err != nil {
				return err
			}
			exps := map[string]int{}
			for _, r := range runs {
				exps[r.Experiment]++
			}
			fmt.Fprintf(out, "\n== the lake now holds %d runs in %d experiments (leakscope runs)\n", len(runs), len(exps))
			if _, ok := exps["leakage_i81"]; !ok {
				fmt.Fprintln(out, "no leakage_i81 experiment among them; try: leakscope leakage --experiment", firstKey(exps))
				return nil
			}
			res, err := e.Leakage(cmd.Context(), query.LeakageRequest{Experiment: "leakage_i81"})
			if err != nil {
				return err
			}
			fmt.Fprintln(out, "\n== i81 self cells A2__<source> under their own source (published, EXPERIMENT.md §9: chef 0.925, child 0.985, person 0.930, pirate 0.860, robot 0.950)")
			self := &query.Leakage{Request: res.Request, DetectorRule: res.DetectorRule}
			for _, c := range res.Cells {
				if c.Persona == "A2__"+trimSrc(c.SourcePersona) {
					self.Cells = append(self.Cells, c)
				}
			}
			if err := printLeakage(out, "table", self); err != nil {
				return err
			}
			printA2Grid(out, res)
			fmt.Fprintf(out, "\n== full matrix: %d cells (5 sources × 130 bystanders). Next:\n", len(res.Cells))
			data := filepath.Clean(g.data)
			fmt.Fprintf(out, "  bin/leakscope --data %s leakage --experiment leakage_i81 | less\n", data)
			fmt.Fprintf(out, "  bin/leakscope --data %s sql \"SELECT experiment, count(*) FROM completions GROUP BY ALL\"\n", data)
			fmt.Fprintf(out, "  bin/leakscope --data %s up     # then http://127.0.0.1:8080/ (experiments, cells → completions, figures, SQL)\n", data)
			return nil
		},
	}
	cmd.Flags().StringVar(&fixtures, "fixtures", defaultFixtures, "results folder to import (files of no known shape are listed as skipped)")
	cmd.Flags().BoolVar(&synthetic, "synthetic", false, "run the built-in SYNTHETIC sweep even where fixtures exist")
	cmd.Flags().StringVar(&httpAddr, "http", defaultHTTP, "address of the query HTTP server (live view) during the synthetic sweep")
	return cmd
}

// printA2Grid prints the 5×5 pure-noun submatrix: rows are trained
// sources, columns the A2 bystanders, entries rates (fractions).
func printA2Grid(out io.Writer, res *query.Leakage) {
	nouns := []string{"person", "chef", "pirate", "child", "robot"}
	rate := map[[2]string]string{}
	for _, c := range res.Cells {
		if c.Rate != nil {
			rate[[2]string{trimSrc(c.SourcePersona), c.Persona}] = fmt.Sprintf("%.3f", *c.Rate)
		}
	}
	fmt.Fprintln(out, "\n== A2 submatrix: marker rate (fraction) of bystander \"You are a <noun>.\" under each trained source")
	rows := make([][]string, 0, len(nouns))
	for _, s := range nouns {
		row := []string{"src_" + s}
		for _, n := range nouns {
			row = append(row, rate[[2]string{s, "A2__" + n}])
		}
		rows = append(rows, row)
	}
	_ = writeRows(out, "table", append([]string{"trained \\ bystander"}, nouns...), rows)
}

func trimSrc(s string) string {
	if len(s) > 4 && s[:4] == "src_" {
		return s[4:]
	}
	return s
}

func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}
