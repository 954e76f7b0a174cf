// Package notebook runs executable analysis documents: Markdown whose
// fenced cells hold SQL, estimand calls, figure calls and assertions. A
// run executes every cell against the lake and writes a report (Markdown
// and HTML) with the tables and figures inline; a failed assertion or a
// cell error fails the run.
//
// Cells (the fence's info string says what a cell is):
//
//	```sql NAME            read-only SQL over the lake's views; result kept as NAME
//	```estimand NAME k=v   a named estimand (leakscope analyze --list); kept as NAME (or as=ALIAS)
//	```leakage NAME k=v    the leakage matrix (detector=, marker=, include_base=true); kept as NAME
//	```figure NAME         a figure (leakscope figures), drawn as PNG and shown inline
//	```assert              one check per line: RESULT[ROW].COLUMN == VALUE [± TOL] (default 1e-9), or RESULT.rows == N
//
// The experiment is set by a line <!-- leakscope experiment=NAME --> and
// may be overridden per cell with experiment=NAME.
//
// A run may carry a notebook-level scope (Options.Scope, from the
// command's --run/--seed/--sweep/--source/--where/--include-retracted): it
// is passed to every estimand, leakage and figure cell; an estimand cell
// that sets a scope parameter itself (seeds=…) keeps its own.
package notebook

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"leakscope/query"
	"leakscope/query/duck"
	"leakscope/query/estimands"
	"leakscope/query/figures"
)

// ErrAssertion is wrapped by a run whose assertions failed.
var ErrAssertion = errors.New("notebook: assertion failed")

// table is a cell's result.
type table struct {
	columns []string
	rows    [][]any
	notes   []string
}

// Report is what a run produced.
type Report struct {
	Markdown, HTML string // paths of the written reports
	Cells, Asserts int
	Failed         []string // failed assertions
}

var expRe = regexp.MustCompile(`<!--\s*leakscope\s+experiment=(\S+)\s*-->`)

// Options change how a notebook runs.
type Options struct {
	// Scope is applied to every estimand, leakage and figure cell.
	Scope query.Scope
}

// Run executes the notebook file against the engine and writes the report
// into outDir as NAME.md and NAME.html (with figures as NAME-FIGURE.png).
func Run(ctx context.Context, e *query.Engine, file, outDir string) (*Report, error) {
	return RunWith(ctx, e, file, outDir, Options{})
}

