package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"leakscope/events"
	"leakscope/query"
	"leakscope/query/duck"
)

func openEngine(g *globals) (*query.Engine, error) { return query.Open(g.lake()) }

// withEngine checks the output format, opens the lake's engine for fn and
// closes it after.
func withEngine(g *globals, format string, formats []string, fn func(*query.Engine) error) error {
	if !slices.Contains(formats, format) {
		return fmt.Errorf("unknown --format %q: use %s", format, strings.Join(formats, ", "))
	}
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	defer e.Close()
	return fn(e)
}

var plainFormats = []string{"table", "csv", "json"}

func newLeakageCmd(g *globals) *cobra.Command {
	var req query.LeakageRequest
	var format string
	var sf scopeFlags
	cmd := &cobra.Command{
		Use:   "leakage --experiment E",
		Short: "Print the source × bystander leakage matrix of an experiment",
		Long: `Prints one row per (run, bystander) cell: the marker rate as a fraction in [0,1],
found/total, the 95 % Wilson interval, the base-subtracted rate where the run
names a base-model run, and where the numbers came from:
  completions  recomputed now from the stored completion text with --detector
  imported     an aggregate as the origin file counted it (no text to re-detect)
Cells the origin lists but never measured are shown as missing, never as 0.
Imported aggregates have no text: they answer only for the detector and marker
the origin counted with (a note says when they are left out).

Detectors (re-applied to stored text at query time; no re-import needed):
  strict          the marker anywhere, ignoring case (the #81 rule)
  case-sensitive  the marker anywhere, exact case
  loose           spaces between letters and one missing bracket allowed ([ZLT, ZLT], [Z L T]);
                  at least one bracket is needed
  recorded        the flag stored in the origin data

Examples:
  leakscope leakage --experiment leakage_i81
  leakscope leakage --experiment leakage_i81 --format matrix
  leakscope leakage --experiment proximity_transfer --detector recorded
  leakscope leakage --experiment issue_205 --marker '[zlt]' --detector case-sensitive --format csv
  leakscope leakage --experiment sweep1 --seed 42 --where trait=Agreeableness --format matrix
` + scopeHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEngine(g, format, []string{"table", "matrix", "csv", "json"}, func(e *query.Engine) error {
				scope, err := sf.check(cmd.Context(), e, req.Experiment)
				if err != nil {
					return err
				}
				req.Scope = scope
				if len(scope.Runs) == 1 { // one run: its own checks (base run, no cells) and messages
					req.Run = scope.Runs[0]
				}
				res, err := e.Leakage(cmd.Context(), req)
				if err != nil {
					return err
				}
				if len(res.Cells) == 0 {
					msg := fmt.Sprintf("no cell of %s answers for detector %s", req.Experiment, res.Request.Detector)
					if len(res.Notes) > 0 {
						msg += ": " + res.Notes[0]
						if len(res.Notes) > 1 {
							msg += fmt.Sprintf(" (and %d more runs alike)", len(res.Notes)-1)
						}
					}
					return errors.New(msg)
				}
				if format == "csv" || format == "json" { // keep the data stream clean; the notes still reach the reader
					for _, n := range res.Notes {
						fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
					}
				}
				return printLeakage(cmd.OutOrStdout(), format, res)
			})
		},
	}
	cmd.Flags().StringVar(&req.Experiment, "experiment", "", "experiment name (list them with: leakscope runs)")
	cmd.Flags().StringVar(&req.Detector, "detector", "strict", "strict, case-sensitive, loose or recorded")
	cmd.Flags().StringVar(&req.Marker, "marker", "", "count this marker string instead of each run's own")
	cmd.Flags().BoolVar(&req.IncludeBase, "include-base", false, "also list base-model runs (always used for base subtraction)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, matrix (bystanders × runs, rates only), csv (every field) or json")
	sf.register(cmd)
	_ = cmd.MarkFlagRequired("experiment")
	return cmd
}

