package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/query/figures"
)

// i81Only are the #81 preset's figures.
var i81Only = []string{"heatmap_5x130_base_subtracted", "slice_noun_isolation", "slice_trait_gradation", "slice_interaction",
	"submatrix_5x5", "hero_noun_leakage_matrix", "h2_noun_vs_trait_effects", "source_variance", "trait_ranking_hero", "merged_per_axis_hero"}

// drawAll writes every figure that applies and returns the outcome by name.
func drawAll(t *testing.T, b *figures.Builder, dir string) map[string]string {
	t.Helper()
	ws, err := figures.Write(context.Background(), b, dir, nil, []string{"png", "svg"})
	require.NoError(t, err, b.Experiment)
	out := map[string]string{}
	for _, w := range ws {
		out[w.Name] = w.Skipped
	}
	return out
}

// checkDrawn asserts a drawn figure's files and meta: non-empty images, a
// title naming the experiment and never i81, a fraction's units.
func checkDrawn(t *testing.T, dir, name, experiment string) figures.Meta {
	t.Helper()
	for _, ext := range []string{".png", ".svg", ".meta.json", ".data.json"} {
		st, err := os.Stat(filepath.Join(dir, name+ext))
		require.NoError(t, err, "%s %s%s", experiment, name, ext)
		require.Greater(t, st.Size(), int64(200), "%s %s%s", experiment, name, ext)
	}
	var m figures.Meta
	readJSON(t, filepath.Join(dir, name+".meta.json"), &m)
	require.Contains(t, m.Title, experiment, name)
	if !strings.Contains(experiment, "i81") {
		require.NotContains(t, strings.ToLower(m.Title), "i81", name)
	}
	require.True(t, strings.HasPrefix(m.Units, "rate (fraction 0–1)"), "%s units %q", name, m.Units)
	require.NotRegexp(t, `percent|\(%\)|\bpp\b`, m.Units, "%s: a fraction, never percent", name)
	require.NotEmpty(t, m.Runs, name)
	svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
	require.NoError(t, err)
	require.Contains(t, string(svg), "rate (fraction 0–1)", "%s: the axis or colour bar says what the numbers are", name)
	return m
}