// RunWith is Run with options (a notebook-level scope).
func RunWith(ctx context.Context, e *query.Engine, file, outDir string, opt Options) (*Report, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	stem := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	if absIn, err := filepath.Abs(file); err == nil {
		if absOut, err := filepath.Abs(filepath.Join(outDir, stem+".md")); err == nil && absIn == absOut {
			return nil, fmt.Errorf("notebook: the report %s would overwrite the notebook itself: choose another --out", absOut)
		}
	}
	experiment := ""
	if m := expRe.FindSubmatch(src); m != nil {
		experiment = string(m[1])
	}
	results := map[string]table{}
	rep := &Report{}
	var out bytes.Buffer
	scopeParams := opt.Scope.EstimandParams()
	scopeNote := opt.Scope.String()
	checked := map[string]error{}
	checkWhere := func(exp string) error { // the notebook scope's factor filters, once per experiment
		err, ok := checked[exp]
		if !ok {
			err = e.CheckWhere(ctx, exp, opt.Scope.Where)
			checked[exp] = err
		}
		return err
	}
	if scopeNote != "" {
		fmt.Fprintf(&out, "> scope of this run: `%s` (every estimand, leakage and figure cell)\n\n", scopeNote)
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		info, isFence := strings.CutPrefix(text, "```")
		if !isFence || strings.TrimSpace(info) == "" {
			out.WriteString(text + "\n")
			continue
		}
		start := line
		var body []string
		for sc.Scan() {
			line++
			if strings.HasPrefix(sc.Text(), "```") {
				break
			}
			body = append(body, sc.Text())
		}
		kind, args := parseInfo(info)
		exp := experiment
		if v, ok := args["experiment"]; ok {
			exp = v
			delete(args, "experiment")
		}
		rep.Cells++
		out.WriteString("```" + info + "\n" + strings.Join(body, "\n") + "\n```\n\n")
		cellErr := func(err error) error { return fmt.Errorf("%s line %d (%s cell): %w", file, start, kind, err) }
		if kind == "estimand" || kind == "leakage" || kind == "figure" {
			if err := checkWhere(exp); err != nil {
				return nil, cellErr(err)
			}
		}
		switch kind {
		case "sql":
			res, err := e.UserSQL(ctx, strings.Join(body, "\n"), 10000)
			if err != nil {
				return nil, cellErr(err)
			}
			t := table{columns: res.Columns, rows: res.Rows}
			results[args["name"]] = t
			writeTable(&out, t)
		case "estimand":
			name := args["name"]
			alias := name
			if v, ok := args["as"]; ok {
				alias = v
				delete(args, "as")
			}
			delete(args, "name")
			for k, v := range scopeParams {
				if _, own := args[k]; !own {
					args[k] = v
				}
			}
			res, err := estimands.Run(ctx, e, name, exp, args)
			if err != nil {
				return nil, cellErr(err)
			}
			t := table{columns: res.Columns, rows: res.Rows, notes: res.Notes}
			results[alias] = t
			writeTable(&out, t)
			fmt.Fprintf(&out, "_%s on %s; runs %v; lake fingerprint %.12s; code %s_\n\n", name, exp, res.Provenance.Runs, res.Provenance.Fingerprint, res.Provenance.CodeVersion)
		case "leakage":
			t, err := leakageTable(ctx, e, exp, args, opt.Scope)
			if err != nil {
				return nil, cellErr(err)
			}
			results[args["name"]] = t
			writeTable(&out, t)
		case "figure":
			name := args["name"]
			if _, err := figures.Write(ctx, &figures.Builder{Engine: e, Experiment: exp, Scope: opt.Scope}, outDir, []string{name}, []string{"png"}); err != nil {
				return nil, cellErr(err)
			}
			img := stem + "-" + name + ".png"
			for _, ext := range []string{".png", ".meta.json", ".data.json"} {
				if err := os.Rename(filepath.Join(outDir, name+ext), filepath.Join(outDir, stem+"-"+name+ext)); err != nil {
					return nil, cellErr(err)
				}
			}
			fmt.Fprintf(&out, "![%s](%s)\n\n", name, img)
		case "assert":
			for _, a := range body {
				if strings.TrimSpace(a) == "" {
					continue
				}
				rep.Asserts++
				ok, msg := check(results, a)
				mark := "✔"
				if !ok {
					mark = "✘"
					rep.Failed = append(rep.Failed, fmt.Sprintf("%s line %d: %s", file, start, msg))
				}
				fmt.Fprintf(&out, "- %s `%s` — %s\n", mark, strings.TrimSpace(a), msg)
			}
			out.WriteString("\n")
		default:
			return nil, cellErr(fmt.Errorf("unknown cell kind %q (sql, estimand, leakage, figure, assert)", kind))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s line %d: %w", file, line+1, err)
	}
	rep.Markdown, rep.HTML = filepath.Join(outDir, stem+".md"), filepath.Join(outDir, stem+".html")
	if err := os.WriteFile(rep.Markdown, out.Bytes(), 0o644); err != nil {
		return nil, err
	}
	var html bytes.Buffer
	md := goldmark.New(goldmark.WithExtensions(extension.GFM))
	html.WriteString("<!doctype html><meta charset=utf-8><title>" + stem + "</title><style>body{font:15px sans-serif;max-width:72em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}code,pre{background:#f4f4f4}img{max-width:100%}</style>\n")
	if err := md.Convert(out.Bytes(), &html); err != nil {
		return nil, err
	}
	if err := os.WriteFile(rep.HTML, html.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if len(rep.Failed) > 0 {
		return rep, fmt.Errorf("%w: %s", ErrAssertion, strings.Join(rep.Failed, "; "))
	}
	return rep, nil
}

// leakageTable is a leakage cell: one row per (run, bystander) cell of the
// matrix in scope, keyed by "run/persona" (assert m[run/persona].rate == …).
func leakageTable(ctx context.Context, e *query.Engine, exp string, args map[string]string, scope query.Scope) (table, error) {
	req := query.LeakageRequest{Experiment: exp, Detector: args["detector"], Marker: args["marker"], Scope: scope}
	for k, v := range args {
		switch k {
		case "name", "detector", "marker":
		case "include_base":
			req.IncludeBase = v == "true"
		default:
			return table{}, fmt.Errorf("leakage cell: unknown argument %q (detector, marker, include_base)", k)
		}
	}
	res, err := e.Leakage(ctx, req)
	if err != nil {
		return table{}, err
	}
	t := table{columns: []string{"cell", "run_id", "source", "persona", "rate", "found", "total", "ci_low", "ci_high", "rate_minus_base", "origin"}, notes: res.Notes}
	num := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	cnt := func(p *int64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	for _, c := range res.Cells {
		t.rows = append(t.rows, []any{c.RunID + "/" + c.Persona, c.RunID, c.SourcePersona, c.Persona, num(c.Rate), cnt(c.Found), cnt(c.Total),
			num(c.CILow), num(c.CIHigh), num(c.RateMinusBase), c.Origin})
	}
	return t, nil
}

// parseInfo reads "kind NAME k=v …".
func parseInfo(info string) (string, map[string]string) {
	f := strings.Fields(info)
	args := map[string]string{}
	for i, w := range f[1:] {
		if k, v, ok := strings.Cut(w, "="); ok {
			args[k] = v
		} else if i == 0 {
			args["name"] = w
		}
	}
	return f[0], args
}

func writeTable(out *bytes.Buffer, t table) {
	out.WriteString("| " + strings.Join(t.columns, " | ") + " |\n|" + strings.Repeat(" --- |", len(t.columns)) + "\n")
	for _, r := range t.rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = cellText(v)
		}
		out.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	out.WriteString("\n")
	for _, n := range t.notes {
		out.WriteString("> " + n + "\n>\n")
	}
	if len(t.notes) > 0 {
		out.WriteString("\n")
	}
}

func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'g', 6, 64)
	}
	return strings.ReplaceAll(fmt.Sprint(v), "|", `\|`)
}

