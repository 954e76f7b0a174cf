package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/query/figures"
)

// The figure set of leakage_i81 from the fixtures alone: every figure in
// three formats with its meta; drawn twice, the PNGs are byte-identical
// and the meta identical but for the time.
func TestFiguresAreCompleteAndDeterministic(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	ctx := context.Background()
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		ws, err := figures.Write(ctx, &figures.Builder{Engine: e, Experiment: "leakage_i81"}, dir, nil, figures.Formats)
		require.NoError(t, err)
		drawn := 0
		for _, w := range ws {
			if w.Skipped == "" {
				drawn++
			} else {
				require.Equal(t, "cosine_vs_leakage", w.Name, "only the cosine scatter lacks data for i81: %s", w.Skipped)
			}
		}
		require.Equal(t, len(figures.Names)-1, drawn)
	}
	for _, name := range figures.Names[:len(figures.Names)-1] {
		for _, ext := range []string{".png", ".svg", ".pdf", ".meta.json", ".data.json"} {
			require.FileExists(t, filepath.Join(a, name+ext))
		}
		pa, _ := os.ReadFile(filepath.Join(a, name+".png"))
		pb, _ := os.ReadFile(filepath.Join(b, name+".png"))
		require.True(t, bytes.Equal(pa, pb), "%s.png is deterministic", name)
		var ma, mb figures.Meta
		readJSON(t, filepath.Join(a, name+".meta.json"), &ma)
		readJSON(t, filepath.Join(b, name+".meta.json"), &mb)
		ma.CreatedAt, mb.CreatedAt = time.Time{}, time.Time{}
		require.Equal(t, ma, mb, name)
		require.Len(t, ma.Fingerprint, 64)
		require.NotEmpty(t, ma.Runs, name)
		require.NotEmpty(t, ma.Units, name)
	}
	ws, err := figures.Write(ctx, &figures.Builder{Engine: e, Experiment: "single_token_100_persona"}, a, []string{"cosine_vs_leakage"}, []string{"png"})
	require.NoError(t, err)
	require.Equal(t, "", ws[0].Skipped)
	var m figures.Meta
	readJSON(t, filepath.Join(a, "cosine_vs_leakage.meta.json"), &m)
	require.Contains(t, m.Title, "ρ = 0.602", "the pooled ρ the authors published (0.6016)")
	require.Contains(t, m.Title, "N = 550")
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
}

// The heatmap, the noun-isolation grid and the hero matrix carry the
// numbers of the authors' CSV, cell by cell.
func TestFigureNumbersMatchTheCSV(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	dir := t.TempDir()
	_, err := figures.Write(context.Background(), &figures.Builder{Engine: e, Experiment: "leakage_i81"}, dir,
		[]string{"heatmap_5x130_base_subtracted", "slice_noun_isolation", "hero_noun_leakage_matrix"}, []string{"png"})
	require.NoError(t, err)
	f, err := os.Open(filepath.Join(fixturesDir(t), "leakage_i81", "coherence_flags.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	type rec struct {
		delta          float64
		low, floor     bool
		blankCoherence bool
	}
	want := map[[2]string]rec{}
	for _, r := range rows[1:] {
		d, _ := strconv.ParseFloat(r[8], 64)
		want[[2]string{r[0], r[1]}] = rec{d, r[13] == "True", r[14] == "True", r[12] == ""}
	}
	var heat []struct {
		Source, Bystander string
		RateMinusBase     *float64 `json:"rate_minus_base"`
		LowCoherence      bool     `json:"low_coherence"`
		NSFloor           bool     `json:"ns_floor"`
		Missing           bool
	}
	readJSON(t, filepath.Join(dir, "heatmap_5x130_base_subtracted.data.json"), &heat)
	require.Len(t, heat, 650)
	missing := 0
	for _, h := range heat {
		w := want[[2]string{h.Source, h.Bystander}]
		if h.Missing {
			missing++
			require.True(t, w.blankCoherence && w.delta == 0, "only zero-filled rows are missing: %v", h)
			continue
		}
		require.InDelta(t, w.delta, *h.RateMinusBase, 1e-12, "%s %s", h.Source, h.Bystander)
		require.Equal(t, w.low, h.LowCoherence, "%s %s low coherence", h.Source, h.Bystander)
		require.Equal(t, w.floor, h.NSFloor, "%s %s floor", h.Source, h.Bystander)
	}
	require.Equal(t, 95, missing)

	var iso []struct {
		Series, X, Panel string
		Delta            *float64 `json:"rate_minus_base"`
	}
	readJSON(t, filepath.Join(dir, "slice_noun_isolation.data.json"), &iso)
	checked := 0
	for _, p := range iso {
		if p.Delta == nil {
			continue
		}
		trait, level := p.Panel[:len(p.Panel)-3], p.Panel[len(p.Panel)-2:]
		w := want[[2]string{p.Series, "A1__" + p.X + "__" + trait + "__" + level}]
		require.InDelta(t, w.delta, *p.Delta, 1e-12, "%v", p)
		checked++
	}
	require.Equal(t, 4*125+30, checked, "4 full sources × 125 cells + person's 30 pilot A1 cells")

	var hero []struct {
		Source, Bystander string
		Rate              *float64
	}
	readJSON(t, filepath.Join(dir, "hero_noun_leakage_matrix.data.json"), &hero)
	require.Len(t, hero, 25)
	for _, h := range hero {
		require.InDelta(t, want[[2]string{h.Source, h.Bystander}].delta, *h.Rate, 1e-12, "%s %s", h.Source, h.Bystander)
	}
}