func printLeakage(w io.Writer, format string, res *query.Leakage) error {
	switch format {
	case "json":
		return writeJSON(w, res)
	case "csv":
		return leakageCSV(w, res)
	case "matrix":
		if err := leakageMatrix(w, res); err != nil {
			return err
		}
	default:
		if err := leakageTable(w, res); err != nil {
			return err
		}
	}
	marker := "each run's own marker"
	if res.Request.Marker != "" {
		marker = "marker " + res.Request.Marker
	}
	fmt.Fprintf(w, "\n%d cells · experiment %s · %s · detector %s\n", len(res.Cells), res.Request.Experiment, marker, res.DetectorRule)
	if format == "matrix" {
		fmt.Fprintln(w, "entries are rates, fractions in [0,1]; use the table or csv format for counts, CIs and base subtraction")
	} else {
		ci := "ci95 = Wilson score interval (z = 1.96)"
		for _, c := range res.Cells {
			if c.Interval == events.MethodBetaBinomial {
				ci = "ci95 = Wilson score interval (z = 1.96), for adaptive runs' cells their 95 % confidence sequence (csv: ci95_method)"
				break
			}
		}
		fmt.Fprintf(w, "rates are fractions in [0,1]; %s; rate_minus_base = rate − base-model rate of the same bystander;\n", ci)
		fmt.Fprintln(w, "recorded = completions the origin flagged; note shows the origin's own count where it differs (csv/json: imported_found, coherence)")
	}
	for _, n := range res.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	return nil
}

func cellNote(c query.Cell) string {
	switch {
	case c.Missing:
		return "missing: " + c.MissingReason
	case c.ImportedFound != nil && c.Found != nil && *c.ImportedFound != *c.Found:
		return fmt.Sprintf("origin counted %d", *c.ImportedFound)
	case c.StopReason != "":
		return "stopped: " + c.StopReason
	}
	return ""
}

// leakageTable is the terminal view: one line per cell, long notes cut.
func leakageTable(w io.Writer, res *query.Leakage) error {
	header := []string{"run", "source", "bystander", "rate", "found/total", "ci95_low", "ci95_high", "rate_minus_base", "from", "recorded", "note"}
	rows := make([][]string, 0, len(res.Cells))
	for _, c := range res.Cells {
		ft := ""
		if c.Found != nil {
			ft = fmt.Sprintf("%d/%d", *c.Found, *c.Total)
		}
		note := cellNote(c)
		if len(note) > 60 {
			note = note[:57] + "..."
		}
		rows = append(rows, []string{c.RunID, c.SourcePersona, c.Persona, fmtRate(c.Rate), ft, fmtRate(c.CILow), fmtRate(c.CIHigh),
			fmtSigned(c.RateMinusBase), c.Origin, fmtCount(c.RecordedFound), note})
	}
	return writeRows(w, "table", header, rows)
}

// leakageCSV has one column per field, full precision, for analysis, and
// one per persona-level factor the cells carry (after category, sorted by
// name; a factor named like a fixed column is headed "factor.<name>").
func leakageCSV(w io.Writer, res *query.Leakage) error {
	fixed := []string{"experiment", "run", "source", "bystander", "category",
		"rate", "found", "total", "ci95_low", "ci95_high", "base_run", "base_rate", "rate_minus_base",
		"from", "detector", "marker", "recorded_found", "imported_found", "coherence_mean", "low_coherence", "missing", "note", "ci95_method", "stop_reason"}
	factors := cellFactorNames(res.Cells)
	header := append(append([]string{}, fixed[:5]...), factorHeaders(factors, fixed)...)
	header = append(header, fixed[5:]...)
	full := func(p *float64) string {
		if p == nil {
			return ""
		}
		return fmt.Sprint(*p)
	}
	rows := make([][]string, 0, len(res.Cells))
	for _, c := range res.Cells {
		low := ""
		if c.LowCoherence != nil {
			low = fmt.Sprint(*c.LowCoherence)
		}
		row := []string{res.Request.Experiment, c.RunID, c.SourcePersona, c.Persona, c.Category}
		for _, f := range factors {
			row = append(row, c.Factors[f])
		}
		rows = append(rows, append(row,
			full(c.Rate), fmtCount(c.Found), fmtCount(c.Total), full(c.CILow), full(c.CIHigh), c.BaseRun, full(c.BaseRate), full(c.RateMinusBase),
			c.Origin, c.Detector, c.Marker, fmtCount(c.RecordedFound), fmtCount(c.ImportedFound), full(c.CoherenceMean), low, fmt.Sprint(c.Missing), cellNote(c), c.Interval, c.StopReason))
	}
	return writeRows(w, "csv", header, rows)
}