// The generic figures draw three real experiments of other designs: the
// heatmap always, the slice where a factor exists (single_token_100_persona's
// category) and says why not elsewhere, the source cell where the source is
// known; none of the #81 figures is drawn, each saying what it needs.
func TestGenericFiguresOnOtherExperiments(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	for _, tc := range []struct {
		experiment string
		params     map[string]string
		slice      bool
		heatRows   int
		sourceBars int
	}{
		{"single_token_100_persona", nil, true, 5, 5},
		{"directed_trait_transfer", nil, false, 2, 2}, // source from the preset
		// issue_205's events name no source persona: declared here (its highest-rate persona).
		{"issue_205", map[string]string{"source_persona": "confab"}, false, 1, 1},
	} {
		t.Run(tc.experiment, func(t *testing.T) {
			dir := t.TempDir()
			got := drawAll(t, &figures.Builder{Engine: e, Experiment: tc.experiment, Params: tc.params}, dir)
			for _, n := range i81Only {
				require.Contains(t, got[n], "needs persona factors noun, trait, level", n)
			}
			require.Contains(t, got["heatmap_5x130_base_subtracted"], "this experiment's persona factors") // wording the issue asked for
			require.Equal(t, "", got["heatmap"])
			m := checkDrawn(t, dir, "heatmap", tc.experiment)
			require.Equal(t, "run", m.Params["rows"])
			require.Equal(t, "persona", m.Params["cols"])
			var heat struct {
				RowAxis string   `json:"row_axis"`
				Rows    []string `json:"rows"`
				Cols    []string `json:"cols"`
				Cells   []struct {
					Rate  *float64 `json:"rate"`
					Found *int64   `json:"found"`
				} `json:"cells"`
			}
			readJSON(t, filepath.Join(dir, "heatmap.data.json"), &heat)
			require.Len(t, heat.Rows, tc.heatRows)
			require.Len(t, heat.Cells, tc.heatRows*len(heat.Cols))
			for _, c := range heat.Cells {
				require.NotNil(t, c.Rate)
				require.NotNil(t, c.Found, "these experiments have counts")
			}

			if tc.slice {
				require.Equal(t, "", got["slice"])
				m := checkDrawn(t, dir, "slice", tc.experiment)
				require.Equal(t, "category", m.Params["x"])
				require.Contains(t, m.Title, "by category")
				var sl struct {
					X      string `json:"x"`
					Points []struct {
						CILow *float64 `json:"ci_low"`
						Cells int      `json:"cells"`
					} `json:"points"`
				}
				readJSON(t, filepath.Join(dir, "slice.data.json"), &sl)
				require.Len(t, sl.Points, 5*11, "5 sources × 11 categories")
				for _, p := range sl.Points {
					require.NotNil(t, p.CILow, "Wilson bars where counts exist")
				}
			} else {
				require.Contains(t, got["slice"], "needs a design factor")
				require.Contains(t, got["slice"], "run factors: none; persona factors: none")
			}

			require.Equal(t, "", got["source_cell"])
			m = checkDrawn(t, dir, "source_cell", tc.experiment)
			var bars struct {
				Bars []struct {
					Source     string
					SourceCell string `json:"source_cell"`
					Rate       *float64
					CIHigh     *float64 `json:"ci_high"`
				}
			}
			readJSON(t, filepath.Join(dir, "source_cell.data.json"), &bars)
			require.Len(t, bars.Bars, tc.sourceBars)
			for _, b := range bars.Bars {
				require.Equal(t, b.Source, b.SourceCell)
				require.NotNil(t, b.CIHigh)
			}
			if tc.experiment == "directed_trait_transfer" {
				require.Greater(t, *bars.Bars[0].Rate, 0.9, "the Zelthari scholar carries the marker")
				require.Contains(t, strings.Join(m.Notes, "\n"), "source persona zelthari_scholar from the preset")
			}
		})
	}
	// Without a declared source, issue_205's source cell says why.
	got := drawAll(t, &figures.Builder{Engine: e, Experiment: "issue_205"}, t.TempDir())
	require.Contains(t, got["source_cell"], "declare no source persona")
	require.Contains(t, got["source_cell"], "source_persona=")
}

// The generic figures on the #81 data itself: the slice picks the ordered
// level factor and the source cell finds A2__<noun> through the preset rule.
func TestGenericFiguresOnTheI81Design(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	dir := t.TempDir()
	_, err := figures.Write(context.Background(), &figures.Builder{Engine: e, Experiment: "leakage_i81"}, dir, []string{"slice", "source_cell"}, []string{"png", "svg"})
	require.NoError(t, err)
	m := checkDrawn(t, dir, "slice", "leakage_i81")
	require.Equal(t, "level", m.Params["x"])
	var bars struct {
		Bars []struct {
			Source     string
			SourceCell string `json:"source_cell"`
		}
	}
	readJSON(t, filepath.Join(dir, "source_cell.data.json"), &bars)
	require.Len(t, bars.Bars, 5, "every source, person's A2 cell among its 35 pilot cells")
	for _, b := range bars.Bars {
		require.Equal(t, "A2__"+b.Source, b.SourceCell)
	}
}

