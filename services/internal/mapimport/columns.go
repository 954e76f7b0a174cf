package mapimport

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"leakscope/events"
	"leakscope/gpuworker/importer"
)

// The columns a mapping's query may give. Run-level columns may appear in
// either kind of rows and must be the same on every row of a run; NULL
// means "not given" everywhere.
var (
	runColumns        = []string{"experiment", "run", "model", "seed", "source_persona", "source_prompt", "marker", "factors"}
	cellColumns       = []string{"persona", "found", "total", "rate", "detector", "slice", "question", "category", "ci_low", "ci_high", "total_origin"}
	completionColumns = []string{"persona", "question", "text", "sample_index", "recorded_marker", "question_set", "persona_prompt"}
	requiredColumns   = map[string][]string{RowsCells: {"persona"}, RowsCompletions: {"persona", "question", "text"}}
)

const runColumnsDoc = "run-level, optional: experiment, run, model, seed, source_persona, source_prompt, marker, factors (a STRUCT or MAP of design factors)"

func columnsOf(rows string) map[string]bool {
	out := map[string]bool{}
	list := cellColumns
	if rows == RowsCompletions {
		list = completionColumns
	}
	for _, c := range append(append([]string(nil), list...), runColumns...) {
		out[c] = true
	}
	return out
}

func columnList(rows string) string {
	if rows == RowsCompletions {
		return strings.Join(completionColumns, ", ")
	}
	return strings.Join(cellColumns, ", ")
}

// rowReader converts one result row's values (as the DuckDB driver gives
// them) into canonical fields; where names the row and column of the last
// error.
type rowReader struct {
	cols  map[string]int
	vals  []any
	pos   string
	where string
}

func (r *rowReader) val(col string) (any, bool) {
	i, ok := r.cols[col]
	if !ok || r.vals[i] == nil {
		return nil, false
	}
	r.where = fmt.Sprintf("%s, column %s", r.pos, col)
	return r.vals[i], true
}

func (r *rowReader) text(col string, err *error) string {
	if *err != nil {
		return ""
	}
	v, ok := r.val(col)
	if !ok {
		return ""
	}
	s, isText := v.(string)
	if !isText {
		*err = fmt.Errorf("is %s, want text (CAST(… AS VARCHAR))", describe(v))
		return ""
	}
	return s
}

func (r *rowReader) integer(col string, err *error) *int {
	if *err != nil {
		return nil
	}
	v, ok := r.val(col)
	if !ok {
		return nil
	}
	n, e := toInt(v)
	if e != nil {
		*err = e
		return nil
	}
	return &n
}

func (r *rowReader) number(col string, err *error) *float64 {
	if *err != nil {
		return nil
	}
	v, ok := r.val(col)
	if !ok {
		return nil
	}
	f, e := toFloat(v)
	if e == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		e = fmt.Errorf("is %v: not a number leakscope can store", f)
	}
	if e != nil {
		*err = e
		return nil
	}
	return &f
}

func (r *rowReader) flag(col string, err *error) *bool {
	if *err != nil {
		return nil
	}
	v, ok := r.val(col)
	if !ok {
		return nil
	}
	b, isBool := v.(bool)
	if !isBool {
		*err = fmt.Errorf("is %s, want a boolean", describe(v))
		return nil
	}
	return &b
}

func (r *rowReader) run(err *error) importer.RunFields {
	rf := importer.RunFields{
		Experiment: r.text("experiment", err), Run: r.text("run", err), Model: r.text("model", err),
		SourcePersona: r.text("source_persona", err), SourcePrompt: r.text("source_prompt", err), Marker: r.text("marker", err),
	}
	if s := r.integer("seed", err); s != nil {
		rf.Seed = ptr(int64(*s))
	}
	if *err != nil {
		return rf
	}
	if v, ok := r.val("factors"); ok {
		rf.Factors, *err = factors(v)
	}
	return rf
}

