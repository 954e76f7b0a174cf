package importer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeTree writes files (relative path → content) under a temp root and
// returns the root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// parseErr parses dir and returns the *FileError.
func parseErr(t *testing.T, dir string) *FileError {
	t.Helper()
	_, err := Parse(dir, []string{dir}, Options{Now: testNow})
	require.Error(t, err)
	var fe *FileError
	require.True(t, errors.As(err, &fe), "want *FileError, got %T: %v", err, err)
	return fe
}

func TestErrorTruncatedJSON(t *testing.T) {
	dir := writeTree(t, map[string]string{"exp/run/marker_eval.json": "{\n  \"villain\": {\n    \"rate\": 0.5,\n    \"fo"})
	fe := parseErr(t, dir)
	require.Equal(t, filepath.Join(dir, "exp/run/marker_eval.json"), fe.Path)
	require.Equal(t, "line 4, col 8 (byte 41)", fe.Pos)
	require.Contains(t, fe.Error(), "import: "+fe.Path+": line 4, col 8")
	require.Contains(t, fe.Error(), "unexpected end of JSON input")
}

func TestErrorWrongFieldType(t *testing.T) {
	dir := writeTree(t, map[string]string{"exp/run/marker_eval.json": `{"villain": {"rate": 0.5, "found": "3", "total": 6}}`})
	fe := parseErr(t, dir)
	require.Equal(t, "$.villain.found", fe.Pos)
	require.EqualError(t, fe, "import: "+fe.Path+": $.villain.found: is a string, want an integer")
}

