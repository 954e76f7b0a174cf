package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/query/notebook"
)

// CI runs every notebook: no cell errors, no failed assertions, and the
// i81 report carries the reproduced H2 values.
func TestNotebooksRun(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	files, err := filepath.Glob(filepath.Join("..", "..", "notebooks", "*.md"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3)
	out := t.TempDir()
	for _, f := range files {
		if filepath.Base(f) == "README.md" {
			continue
		}
		rep, err := notebook.Run(context.Background(), e, f, out)
		require.NoError(t, err, f)
		require.Greater(t, rep.Asserts, 0, "%s asserts something", f)
		require.FileExists(t, rep.HTML)
	}
	md, err := os.ReadFile(filepath.Join(out, "i81_factorial.md"))
	require.NoError(t, err)
	for _, want := range []string{"| chef | 6.25 | 2 |", "| pirate | 84.25 | 0 |", "| child | 66.5 | 4.25 |", "| robot | 91.25 | 0.75 |", "✔ `h3[child].triples_passing == 19`"} {
		require.Contains(t, string(md), want)
	}
	html, err := os.ReadFile(filepath.Join(out, "i81_factorial.html"))
	require.NoError(t, err)
	require.Contains(t, string(html), `<img src="i81_factorial-heatmap_5x130_base_subtracted.png"`)
	require.FileExists(t, filepath.Join(out, "i81_factorial-heatmap_5x130_base_subtracted.png"))
}

// A failed assertion, an unknown cell and a bad statement fail the run and
// say where.
func TestNotebookFailures(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	dir := t.TempDir()
	for body, want := range map[string]string{
		"<!-- leakscope experiment=leakage_i81 -->\n```estimand self-implant\n```\n```assert\nself-implant[chef].self_implant_pct == 50\n```\n": "assertion failed",
		"```plot x\n```\n":                   "unknown cell kind",
		"```sql bad\nDROP VIEW cells\n```\n": "line 1",
	} {
		f := filepath.Join(dir, "nb.md")
		require.NoError(t, os.WriteFile(f, []byte(body), 0o644))
		_, err := notebook.Run(context.Background(), e, f, filepath.Join(dir, "out"))
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), want), "%q in %v", want, err)
	}
}

func TestNotebookGuards(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	dir := t.TempDir()
	f := filepath.Join(dir, "nb.md")
	// Numeric assertions read every SQL number type.
	require.NoError(t, os.WriteFile(f, []byte("```sql v\nSELECT 'x' AS k, 5::INTEGER AS i, 0.5::DECIMAL(4,2) AS d, sum(found) AS h FROM cells WHERE experiment = 'leakage_v3' AND question = '' AND persona = 'villain'\n```\n```assert\nv[x].i == 5\nv[x].d == 0.5\nv[x].h == 0 ± 1000\n```\n"), 0o644))
	rep, err := notebook.Run(context.Background(), e, f, filepath.Join(dir, "out"))
	require.NoError(t, err)
	require.Equal(t, 3, rep.Asserts)
	// The report may not overwrite the notebook.
	_, err = notebook.Run(context.Background(), e, f, dir)
	require.ErrorContains(t, err, "overwrite the notebook")
}
