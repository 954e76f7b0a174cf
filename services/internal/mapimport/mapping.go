// Package mapimport imports result files of any shape through a declared
// mapping (leakscope import --map FILE): a small YAML file whose DuckDB
// query turns each matched file into leakscope's canonical rows, which
// gpuworker/importer.ParseMapped then turns into events exactly as the
// built-in importers do. The query runs in the jail of `leakscope sql`
// (query/duck), confined to the import's folder.
package mapimport

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Mapping is a parsed mapping file:
//
//	files:  "*/seed_*/results.json"   # glob over the path under the import folder, matched at its end
//	rows:   cells                     # or completions
//	config: [training, eval]          # optional: top-level members of each file kept as the run's config
//	query: |                          # one SELECT; {file} is the matched file (a quoted path)
//	  SELECT persona, hits AS found, n AS total FROM read_json({file})
//
// The query's columns name the canonical fields (Columns); each line
// number is the line of that key in the mapping file, for errors.
type Mapping struct {
	Name   string // the file as given, or the shipped mapping's name
	Files  string
	Rows   string // RowsCells or RowsCompletions
	Config []string
	Query  string
	// Lines of the keys in the mapping file (1-based).
	FilesLine, RowsLine, ConfigLine, QueryLine int
}

// Row kinds of Mapping.Rows.
const (
	RowsCells       = "cells"
	RowsCompletions = "completions"
)

// FilePlaceholder stands for the matched file in a mapping's query.
const FilePlaceholder = "{file}"

//go:embed mappings/*.yaml
var shipped embed.FS

// Shipped lists the names of the mappings leakscope ships (import --map NAME).
func Shipped() []string {
	entries, _ := shipped.ReadDir("mappings")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Load reads a mapping file, or a shipped mapping by name (Shipped) when
// no file of that name exists. Errors are *Error naming the mapping's line.
func Load(name string) (*Mapping, error) {
	data, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) && !strings.ContainsAny(name, `/\`) {
		if b, e := shipped.ReadFile("mappings/" + strings.TrimSuffix(name, ".yaml") + ".yaml"); e == nil {
			return Parse(name, b)
		}
		return nil, &Error{Mapping: name, Err: fmt.Errorf("no such file, and no shipped mapping of that name (shipped: %s)", strings.Join(Shipped(), ", "))}
	}
	if err != nil {
		return nil, &Error{Mapping: name, Err: err}
	}
	return Parse(name, data)
}

// Parse parses a mapping's text; name is how errors name it.
func Parse(name string, data []byte) (*Mapping, error) {
	m := &Mapping{Name: name}
	fail := func(line int, format string, args ...any) error {
		return &Error{Mapping: name, Line: line, Err: fmt.Errorf(format, args...)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{Mapping: name, Err: fmt.Errorf("invalid YAML: %v", err)}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fail(1, "a mapping is a YAML object with files, rows and query")
	}
	top := doc.Content[0]
	seen := map[string]bool{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if seen[k.Value] {
			return nil, fail(k.Line, "%s is given twice", k.Value)
		}
		seen[k.Value] = true
		scalar := func(dst *string, line *int) error {
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" || strings.TrimSpace(v.Value) == "" {
				return fail(k.Line, "%s must be a non-empty text", k.Value)
			}
			*dst, *line = v.Value, k.Line
			return nil
		}
		var err error
		switch k.Value {
		case "files":
			err = scalar(&m.Files, &m.FilesLine)
		case "rows":
			err = scalar(&m.Rows, &m.RowsLine)
		case "query":
			err = scalar(&m.Query, &m.QueryLine)
		case "config":
			m.ConfigLine = k.Line
			switch v.Kind {
			case yaml.ScalarNode:
				m.Config = []string{v.Value}
			case yaml.SequenceNode:
				for _, it := range v.Content {
					if it.Kind != yaml.ScalarNode || it.Value == "" {
						return nil, fail(it.Line, "config lists member names (texts)")
					}
					m.Config = append(m.Config, it.Value)
				}
			}
			if len(m.Config) == 0 || m.Config[0] == "" {
				return nil, fail(k.Line, "config names a top-level member of the file, or a list of them")
			}
		default:
			return nil, fail(k.Line, "unknown key %q (a mapping has files, rows, config and query)", k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, req := range []struct {
		key string
		ok  bool
	}{{"files", m.Files != ""}, {"rows", m.Rows != ""}, {"query", m.Query != ""}} {
		if !req.ok {
			return nil, fail(top.Line, "%s is missing (a mapping has files, rows and query; config is optional)", req.key)
		}
	}
	if m.Rows != RowsCells && m.Rows != RowsCompletions {
		return nil, fail(m.RowsLine, "rows is %q: want %s or %s", m.Rows, RowsCells, RowsCompletions)
	}
	if err := checkGlob(m.Files); err != nil {
		return nil, fail(m.FilesLine, "files %q: %v", m.Files, err)
	}
	if !strings.Contains(m.Query, FilePlaceholder) {
		return nil, fail(m.QueryLine, "the query never reads %s, the matched file (e.g. FROM read_json(%s, filename = true))", FilePlaceholder, FilePlaceholder)
	}
	return m, nil
}

// checkGlob accepts a relative slash-separated glob (path.Match syntax)
// that stays inside the import folder.
func checkGlob(g string) error {
	if strings.HasPrefix(g, "/") || filepath.IsAbs(g) || strings.Contains(g, `\`) {
		return errors.New("must be relative to the import folder")
	}
	for _, seg := range strings.Split(g, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return errors.New(`must not hold "..", "." or empty segments: it matches files under the import folder`)
		}
	}
	if _, err := path.Match(g, ""); err != nil {
		return err
	}
	return nil
}

// Matches reports whether rel (a file's slash-separated path under the
// import folder) ends with segments the mapping's glob matches: "*/run_result.json"
// matches "leakage_experiment/r1/run_result.json".
func (m *Mapping) Matches(rel string) bool {
	want := strings.Count(m.Files, "/") + 1
	parts := strings.Split(rel, "/")
	if len(parts) < want {
		return false
	}
	ok, _ := path.Match(m.Files, strings.Join(parts[len(parts)-want:], "/"))
	return ok
}

// Error is a mapping that cannot be used or a file it cannot import:
// the mapping and the line of the key concerned, then the data file and
// the row when one is concerned.
type Error struct {
	Mapping string
	Line    int    // 0: the whole mapping
	File    string // "" when the mapping itself is wrong
	Row     string // e.g. "row 3, column found"
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("import --map " + e.Mapping)
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.File != "" {
		b.WriteString(": " + e.File)
	}
	if e.Row != "" {
		b.WriteString(": " + e.Row)
	}
	return b.String() + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }
