package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/gpuworker/importer"
	"leakscope/query/figures"
)

// importWithDesign imports fixture folders with a design file into a fresh
// stack and returns its lake.
func importWithDesign(t *testing.T, design string, folders ...string) string {
	t.Helper()
	dir := fixturesDir(t)
	path := filepath.Join(t.TempDir(), "design.json")
	require.NoError(t, os.WriteFile(path, []byte(design), 0o644))
	d, err := importer.LoadDesign(path)
	require.NoError(t, err)
	var paths []string
	for _, f := range folders {
		paths = append(paths, filepath.Join(dir, f))
	}
	plan, err := importer.Parse(dir, paths, importer.Options{Now: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Design: d})
	require.NoError(t, err)
	s := startStack(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := s.Bus.PublishAll(ctx, plan.Events, nil)
	require.NoError(t, err)
	require.NoError(t, s.Bus.WaitDurable(ctx, res.LastSeq, nil))
	s.stop()
	return s.Lake
}

// issue_205's files name no source persona. Declared in the design at
// import (source_persona sets the run's source), the source cell finds it
// without a parameter; with none declared the refusal lists the persona keys to
// pass and how to declare one. A declared source naming no bystander is
// refused as unmatched.
func TestSourceCellFromTheDeclaredSourceFactor(t *testing.T) {
	lake := importWithDesign(t, `{"runs": {"E0_assistant": {"source_persona": "confab"}}}`, "issue_205")
	e := openEngine(t, lake)
	dir := t.TempDir()
	got := drawAll(t, &figures.Builder{Engine: e, Experiment: "issue_205"}, dir)
	require.Equal(t, "", got["source_cell"])
	m := checkDrawn(t, dir, "source_cell", "issue_205")
	// The design's source_persona is the run's source (not a factor), so
	// the figure needs no note about where it came from.
	require.NotContains(t, strings.Join(m.Notes, "\n"), "source persona confab from")
	runs, err := e.Runs(context.Background(), "issue_205")
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "confab", runs[0].SourcePersona)
	require.NotContains(t, runs[0].Factors, "source_persona")
	var bars struct {
		Bars []struct {
			SourceCell string   `json:"source_cell"`
			Rate       *float64 `json:"rate"`
		}
	}
	readJSON(t, filepath.Join(dir, "source_cell.data.json"), &bars)
	require.Len(t, bars.Bars, 1)
	require.Equal(t, "confab", bars.Bars[0].SourceCell)
	require.InDelta(t, 211.0/280, *bars.Bars[0].Rate, 1e-9, "confab's strict rate in marker_eval.json: 0.7536")

	got = drawAll(t, &figures.Builder{Engine: openEngine(t, importedFixtures(t)), Experiment: "issue_205"}, t.TempDir())
	require.Contains(t, got["source_cell"], "declare no source persona or prompt: pass source_persona=<one of ")
	require.Contains(t, got["source_cell"], "confab")
	require.Contains(t, got["source_cell"], `--design with {"runs"`)

	lake = importWithDesign(t, `{"runs": {"E0_assistant": {"source_persona": "nobody"}}}`, "issue_205")
	got = drawAll(t, &figures.Builder{Engine: openEngine(t, lake), Experiment: "issue_205"}, t.TempDir())
	require.Contains(t, got["source_cell"], `E0_assistant (source "nobody") have no bystander cell with the source's key or prompt`)
}