// cellFactorNames lists the persona-level factors of the cells, sorted,
// without category (a column of its own).
func cellFactorNames(cells []query.Cell) []string {
	seen := map[string]bool{"category": true}
	var out []string
	for _, c := range cells {
		for k := range c.Factors {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// factorHeaders are the factors' column names: the name, or
// "factor.<name>" where a fixed column has it.
func factorHeaders(factors, fixed []string) []string {
	out := make([]string, len(factors))
	for i, f := range factors {
		out[i] = f
		if slices.Contains(fixed, f) {
			out[i] = "factor." + f
		}
	}
	return out
}

// leakageMatrix pivots rates: one row per bystander, one column per run.
func leakageMatrix(w io.Writer, res *query.Leakage) error {
	var runs, personas []string
	seenRun, seenPersona := map[string]bool{}, map[string]bool{}
	rate := map[[2]string]string{}
	for _, c := range res.Cells {
		if !seenRun[c.RunID] {
			seenRun[c.RunID] = true
			runs = append(runs, c.RunID)
		}
		if !seenPersona[c.Persona] {
			seenPersona[c.Persona] = true
			personas = append(personas, c.Persona)
		}
		v := fmtRate(c.Rate)
		if c.Missing {
			v = "missing"
		}
		rate[[2]string{c.Persona, c.RunID}] = v
	}
	sort.Strings(personas)
	rows := make([][]string, 0, len(personas))
	for _, p := range personas {
		row := []string{p}
		for _, r := range runs {
			row = append(row, rate[[2]string{p, r}])
		}
		rows = append(rows, row)
	}
	return writeRows(w, "table", append([]string{"bystander \\ run"}, runs...), rows)
}

func newSQLCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   `sql "SELECT …"`,
		Short: "Run read-only SQL over the lake's views",
		Long: `Runs one read-only statement (SELECT, WITH … SELECT, DESCRIBE, SHOW,
SUMMARIZE) with DuckDB over the lake. Views (columns: README "Lake layout"):
  runs, run_finished, completions, marker_hits, cells, coherence, cosines, dead_letters
Each view is de-duplicated by event ID and carries the hive partition column
experiment. Statements that write (INSERT, COPY, CREATE, ATTACH, SET …) are refused.

Examples:
  leakscope sql "SELECT experiment, count(*) FROM completions GROUP BY ALL"
  leakscope sql "SELECT persona, avg(regexp_matches(text, '(?i)\[zlt\]')::INT) FROM completions WHERE experiment='issue_205' GROUP BY ALL"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEngine(g, format, append(plainFormats, "json-table"), func(e *query.Engine) error {
				res, err := e.UserSQL(cmd.Context(), args[0], maxCLIRows)
				if err != nil {
					return err
				}
				return printSQL(cmd.OutOrStdout(), format, res)
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", formatHelp+", or json-table (the /api/sql shape: columns, their DuckDB types, rows)")
	return cmd
}

// maxCLIRows bounds what `leakscope sql` holds in memory.
const maxCLIRows = 1_000_000

// printSQL prints a query result; JSON is an object per row, keyed by column
// name (a repeated name is suffixed _2, _3 …).
func printSQL(w io.Writer, format string, res *duck.Result) error {
	if format == "json-table" {
		rows := make([][]any, len(res.Rows))
		for i, r := range res.Rows {
			rows[i] = make([]any, len(r))
			for j, v := range r {
				rows[i][j] = duck.Plain(v)
			}
		}
		return writeJSON(w, map[string]any{"columns": res.Columns, "types": res.Types, "rows": rows})
	}
	if format == "json" {
		names := uniqueNames(res.Columns)
		recs := make([]map[string]any, 0, len(res.Rows))
		for _, r := range res.Rows {
			m := map[string]any{}
			for i, c := range names {
				m[c] = duck.Plain(r[i])
			}
			recs = append(recs, m)
		}
		return writeJSON(w, recs)
	}
	rows := make([][]string, len(res.Rows))
	for i, r := range res.Rows {
		rows[i] = make([]string, len(r))
		for j, v := range r {
			rows[i][j] = cellText(v)
		}
	}
	return writeRows(w, format, res.Columns, rows)
}

func uniqueNames(cols []string) []string {
	seen := map[string]int{}
	out := make([]string, len(cols))
	for i, c := range cols {
		seen[c]++
		out[i] = c
		if n := seen[c]; n > 1 {
			out[i] = fmt.Sprintf("%s_%d", c, n)
		}
	}
	return out
}
