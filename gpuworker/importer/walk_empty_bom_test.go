package importer

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// Review attack on --skip-unknown: an empty file holds nothing to lose, so
// SkipUnknown lists it as skipped (it used to stop the import with "invalid
// JSON: unexpected end of JSON input" or "empty CSV file"); without
// SkipUnknown it stops the import saying the file is empty.
func TestEmptyFilesAreSkippedUnderSkipUnknown(t *testing.T) {
	files := map[string]string{
		"exp/run/marker_eval.json": `{"villain": {"rate": 0.5, "found": 3, "total": 6}}`,
		"exp/run/empty.json":       "",
		"exp/run/blank.json":       " \n\t\n",
		"exp/run/empty.csv":        "",
		"exp/run/bom_only.json":    "\ufeff\n",
	}
	root := writeTree(t, files)
	plan, err := Parse(root, []string{root}, Options{Now: testNow, SkipUnknown: true})
	require.NoError(t, err)
	skipped := map[string]string{}
	for _, f := range plan.Files {
		if f.Skipped != "" {
			skipped[filepath.Base(f.Path)] = f.Skipped
		}
	}
	require.Equal(t, map[string]string{"empty.json": "empty file", "blank.json": "empty file", "empty.csv": "empty file", "bom_only.json": "empty file"}, skipped)
	require.Len(t, plan.Events, 3, "run_started, the cell, run_finished")

	_, err = Parse(root, []string{root}, Options{Now: testNow})
	var fe *FileError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, filepath.Join(root, "exp/run/blank.json"), fe.Path, "the first empty file in path order")
	require.ErrorContains(t, err, "empty file: nothing to import (--skip-unknown lists it as skipped)")
}

// A JSON result file saved with a UTF-8 byte order mark (Windows editors,
// PowerShell) imports as without it, as a CSV with one already did; it was
// refused as "invalid character 'ï'". The origin's SHA-256 is of the bytes
// as stored.
func TestJSONWithByteOrderMarkImports(t *testing.T) {
	body := `{"villain": {"rate": 0.5, "found": 3, "total": 6}}`
	plain := writeTree(t, map[string]string{"exp/run/marker_eval.json": body})
	bom := writeTree(t, map[string]string{"exp/run/marker_eval.json": "\ufeff" + body})
	a, err := Parse(plain, []string{plain}, Options{Now: testNow})
	require.NoError(t, err)
	b, err := Parse(bom, []string{bom}, Options{Now: testNow})
	require.NoError(t, err)
	require.Len(t, b.Events, len(a.Events))
	var cell *events.CellAggregate
	for _, e := range b.Events {
		if c, ok := e.Payload.(*events.CellAggregate); ok {
			cell = c
		}
	}
	require.NotNil(t, cell)
	require.Equal(t, 3, *cell.Found)
	require.Equal(t, 6, *cell.Total)
	require.NotEqual(t, a.Events[0].Payload.(*events.Run).OriginSHA256, b.Events[0].Payload.(*events.Run).OriginSHA256)
}