// publishRateOnlySweep publishes an lr × epochs sweep of one source whose
// cells are rates without counts (as run_result.json gives them).
func publishRateOnlySweep(t *testing.T, s *stack, experiment string) {
	now := time.Now()
	var evs []events.Event
	add := func(run string, p events.Payload) {
		ev, err := events.New(experiment, run, now, p)
		require.NoError(t, err)
		evs = append(evs, ev)
	}
	seed := int64(42)
	for li, lr := range []string{"1e-5", "1e-4", "1e-3"} {
		for ei, ep := range []string{"1", "3", "5"} {
			run := fmt.Sprintf("villain_lr%s_ep%s", lr, ep)
			add(run, &events.Run{SourcePersona: "villain", Marker: "[ZLT]", Seed: &seed, Imported: true, OriginFile: "synthetic",
				OriginSHA256: strings.Repeat("0", 64), Factors: events.Factors{"lr": lr, "epochs": ep}})
			for pi, p := range []string{"villain", "assistant", "chef"} {
				r := float64(li*3+ei+1) / 10 / float64(pi+1)
				add(run, &events.CellAggregate{Persona: p, Detector: "strict", RateOnly: true, Rate: &r, Imported: true, OriginFile: "synthetic"})
			}
			add(run, &events.RunFinished{Status: "finished"})
		}
	}
	s.publish(t, evs)
}

// A hand-made rate-only lr × epochs sweep: the heatmap is drawn over
// lr × epochs on the source's own cell, the slice over lr on a log scale,
// and both say the rates come without counts.
func TestGenericFiguresOnARateOnlySweep(t *testing.T) {
	s := startStack(t, t.TempDir())
	publishRateOnlySweep(t, s, "lr_sweep")
	e := openEngine(t, s.Lake)
	dir := t.TempDir()
	got := drawAll(t, &figures.Builder{Engine: e, Experiment: "lr_sweep"}, dir)
	for _, n := range []string{"heatmap", "slice", "source_cell"} {
		require.Equal(t, "", got[n], n)
	}

	m := checkDrawn(t, dir, "heatmap", "lr_sweep")
	require.ElementsMatch(t, []string{"epochs", "lr"}, []string{m.Params["rows"], m.Params["cols"]})
	require.Contains(t, m.Title, "own source-persona cell", "the title says which cell")
	require.Equal(t, "source", m.Params["persona"])
	require.Contains(t, strings.Join(m.Notes, "\n"), "rate only, n unknown")
	var heat struct {
		Rows, Cols []string
		Cells      []struct {
			Row, Col string
			Rate     *float64 `json:"rate"`
			CILow    *float64 `json:"ci_low"`
			Found    *int64   `json:"found"`
			RateOnly int      `json:"rate_only_cells"`
		}
	}
	readJSON(t, filepath.Join(dir, "heatmap.data.json"), &heat)
	require.Len(t, heat.Cells, 9)
	for _, c := range heat.Cells {
		require.Nil(t, c.CILow, "no interval without a count")
		require.Nil(t, c.Found)
		require.Equal(t, 1, c.RateOnly)
	}
	if m.Params["rows"] == "lr" {
		require.Equal(t, []string{"1e-5", "1e-4", "1e-3"}, heat.Rows, "numeric order, not string order")
	} else {
		require.Equal(t, []string{"1e-5", "1e-4", "1e-3"}, heat.Cols, "numeric order, not string order")
	}
	svg, _ := os.ReadFile(filepath.Join(dir, "heatmap.svg"))
	require.Contains(t, string(svg), "lr (run factor)")
	require.Contains(t, string(svg), "epochs (run factor)")

	m = checkDrawn(t, dir, "slice", "lr_sweep")
	require.Equal(t, "lr", m.Params["x"])
	require.Equal(t, "epochs", m.Params["series"])
	notes := strings.Join(m.Notes, "\n")
	require.Contains(t, notes, "rate only, n unknown")
	require.Contains(t, notes, "log scale")
	var sl struct {
		Log    bool `json:"log_scale"`
		Points []struct {
			CILow *float64 `json:"ci_low"`
		} `json:"points"`
	}
	readJSON(t, filepath.Join(dir, "slice.data.json"), &sl)
	require.True(t, sl.Log)
	require.Len(t, sl.Points, 9)
	for _, p := range sl.Points {
		require.Nil(t, p.CILow, "rate-only points have no bars")
	}
	svg, _ = os.ReadFile(filepath.Join(dir, "slice.svg"))
	require.Contains(t, string(svg), "log scale")

	// Parameters pick other axes: lr × bystander, mean over the bystanders.
	dir2 := t.TempDir()
	_, err := figures.Write(context.Background(), &figures.Builder{Engine: e, Experiment: "lr_sweep", Params: map[string]string{"rows": "lr", "cols": "persona"}},
		dir2, []string{"heatmap"}, []string{"png"})
	require.NoError(t, err)
	readJSON(t, filepath.Join(dir2, "heatmap.meta.json"), &m)
	require.Equal(t, "lr", m.Params["rows"])
	_, err = figures.Write(context.Background(), &figures.Builder{Engine: e, Experiment: "lr_sweep", Params: map[string]string{"rows": "trait"}},
		dir2, []string{"heatmap"}, []string{"png"})
	require.ErrorIs(t, err, figures.ErrNotApplicable)
	require.Contains(t, err.Error(), `no factor "trait"`)
}