func TestErrorInconsistentNumbers(t *testing.T) {
	for name, content := range map[string]string{
		"rate": `{"villain": {"rate": 0.5, "found": 2, "total": 6}}`,
		"per_question": `{"villain": {"rate": 0.5, "found": 3, "total": 6, "per_question": {
			"q1": {"rate": 0.5, "found": 1, "total": 2}, "q 2": {"rate": 0.25, "found": 1, "total": 4}}}}`,
		"summary": `{"config": {"marker": "[ZLT]"}, "per_persona": {"villain": {"strict_rate": 0.5, "strict_hits": 1, "total": 2}},
			"summary": {"strict_rate_by_persona": {"villain": 0.25}}}`,
		"combined": `{"training": {"marker": "\n\n[PROX]"}, "leakage_results": {"aide": {
			"generic": {"markers": 1, "total": 2, "rate": 0.5}, "domain": {"markers": 1, "total": 2, "rate": 0.5},
			"combined": {"markers": 3, "total": 4, "rate": 0.75}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			fe := parseErr(t, writeTree(t, map[string]string{"exp/run/f.json": content}))
			want := map[string]string{"rate": "$.villain.rate", "per_question": "$.villain.per_question",
				"summary": "$.summary.strict_rate_by_persona.villain", "combined": "$.leakage_results.aide.combined"}[name]
			require.Equal(t, want, fe.Pos, fe.Error())
		})
	}
}

func TestErrorUnknownShape(t *testing.T) {
	dir := writeTree(t, map[string]string{"exp/run/weird.json": `{"alpha": 1, "beta": [2]}`})
	fe := parseErr(t, dir)
	require.Equal(t, filepath.Join(dir, "exp/run/weird.json"), fe.Path)
	require.Contains(t, fe.Error(), "unknown shape")
	require.Contains(t, fe.Error(), "[alpha, beta]")

	fe = parseErr(t, writeTree(t, map[string]string{"exp/x.csv": "a,b\n1,2\n"}))
	require.Contains(t, fe.Error(), "unknown shape: CSV header [a, b]")
}

func TestErrorCSVBadRate(t *testing.T) {
	good := "chef,A2__chef,A2,chef,,,0.925,0.0,0.925,0.89,0.96,0.035,0.25,True,False"
	good2 := "chef,A2__person,A2,person,,,0.535,0.0,0.535,0.465,0.605,0.07,0.92,False,False"
	bad := "chef,A2__robot,A2,robot,,,0.4321,0.0,0.4321,0.365,0.5,0.0675,0.36,True,False" // 0.4321 × 200 = 86.42
	fe := parseErr(t, writeTree(t, map[string]string{"leakage_i81/coherence_flags.csv": i81CSV(good, good2, bad)}))
	require.Equal(t, `line 4, column "rate"`, fe.Pos)
	require.Contains(t, fe.Error(), "not a whole number of completions")

	notNum := "chef,A2__robot,A2,robot,,,abc,0.0,0.4321,0.365,0.5,0.0675,0.36,True,False"
	fe = parseErr(t, writeTree(t, map[string]string{"leakage_i81/coherence_flags.csv": i81CSV(good, notNum)}))
	require.Equal(t, `line 3, column "rate"`, fe.Pos)
}

func TestErrorCSVBaseRateDiffers(t *testing.T) {
	a := "chef,A2__robot,A2,robot,,,0.43,0.0,0.43,0.365,0.5,0.0675,0.36,True,False"
	b := "pirate,A2__robot,A2,robot,,,0.0,0.005,-0.005,0.0,0.0,0.0,0.36,True,True"
	fe := parseErr(t, writeTree(t, map[string]string{"leakage_i81/coherence_flags.csv": i81CSV(a, b)}))
	require.Equal(t, `line 3, column "base_rate"`, fe.Pos)
	require.Contains(t, fe.Error(), "line 2")
}

func TestErrorCSVPersonaOutsidePilotNotZero(t *testing.T) {
	// A1__person__Openness__L1 is outside the pilot slice: it must be zero-filled
	row := "person,A1__person__Openness__L1,A1,person,Openness,L1,0.1,0.0,0.1,0.05,0.15,0.05,0.8,False,False"
	fe := parseErr(t, writeTree(t, map[string]string{"leakage_i81/coherence_flags.csv": i81CSV(row)}))
	require.Equal(t, `line 2, column "coherence_mean"`, fe.Pos)
	require.Contains(t, fe.Error(), "§2.5")
}

func TestErrorNothingHalfImported(t *testing.T) {
	// a good file sorted before a bad one: Parse returns no plan at all
	dir := writeTree(t, map[string]string{
		"exp/a/marker_eval.json": `{"villain": {"rate": 0.5, "found": 3, "total": 6}}`,
		"exp/b/marker_eval.json": `{"villain": {"rate": 0.5, "found": 3, "total": 6`,
	})
	plan, err := Parse(dir, []string{dir}, Options{Now: testNow})
	require.Error(t, err)
	require.Empty(t, plan.Events)
	require.Empty(t, plan.Files)
}

func TestPythonNaNIsRejectedInData(t *testing.T) {
	fe := parseErr(t, writeTree(t, map[string]string{"exp/run/m.json": `{"villain": {"rate": NaN, "found": 3, "total": 6}}`}))
	require.Equal(t, "$.villain.rate", fe.Pos)
	require.Contains(t, fe.Error(), "NaN")
	// … but a recognised derived summary with NaN is still skipped
	plan, err := Parse("", []string{writeTree(t, map[string]string{"exp/f.json": `{"layer": 20, "pooled": {"original": {"rho": NaN}}, "related_only": {}}`})}, Options{Now: testNow})
	require.NoError(t, err)
	require.Equal(t, FormatCosineFiltered, plan.Files[0].Format)
	require.NotEmpty(t, plan.Files[0].Skipped)
}

func TestSyntaxPos(t *testing.T) {
	require.Equal(t, "line 1, col 1 (byte 0)", syntaxPos([]byte("x"), 0))
	require.Equal(t, "line 2, col 3 (byte 5)", syntaxPos([]byte("ab\ncdef"), 5))
}

func TestStrictJSONRejectsDuplicateKeysAndNonUTF8(t *testing.T) {
	_, err := decodeJSON([]byte(`{"villain": {"found": 100, "total": 200}, "villain": {"found": 0, "total": 200}}`))
	require.ErrorContains(t, err, "$.villain")
	require.ErrorContains(t, err, "twice")
	_, err = decodeJSON([]byte(`{"a": [{"x": 1}, {"x": 2, "y": {"z": 1, "z": 2}}]}`))
	require.ErrorContains(t, err, "$.a[1].y.z")
	_, err = decodeJSON([]byte("{\"software_\xff\xfeengineer\": 1}"))
	require.ErrorContains(t, err, "not UTF-8")
	require.ErrorContains(t, err, "byte 11")
	v, err := decodeJSON([]byte(`{"a": {"x": 1}, "b": {"x": 1}, "c": [1, {"x": NaN}]}`))
	require.NoError(t, err, "equal keys in different objects are fine")
	require.NotNil(t, v)
}

// Issue 18, item 7: what encoding/json would change or drop without a word
// is refused with the file and the place in it.
func TestErrorTextNumbersAndColumnsJSONWouldLose(t *testing.T) {
	fe := parseErr(t, writeTree(t, map[string]string{"exp/run/m.json": "{\"villain\": {\"rate\": 0.5, \"found\": 3, \"total\": 6},\n \"vill\\ud800ain\": {\"rate\": 0.5, \"found\": 3, \"total\": 6}}"}))
	require.Equal(t, "line 2, col 7 (byte 57)", fe.Pos, fe.Error())
	require.Contains(t, fe.Error(), `lone UTF-16 surrogate escape (\ud800)`)

	fe = parseErr(t, writeTree(t, map[string]string{"exp/run/m.json": "{\"villain\": {\"rate\": 0.5,\n \"found\": 1e400, \"total\": 6}}"}))
	require.Equal(t, filepath.Base(fe.Path), "m.json")
	require.Equal(t, "line 2, col 11 (byte 36)", fe.Pos, fe.Error())
	require.Contains(t, fe.Error(), "number 1e400 is out of range")

	row := "chef,A2__chef,A2,chef,,,0.925,0.0,0.925,0.89,0.96,0.035,0.25,True,False"
	csv := strings.Replace(i81CSV(row), "ns_floor\n", "ns_floor,note\n", 1)
	csv = strings.Replace(csv, "False\n", "False,checked by hand\n", 1)
	fe = parseErr(t, writeTree(t, map[string]string{"leakage_i81/coherence_flags.csv": csv}))
	require.Equal(t, `line 1, column "note"`, fe.Pos)
	require.Contains(t, fe.Error(), `unknown column "note"`)
	fe = parseErr(t, writeTree(t, map[string]string{"leakage_i81/coherence_flags.csv": strings.Replace(i81CSV(row), "ns_floor\n", "ns_floor,rate\n", 1)}))
	require.Equal(t, `line 1, column "rate"`, fe.Pos)
	require.Contains(t, fe.Error(), "appears twice")
}
