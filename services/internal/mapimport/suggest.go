package mapimport

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"leakscope/query/duck"
)

// Suggest proposes a starting mapping for files shaped like file, from
// DuckDB's reading of its structure (DESCRIBE of read_json_auto, or
// read_csv_auto for .csv): the columns as comments, a rows kind, and a
// query that picks the canonical columns it can guess by name (persona,
// found/hits, total/n, rate, text/completion, question, model, seed) from
// the file's top level, from a list of records (unnest) or from an object
// keyed by persona (map_entries, ordered by persona as the built-in
// importers order object members). The result always parses as a mapping;
// what it cannot guess is left as a TODO comment for the researcher.
func Suggest(ctx context.Context, file string) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	db, err := duck.OpenFolder(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	defer db.Close()
	reader := "read_json"
	if strings.EqualFold(filepath.Ext(abs), ".csv") {
		reader = "read_csv"
	}
	res, err := db.UserQuery(ctx, fmt.Sprintf("DESCRIBE SELECT * FROM %s_auto(%s)", reader, duck.Quote(abs)), 0)
	if err != nil {
		return "", fmt.Errorf("import --suggest %s: %w", file, err)
	}
	var cols []field
	for _, r := range res.Rows {
		name, _ := r[0].(string)
		typ, _ := r[1].(string)
		cols = append(cols, field{name: name, typ: parseType(typ)})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Proposed by leakscope import --suggest %s. DuckDB reads it as:\n", filepath.Base(abs))
	for i, r := range res.Rows {
		fmt.Fprintf(&b, "#   %s %s\n", cols[i].name, shorten(fmt.Sprint(r[1]), 100))
	}
	b.WriteString("# Check the query, then: leakscope import --map THIS.yaml --dry-run FOLDER\n")
	fmt.Fprintf(&b, "files: %q\n", "*/"+filepath.Base(abs))
	sel, from, rows := propose(cols)
	fmt.Fprintf(&b, "rows: %s\n", rows)
	b.WriteString("query: |\n  SELECT " + strings.Join(sel, ",\n         ") + "\n")
	b.WriteString("         -- TODO run factors, e.g. , {'lr': regexp_extract(filename, 'lr_([^/]+)', 1)} AS factors\n")
	fmt.Fprintf(&b, "  FROM %s({file}, filename = true) AS f%s\n", reader, from)
	return b.String(), nil
}

// field is a column or struct member with its parsed type.
type field struct {
	name string
	typ  *dtype
}

// dtype is a DuckDB type as DESCRIBE prints it: a base name, or a STRUCT
// with fields, or a list of elem.
type dtype struct {
	base   string
	fields []field
	elem   *dtype
}

var (
	personaNames = []string{"persona", "persona_name", "name", "condition"}
	foundNames   = []string{"found", "hits", "markers", "n_found", "strict_hits", "markers_found", "n_marker"}
	totalNames   = []string{"total", "n", "n_total", "total_completions", "n_completions"}
	rateNames    = []string{"rate", "leakage_rate", "marker_rate", "strict_rate"}
	textNames    = []string{"text", "completion", "response", "output"}
	questionName = []string{"question", "prompt"}
	flagNames    = []string{"marker_present", "has_marker", "recorded_marker"}
)

// propose picks the canonical columns: SELECT items, the FROM tail after
// "read_json(...) AS f", and the rows kind.
func propose(cols []field) (sel []string, from, rows string) {
	run := func(sel []string) []string {
		if f := pick(cols, "model", "base_model"); f != "" {
			sel = append(sel, "f."+f+" AS model")
		}
		if f := pick(cols, "seed"); f != "" {
			sel = append(sel, "f."+f+" AS seed")
		}
		return sel
	}
	// Records at the top level, or in a list column.
	if recordLike(cols) {
		s, kind := recordColumns(cols, "f.")
		return run(s), "", kind
	}
	for _, c := range cols {
		if c.typ.elem != nil && c.typ.elem.fields != nil && recordLike(c.typ.elem.fields) {
			s, kind := recordColumns(c.typ.elem.fields, "r.")
			return run(s), fmt.Sprintf(", unnest(f.%s) AS t(r)", ident(c.name)), kind
		}
	}
	// An object keyed by persona, anywhere in the tree.
	if p, v := keyedObject(cols, "f"); p != "" {
		s := []string{"p.key AS persona"}
		if v.fields == nil {
			s = append(s, "p.value AS rate")
			return run(s), fmt.Sprintf(",\n       unnest(map_entries(CAST(to_json(%s) AS MAP(VARCHAR, DOUBLE)))) AS t(p)\n  ORDER BY persona", p), RowsCells
		}
		for _, g := range []struct {
			names    []string
			as, cast string
		}{{foundNames, "found", "BIGINT"}, {totalNames, "total", "BIGINT"}, {rateNames, "rate", "DOUBLE"}} {
			if f := pick(v.fields, g.names...); f != "" {
				s = append(s, fmt.Sprintf("(p.value->>'%s')::%s AS %s", f, g.cast, g.as))
			}
		}
		return run(s), fmt.Sprintf(",\n       unnest(map_entries(CAST(to_json(%s) AS MAP(VARCHAR, JSON)))) AS t(p)\n  ORDER BY persona", p), RowsCells
	}
	return []string{"'TODO: the persona' AS persona", "NULL::DOUBLE AS rate"}, "", RowsCells
}

// recordLike: fields that hold a persona and a count, rate or text.
func recordLike(fs []field) bool {
	return pick(fs, personaNames...) != "" && (pick(fs, foundNames...) != "" || pick(fs, rateNames...) != "" || pick(fs, textNames...) != "")
}

func recordColumns(fs []field, prefix string) ([]string, string) {
	kind := RowsCells
	groups := []struct {
		names []string
		as    string
	}{{personaNames, "persona"}, {foundNames, "found"}, {totalNames, "total"}, {rateNames, "rate"}, {questionName, "question"}}
	if pick(fs, textNames...) != "" {
		kind = RowsCompletions
		groups = []struct {
			names []string
			as    string
		}{{personaNames, "persona"}, {questionName, "question"}, {textNames, "text"}, {flagNames, "recorded_marker"}}
	}
	var sel []string
	for _, g := range groups {
		if f := pick(fs, g.names...); f != "" {
			sel = append(sel, prefix+ident(f)+" AS "+g.as)
		}
	}
	return sel, kind
}

// keyedObject finds a struct of at least two members that all have one
// type (numbers, or records): an object keyed by persona. It returns the
// SQL path to it and the members' type.
func keyedObject(fs []field, path string) (string, *dtype) {
	for _, f := range fs {
		p := path + "." + ident(f.name)
		t := f.typ
		if len(t.fields) >= 2 && sameTypes(t.fields) && (t.fields[0].typ.numeric() || t.fields[0].typ.fields != nil) {
			return p, t.fields[0].typ
		}
		if t.fields != nil {
			if q, v := keyedObject(t.fields, p); q != "" {
				return q, v
			}
		}
	}
	return "", nil
}

func sameTypes(fs []field) bool {
	for _, f := range fs[1:] {
		if f.typ.String() != fs[0].typ.String() {
			return false
		}
	}
	return true
}

func (t *dtype) numeric() bool {
	switch t.base {
	case "DOUBLE", "FLOAT", "BIGINT", "INTEGER", "UBIGINT", "HUGEINT", "DECIMAL":
		return true
	}
	return strings.HasPrefix(t.base, "DECIMAL")
}

func (t *dtype) String() string {
	switch {
	case t.elem != nil:
		return t.elem.String() + "[]"
	case t.fields != nil:
		parts := make([]string, len(t.fields))
		for i, f := range t.fields {
			parts[i] = f.name + " " + f.typ.String()
		}
		return "STRUCT(" + strings.Join(parts, ", ") + ")"
	}
	return t.base
}

func pick(fs []field, names ...string) string {
	for _, n := range names {
		for _, f := range fs {
			if strings.EqualFold(f.name, n) {
				return f.name
			}
		}
	}
	return ""
}

var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func ident(s string) string {
	if plainIdent.MatchString(s) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseType parses a DESCRIBE type: NAME, NAME(args), STRUCT(f T, …),
// T[]; field names may be double-quoted.
func parseType(s string) *dtype {
	t, _ := parseTypeAt(s, 0)
	return t
}

func parseTypeAt(s string, i int) (*dtype, int) {
	t := &dtype{}
	if strings.HasPrefix(s[i:], "STRUCT(") {
		i += len("STRUCT(")
		for i < len(s) && s[i] != ')' {
			var name string
			name, i = parseName(s, i)
			for i < len(s) && s[i] == ' ' {
				i++
			}
			var ft *dtype
			ft, i = parseTypeAt(s, i)
			t.fields = append(t.fields, field{name: name, typ: ft})
			if strings.HasPrefix(s[i:], ", ") {
				i += 2
			}
		}
		i++ // ')'
	} else {
		start, depth := i, 0
		for i < len(s) {
			c := s[i]
			if c == '(' {
				depth++
			} else if c == ')' {
				if depth == 0 {
					break
				}
				depth--
			} else if (c == ',' || c == '[') && depth == 0 {
				break
			}
			i++
		}
		t.base = s[start:i]
	}
	for strings.HasPrefix(s[i:], "[]") {
		t = &dtype{elem: t}
		i += 2
	}
	return t, i
}

func parseName(s string, i int) (string, int) {
	if i < len(s) && s[i] == '"' {
		var b strings.Builder
		i++
		for i < len(s) {
			if s[i] == '"' {
				if i+1 < len(s) && s[i+1] == '"' {
					b.WriteByte('"')
					i += 2
					continue
				}
				return b.String(), i + 1
			}
			b.WriteByte(s[i])
			i++
		}
		return b.String(), i
	}
	start := i
	for i < len(s) && s[i] != ' ' {
		i++
	}
	return s[start:i], i
}