var assertRe = regexp.MustCompile(`^\s*(\w[\w-]*)(?:\[([^\]]+)\]\.(\w+)|\.(rows))\s*==\s*(\S+)(?:\s*±\s*(\S+))?\s*$`)

// check evaluates one assertion line against the results so far.
func check(results map[string]table, line string) (bool, string) {
	m := assertRe.FindStringSubmatch(line)
	if m == nil {
		return false, "cannot read this assertion (want NAME[ROW].COLUMN == VALUE [± TOL] or NAME.rows == N)"
	}
	t, ok := results[m[1]]
	if !ok {
		return false, fmt.Sprintf("no result named %s above", m[1])
	}
	if m[4] == "rows" {
		want, err := strconv.Atoi(m[5])
		if err != nil {
			return false, fmt.Sprintf("%q is not a row count", m[5])
		}
		return len(t.rows) == want, fmt.Sprintf("%d rows", len(t.rows))
	}
	ci := -1
	for i, c := range t.columns {
		if c == m[3] {
			ci = i
		}
	}
	if ci < 0 {
		return false, fmt.Sprintf("%s has no column %s (columns: %v)", m[1], m[3], t.columns)
	}
	for _, r := range t.rows {
		if fmt.Sprint(r[0]) != m[2] {
			continue
		}
		got := r[ci]
		if want, err := strconv.ParseFloat(m[5], 64); err == nil {
			tol := 1e-9
			if m[6] != "" {
				if tol, err = strconv.ParseFloat(m[6], 64); err != nil || tol < 0 {
					return false, fmt.Sprintf("tolerance %q is not a non-negative number", m[6])
				}
			}
			g, ok := toFloat(got)
			if !ok {
				return false, fmt.Sprintf("got %v, not a number", got)
			}
			return math.Abs(g-want) <= tol, fmt.Sprintf("got %s (tolerance %g)", strconv.FormatFloat(g, 'g', 10, 64), tol)
		}
		return fmt.Sprint(got) == m[5], fmt.Sprintf("got %v", got)
	}
	return false, fmt.Sprintf("%s has no row %q", m[1], m[2])
}

// toFloat reads any numeric SQL value (integers of every width, HUGEINT,
// DECIMAL, FLOAT) as a float64.
func toFloat(v any) (float64, bool) {
	if f, err := strconv.ParseFloat(fmt.Sprint(duck.Plain(v)), 64); err == nil {
		return f, true
	}
	return 0, false
}