func (r *rowReader) cell() (importer.CellRow, error) {
	var err error
	c := importer.CellRow{Pos: r.pos, RunFields: r.run(&err),
		Persona: r.text("persona", &err), Detector: r.text("detector", &err), Slice: r.text("slice", &err),
		Question: r.text("question", &err), Category: r.text("category", &err), TotalOrigin: r.text("total_origin", &err),
		Found: r.integer("found", &err), Total: r.integer("total", &err),
		Rate: r.number("rate", &err), CILow: r.number("ci_low", &err), CIHigh: r.number("ci_high", &err)}
	if err == nil {
		r.where = r.pos
	}
	return c, err
}

func (r *rowReader) completion() (importer.CompletionRow, error) {
	var err error
	c := importer.CompletionRow{Pos: r.pos, RunFields: r.run(&err),
		Persona: r.text("persona", &err), PersonaPrompt: r.text("persona_prompt", &err), Question: r.text("question", &err),
		QuestionSet: r.text("question_set", &err), Text: r.text("text", &err),
		SampleIndex: r.integer("sample_index", &err), RecordedMarker: r.flag("recorded_marker", &err)}
	if err == nil {
		r.where = r.pos
	}
	return c, err
}

// factors reads a STRUCT (a Go map) or MAP of factor values: text as is,
// integers in decimal, booleans true/false, other numbers in
// importer.CanonicalFloat form ("1e-04", as the built-in importers write
// a learning rate); NULL values are left out.
func factors(v any) (events.Factors, error) {
	var pairs map[string]any
	switch x := v.(type) {
	case map[string]any:
		pairs = x
	case duckdb.Map:
		pairs = map[string]any{}
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("a MAP of factors needs text keys, not %s", describe(k))
			}
			pairs[ks] = e
		}
	default:
		return nil, fmt.Errorf("is %s, want a STRUCT or MAP of factors ({'lr': …, 'seed': …})", describe(v))
	}
	f := events.Factors{}
	keys := make([]string, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch x := pairs[k].(type) {
		case nil:
		case string:
			f[k] = x
		case bool:
			f[k] = strconv.FormatBool(x)
		default:
			if n, err := toInt(x); err == nil {
				f[k] = strconv.Itoa(n)
			} else if fl, err := toFloat(x); err == nil && !math.IsNaN(fl) && !math.IsInf(fl, 0) {
				f[k] = importer.CanonicalFloat(fl)
			} else {
				return nil, fmt.Errorf("factor %s is %s, want text, a number or a boolean", k, describe(x))
			}
		}
	}
	if len(f) == 0 {
		return nil, nil
	}
	return f, nil
}

// toInt accepts integer types and integral floats.
func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int64:
		return int(x), nil
	case int32:
		return int(x), nil
	case int16:
		return int(x), nil
	case int8:
		return int(x), nil
	case uint64:
		if x <= math.MaxInt64 {
			return int(x), nil
		}
	case uint32:
		return int(x), nil
	case uint16:
		return int(x), nil
	case uint8:
		return int(x), nil
	case *big.Int:
		if x.IsInt64() {
			return int(x.Int64()), nil
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
			return int(x), nil
		}
		return 0, fmt.Errorf("%v is not an integer", x)
	case duckdb.Decimal:
		f := x.Float64()
		if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			return int(f), nil
		}
		return 0, fmt.Errorf("%v is not an integer", f)
	}
	return 0, fmt.Errorf("is %s, want an integer", describe(v))
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case duckdb.Decimal:
		return x.Float64(), nil
	}
	if n, err := toInt(v); err == nil {
		return float64(n), nil
	}
	return 0, fmt.Errorf("is %s, want a number", describe(v))
}

// describe names a driver value's kind for errors.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("text %q", x)
	case bool:
		return fmt.Sprintf("a boolean (%v)", x)
	case int64, int32, int16, int8, uint64, uint32, uint16, uint8, *big.Int:
		return fmt.Sprintf("an integer (%v)", x)
	case float64, float32:
		return fmt.Sprintf("a number (%v)", x)
	case map[string]any:
		return "a STRUCT"
	case duckdb.Map:
		return "a MAP"
	case []any:
		return "a LIST"
	}
	return fmt.Sprintf("a %T", v)
}

func ptr[T any](v T) *T { return &v }
