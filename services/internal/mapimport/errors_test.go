package mapimport

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/gpuworker/importer"
)

// A mapping that cannot be used names its line.
func TestMappingErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"files: \"*/r.json\"\nrows: cells\nquery: SELECT 1 -- {file}\nqueries: x\n", `line 4: unknown key "queries"`},
		{"files: \"*/r.json\"\nrows: cell\nquery: SELECT 1 -- {file}\n", `line 2: rows is "cell": want cells or completions`},
		{"files: \"*/r.json\"\nrows: cells\nquery: SELECT 1 FROM read_json('x.json')\n", "line 3: the query never reads {file}"},
		{"files: \"*/r.json\"\nquery: SELECT 1 -- {file}\n", "line 1: rows is missing"},
		{"files: \"*/r.json\"\nrows: cells\nrows: cells\nquery: SELECT 1 -- {file}\n", "line 3: rows is given twice"},
		{"files: \"*/r.json\"\nrows: cells\nconfig: {a: 1}\nquery: SELECT 1 -- {file}\n", "line 3: config names a top-level member"},
		{"files: [a\n", "invalid YAML"},
	} {
		_, err := Parse("m.yaml", []byte(tc.body))
		require.ErrorContains(t, err, "import --map m.yaml")
		require.ErrorContains(t, err, tc.want)
	}
	_, err := Load("no-such-mapping")
	require.ErrorContains(t, err, "no shipped mapping of that name (shipped: completion-list, marker-eval-strict, run-result-leakage, run-result-sweep)")
}

// A file the mapping cannot import is named with the mapping's query line
// and the row (and column) at fault; nothing is planned.
func TestMappedRowErrorsNameFileAndRow(t *testing.T) {
	root := writeTree(t, map[string]string{
		"exp/r1/results.json": `{"model": "m1", "cells": [{"p": "chef", "hits": 3, "n": 10}, {"p": "pirate", "hits": 12, "n": 10}]}`,
		"exp/r2/results.json": `{"model": "m2", "cells": [{"p": "chef", "hits": 3, "n": 10}]}`,
	})
	run := func(q string) error {
		_, err := Run(context.Background(), mappingWith(t, q), root, []string{root}, importer.Options{Now: testNow})
		return err
	}
	from := " FROM read_json({file}) AS f, unnest(f.cells) AS t(c)"
	for _, tc := range []struct{ query, want string }{
		{"SELECT c.p AS persona, c.hits AS found, c.n AS total" + from,
			`line 3: exp/r1/results.json: row 2: events: cell_aggregate: field "payload.found" 12 is outside [0, total=10]`},
		{"SELECT c.p AS persona, c.hits AS found, c.n AS total, 0.4 AS rate" + from,
			"line 3: exp/r1/results.json: row 1: rate 0.4 disagrees with found/total = 3/10"},
		{"SELECT c.p AS persona, 'three' AS found, c.n AS total" + from,
			`line 3: exp/r1/results.json: row 1, column found: is text "three", want an integer`},
		{"SELECT c.p AS persona, c.hits AS found" + from,
			"line 3: exp/r1/results.json: row 1: found 3 without a total"},
		{"SELECT c.p AS persona, c.hits AS founds, c.n AS total" + from,
			`line 3: exp/r1/results.json: column "founds" is not a cells column`},
		{"SELECT c.hits AS found, c.n AS total" + from,
			`line 3: exp/r1/results.json: the query gives no column "persona"`},
		{"SELECT c.p AS persona, c.n AS total" + from,
			"line 3: exp/r1/results.json: row 1: gives neither found and total nor a rate"},
		{"SELECT c.p AS persona, 1.5 AS rate" + from,
			`row 1: events: cell_aggregate: field "payload.rate" a rate-only cell needs a rate in [0,1]`},
		{"SELECT c.p AS persona, 'nan'::DOUBLE AS rate" + from,
			"row 1, column rate: is NaN: not a number leakscope can store"},
		{"SELECT c.p AS persona, 0.5 AS rate, c.p AS model" + from,
			`row 2: model "pirate" of run (the file's run) disagrees with "chef" given by row 1`},
		{"SELECT c.p AS persona, 0.5 AS rate, {'lr': [1, 2]} AS factors" + from,
			"row 1, column factors: factor lr is a LIST, want text, a number or a boolean"},
		{"SELECT c.p AS persona, 0.5 AS rate, 'bad name!' AS experiment" + from,
			`experiment folder "bad name!" must match`},
		{"SELECT c.p AS persona, c.hits AS found, c.n AS total, 'same' AS run" + from + " WHERE c.hits < 10",
			"exp/r2/results.json: row 1: duplicate cell_aggregate event in run same"},
		{"SELECT c.p AS persona, c.hits AS found, c.n AS total FROM read_json({file}) AS f, unnest(f.cels) AS t(c)",
			`line 3: exp/r1/results.json: sql: Binder Error`},
	} {
		err := run(tc.query)
		require.Error(t, err, tc.query)
		require.Contains(t, err.Error(), "import --map hostile.yaml", tc.query)
		require.Contains(t, err.Error(), strings.ReplaceAll(tc.want, "exp/", root+"/exp/"), tc.query)
	}
}