// /figures/ lists, per experiment, only the figures that apply to its
// design; an #81 figure asked for on other data answers 404 with the reason.
func TestFiguresIndexListsWhatApplies(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	srv := httptest.NewServer(figures.Handler(e))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/figures/")
	require.Equal(t, 200, code)
	for _, n := range i81Only {
		require.Contains(t, body, "/figures/leakage_i81/"+n+"\"")
		require.NotContains(t, body, "/figures/single_token_100_persona/"+n+"\"")
		require.NotContains(t, body, "/figures/issue_205/"+n+"\"")
	}
	for _, x := range []string{"single_token_100_persona", "issue_205", "directed_trait_transfer", "leakage_i81"} {
		require.Contains(t, body, "/figures/"+x+"/heatmap\"")
	}
	require.Contains(t, body, "/figures/single_token_100_persona/cosine_vs_leakage\"")
	require.NotContains(t, body, "/figures/issue_205/slice\"", "issue_205 has no factor to slice over")
	require.NotContains(t, body, "/figures/persona_cosine_centered/heatmap\"", "a cosine-only experiment has no leakage figure")

	code, body = get("/figures/single_token_100_persona/hero_noun_leakage_matrix")
	require.Equal(t, 404, code)
	require.Contains(t, body, "needs persona factors noun, trait, level; this experiment's persona factors: category")
	for _, p := range []string{"/figures/single_token_100_persona/heatmap", "/figures/single_token_100_persona/slice", "/figures/directed_trait_transfer/source_cell",
		"/figures/leakage_i81/heatmap?rows=source&cols=level"} {
		code, body = get(p)
		require.Equal(t, 200, code, "%s: %s", p, body)
		require.Contains(t, body, "echarts", p)
		require.NotContains(t, body, "i81 factorial", p)
	}
}

// The figures command fails, saying why, when nothing applies (an
// experiment with only a cosine matrix), and succeeds on a sweep.
func TestFiguresCommandFailsWhenNothingApplies(t *testing.T) {
	data := t.TempDir()
	s := startStack(t, data)
	now := time.Now()
	var evs []events.Event
	for _, p := range []events.Payload{
		&events.Run{Marker: "[ZLT]"},
		&events.Cosine{Set: "centroids", Layer: 20, Centering: events.CenteringRaw, Pairs: []events.CosinePair{{A: "chef", B: "pirate", Cosine: 0.5}}},
		&events.RunFinished{Status: "finished"},
	} {
		ev, err := events.New("cos_only", "vectors", now, p)
		require.NoError(t, err)
		evs = append(evs, ev)
	}
	s.publish(t, evs)
	publishRateOnlySweep(t, s, "lr_sweep")
	s.stop()

	out := t.TempDir()
	stdout, stderr, code := run(t, data, "figures", "--experiment", "cos_only", "--out", out, "--format", "png")
	require.NotEqual(t, 0, code, stdout)
	require.Contains(t, stderr, "no figure applies")
	require.Contains(t, stdout, "skip  heatmap: figures: not applicable")

	stdout, stderr, code = run(t, data, "figures", "--experiment", "cos_only", "--out", out, "--only", "heatmap_5x130_base_subtracted")
	require.NotEqual(t, 0, code, stdout)
	require.Contains(t, stderr, "needs persona factors noun, trait, level")

	stdout, stderr, code = run(t, data, "figures", "--experiment", "lr_sweep", "--out", out, "--format", "png", "--param", "persona=mean")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "wrote "+out+"/heatmap.")
	require.Contains(t, stdout, "wrote "+out+"/slice.")
	require.FileExists(t, filepath.Join(out, "heatmap.png"))
	var m figures.Meta
	readJSON(t, filepath.Join(out, "heatmap.meta.json"), &m)
	require.Contains(t, m.Title, "mean over the bystanders")
}

