package events_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The event contract and ingest name no experiment (DESIGN.md: "No package
// below the presets names an experiment"): no Go file under events/ or
// ingest/ imports a preset, and no source file or document there names a
// preset, its source nouns, its negative-pool personas or its bystander key
// spellings. The names come from the preset files themselves, read as
// plain JSON (importing them here would be the very dependency refused).
// Test files may use them as data.
func TestContractNamesNoPreset(t *testing.T) {
	terms := presetTerms(t)
	require.Contains(t, terms, "chef", "the #81 preset's source nouns are among the terms")
	var bad []string
	for _, root := range []string{".", "../ingest"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if strings.HasSuffix(path, ".go") {
				f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
				require.NoError(t, err)
				for _, imp := range f.Imports {
					p, _ := strconv.Unquote(imp.Path.Value)
					if p == "leakscope/presets" || strings.HasPrefix(p, "leakscope/presets/") {
						bad = append(bad, path+": imports "+p)
					}
				}
			}
			if strings.HasSuffix(path, "_test.go") || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".md")) {
				return nil
			}
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			for _, txt := range prose(path, b) {
				for i, line := range strings.Split(txt.text, "\n") {
					for _, term := range terms {
						if termRe(term).MatchString(line) {
							bad = append(bad, path+":"+strconv.Itoa(txt.line+i)+": names "+strconv.Quote(term)+": "+strings.TrimSpace(line))
						}
					}
				}
			}
			return nil
		})
		require.NoError(t, err)
	}
	require.Empty(t, bad, "the event contract and ingest must stay generic")
}

type text struct {
	line int
	text string
}

// prose is what a file says in words: a document whole, a Go file's string
// literals and comments (an identifier such as a tree walk's "child" names
// no persona).
func prose(path string, b []byte) []text {
	if !strings.HasSuffix(path, ".go") {
		return []text{{1, string(b)}}
	}
	fset := token.NewFileSet()
	file := fset.AddFile(path, -1, len(b))
	var s scanner.Scanner
	s.Init(file, b, nil, scanner.ScanComments)
	var out []text
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return out
		}
		if tok == token.STRING || tok == token.COMMENT {
			out = append(out, text{fset.Position(pos).Line, lit})
		}
	}
}

func termRe(term string) *regexp.Regexp {
	q := regexp.QuoteMeta(term)
	if strings.HasSuffix(term, "__") { // a key prefix: "A1__chef…"
		return regexp.MustCompile(`\b` + q)
	}
	return regexp.MustCompile(`(?i)\b` + q + `\b`)
}

// presetTerms reads every presets/*/*.json: each preset's name, the values
// of the factors its sources vary over, its negative-pool keys and the
// literal prefixes of its bystander keys.
func presetTerms(t *testing.T) []string {
	files, err := filepath.Glob("../presets/*/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no preset files under ../presets")
	set := map[string]bool{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		var p struct {
			Name    string `json:"name"`
			Factors []struct {
				Name   string   `json:"name"`
				Values []string `json:"values"`
			} `json:"factors"`
			Bystanders []struct {
				Key string `json:"key"`
			} `json:"bystanders"`
			Sources []struct {
				Over []string `json:"over"`
			} `json:"sources"`
			NegativePool []struct {
				Key string `json:"key"`
			} `json:"negative_pool"`
		}
		require.NoError(t, json.Unmarshal(b, &p), file)
		set[p.Name] = true
		for _, s := range p.Sources {
			for _, o := range s.Over {
				for _, f := range p.Factors {
					if f.Name == o {
						for _, v := range f.Values {
							set[v] = true
						}
					}
				}
			}
		}
		for _, n := range p.NegativePool {
			set[n.Key] = true
		}
		for _, by := range p.Bystanders {
			if i := strings.IndexByte(by.Key, '{'); i > 0 {
				set[by.Key[:i]] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// presetFactorNames reads every presets/*/*.json: the factors each preset
// declares and the factor keys its bystander and source families set
// ("kind" on the #81 families).
func presetFactorNames(t *testing.T) map[string]bool {
	files, err := filepath.Glob("../presets/*/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no preset files under ../presets")
	names := map[string]bool{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		var p struct {
			Factors []struct {
				Name string `json:"name"`
			} `json:"factors"`
			Bystanders []struct {
				Factors map[string]string `json:"factors"`
			} `json:"bystanders"`
			Sources []struct {
				Factors map[string]string `json:"factors"`
			} `json:"sources"`
		}
		require.NoError(t, json.Unmarshal(b, &p), file)
		for _, f := range p.Factors {
			names[f.Name] = true
		}
		for _, fam := range append(p.Bystanders, p.Sources...) {
			for k := range fam.Factors {
				names[k] = true
			}
		}
	}
	return names
}

// contractFieldExempt are fields whose name a preset also uses as a factor
// name, for a thing that is no persona factor.
var contractFieldExempt = map[string]string{
	"JobStatus.Kind": "a sweep job's kind (train, eval), not a persona's",
}

// A preset's factors travel as factors (events.Factors), never as fields
// of their own: no exported struct of the contract has a field named after
// a factor a preset declares (Go name or JSON name), so a new experiment's
// design needs no contract change (issue 17).
func TestContractFieldsNameNoPresetFactor(t *testing.T) {
	factors := presetFactorNames(t)
	for _, f := range []string{"kind", "noun", "trait", "level"} {
		require.True(t, factors[f], "the #81 preset's factor %q is among the names", f)
	}
	var bad []string
	seenExempt := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !ts.Name.IsExported() {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fld := range st.Fields.List {
				jsonName := ""
				if fld.Tag != nil {
					tag, _ := strconv.Unquote(fld.Tag.Value)
					jsonName, _, _ = strings.Cut(reflect.StructTag(tag).Get("json"), ",")
				}
				for _, id := range fld.Names {
					key := ts.Name.Name + "." + id.Name
					if !factors[strings.ToLower(id.Name)] && !factors[jsonName] {
						continue
					}
					if contractFieldExempt[key] != "" {
						seenExempt[key] = true
						continue
					}
					bad = append(bad, fmt.Sprintf("%s: %s (json %q) is a preset's factor name: carry it in Factors", fset.Position(id.Pos()), key, jsonName))
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	require.Empty(t, bad, "the contract must carry design factors as factors")
	for k := range contractFieldExempt {
		require.True(t, seenExempt[k], "exemption %s names no field any more: drop it", k)
	}
}