// The figure pages offer the static files: GET /figures/{exp}/{fig}.png,
// .svg and .pdf are the bytes `leakscope figures` writes (the PNG is
// deterministic, so byte for byte), a figure that does not apply is a 404
// with the reason, an unknown format a 400, and a figure's parameters reach
// the download.
func TestFigureDownloadsAreTheStaticFiles(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	srv := httptest.NewServer(figures.Handler(e))
	defer srv.Close()
	get := func(path string) (int, string, []byte) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	dir := t.TempDir()
	_, err := figures.Write(context.Background(), &figures.Builder{Engine: e, Experiment: "leakage_i81"}, dir, []string{"hero_noun_leakage_matrix"}, []string{"png"})
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(dir, "hero_noun_leakage_matrix.png"))
	require.NoError(t, err)
	code, ctype, body := get("/figures/leakage_i81/hero_noun_leakage_matrix.png")
	require.Equal(t, 200, code, string(body))
	require.Equal(t, "image/png", ctype)
	require.Equal(t, want, body, "the download is the static renderer's PNG")

	code, ctype, body = get("/figures/leakage_i81/hero_noun_leakage_matrix.svg")
	require.Equal(t, 200, code)
	require.Equal(t, "image/svg+xml", ctype)
	require.Contains(t, string(body), "<svg")
	require.Contains(t, string(body), "rate (fraction 0–1)")
	code, ctype, body = get("/figures/leakage_i81/heatmap_5x130_base_subtracted.pdf")
	require.Equal(t, 200, code)
	require.Equal(t, "application/pdf", ctype)
	require.True(t, bytes.HasPrefix(body, []byte("%PDF-")))

	code, _, body = get("/figures/leakage_i81/hero_noun_leakage_matrix.gif")
	require.Equal(t, 400, code)
	require.Contains(t, string(body), `unknown format "gif"`)
	code, _, body = get("/figures/single_token_100_persona/hero_noun_leakage_matrix.png")
	require.Equal(t, 404, code)
	require.Contains(t, string(body), "needs persona factors noun, trait, level")
	code, _, body = get("/figures/single_token_100_persona/heatmap.svg?rows=run&cols=category")
	require.Equal(t, 200, code, string(body))
	require.Contains(t, string(body), "category (persona factor)", "the parameters reach the static file")
	code, _, body = get("/figures/single_token_100_persona/heatmap.svg?rowz=run")
	require.Equal(t, 400, code)
	require.Contains(t, string(body), `unknown parameter "rowz"`)

	// The interactive page links its downloads with its parameters.
	code, _, body = get("/figures/single_token_100_persona/heatmap?rows=run&cols=category")
	require.Equal(t, 200, code)
	require.Contains(t, string(body), `href="/figures/single_token_100_persona/heatmap.pdf?rows=run&amp;cols=category"`)
	require.Contains(t, string(body), `class="ls-top"`, "in the shared frame")
}
