package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"leakscope/ingest/dataset"
	"leakscope/query"
	"leakscope/query/webui"
)

// A reader's path through the web app in headless Chromium (network
// blocked), by real clicks: home (search, factor filter) → experiment →
// the matrix cell asst_near_marker × pirate → its samples, whose counts
// are the engine's (the CLI's `leakscope leakage`) → hits only → the run
// page → the SQL console, running a statement; then the #81 matrix of
// leakage_i81 at 1440 × 900: no horizontal scroll, cells drawn in their
// rate's colour, a click opens the cell's samples. Screenshots are saved
// and no console error may occur.
func TestWebAppClickThroughInChromium(t *testing.T) {
	tab := newBrowserTab(t, 1440, 900)
	srv, e := webServer(t, importedFixtures(t))
	lk, err := e.Leakage(context.Background(), query.LeakageRequest{Experiment: "directed_trait_transfer", Run: "asst_near_marker"})
	require.NoError(t, err)
	var cell query.Cell
	for _, c := range lk.Cells {
		if c.Persona == "pirate" {
			cell = c
		}
	}
	require.NotNil(t, cell.Found)
	found, total := *cell.Found, *cell.Total
	require.Equal(t, [2]int64{69, 225}, [2]int64{found, total})
	// The CLI prints the same cell.
	var cli query.Leakage
	out, _, code := run(t, filepath.Dir(importedFixtures(t)), "leakage", "--experiment", "directed_trait_transfer", "--run", "asst_near_marker", "--format", "json")
	require.Equal(t, 0, code)
	require.NoError(t, json.Unmarshal([]byte(out), &cli))
	require.Contains(t, cli.Cells, cell)

	ctx := tab.Ctx
	do := func(what string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, a...), what)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return s
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
		require.NoError(t, err, sel)
		return n
	}

	// Home: 22 runs; the search and the factor filter narrow them.
	do("home", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#ls-search")))
	require.Equal(t, 22, count("tr.ls-run"))
	tab.Screenshot(t, "web_home")
	do("search", chromedp.SendKeys(chromedp.CSS("#ls-search"), "near_marker"))
	require.Equal(t, 2, count("tr.ls-run:not([hidden])"))
	require.Equal(t, "2 runs", text("#ls-shown"))
	do("clear", choose("#ls-search", ""), choose("#ls-factor", "source=src_chef"))
	require.Equal(t, 1, count("tr.ls-run:not([hidden])"))
	require.Equal(t, 1, count("section.ls-exp-block:not([hidden])"))
	do("reset", choose("#ls-factor", ""))

	// Home → experiment → cell.
	do("experiment", chromedp.Click(chromedp.CSS(`h2 a[href="/experiments/directed_trait_transfer"]`)), chromedp.WaitVisible(chromedp.CSS("#ls-hm-map")))
	require.Equal(t, 22, evalJS[int](t, tab, `window.lsMatrix.data.cells.length`))
	tab.Screenshot(t, "web_experiment")
	// The same matrix as a table, and back.
	do("as a table", chromedp.Click(chromedp.CSS("#ls-as-table")), chromedp.WaitVisible(chromedp.CSS("#ls-matrix")))
	require.Equal(t, 22, count("#ls-matrix a.ls-cell"))
	do("as a heatmap", chromedp.Click(chromedp.CSS("#ls-as-heatmap")), chromedp.WaitVisible(chromedp.CSS("#ls-hm-map")))
	do("cell", clickHeatCell(t, tab, "asst_near_marker", "pirate"), chromedp.WaitVisible(chromedp.CSS("#ls-found")))
	require.Equal(t, strconv.FormatInt(found, 10), text("#ls-found"))
	require.Equal(t, strconv.FormatInt(total, 10), text("#ls-total"))
	require.Equal(t, fmtRate3(*cell.Rate), text("#ls-rate"))
	require.Equal(t, query.DefaultSamplesLimit, count(".ls-sample"))
	tab.Screenshot(t, "web_samples")

	// Hits only: every listed completion is a hit, with its marker highlighted.
	do("hits", chromedp.Click(chromedp.CSS(`.ls-filter a[data-hits="hits"]`)), chromedp.WaitVisible(chromedp.CSS(`.ls-filter a.active[data-hits="hits"]`)))
	require.Equal(t, strconv.FormatInt(found, 10), text("#ls-matching"))
	require.Equal(t, query.DefaultSamplesLimit, count(`.ls-sample[data-hit="true"]`))
	require.Equal(t, 0, count(`.ls-sample[data-hit="false"]`))
	require.GreaterOrEqual(t, count(".ls-sample mark.ls-d-strict"), query.DefaultSamplesLimit)
	do("next page", chromedp.Click(chromedp.CSS(`#ls-range a`)), chromedp.WaitVisible(chromedp.CSS(`#ls-range[data-offset="50"]`)))
	require.Equal(t, int(found)-query.DefaultSamplesLimit, count(`.ls-sample[data-hit="true"]`))
	tab.Screenshot(t, "web_samples_hits")

	// The run page, from the cell's breadcrumb.
	do("run", chromedp.Click(chromedp.CSS(`#ls-cell a[href="/experiments/directed_trait_transfer/runs/asst_near_marker"]`)), chromedp.WaitVisible(chromedp.CSS("#ls-run-facts")))
	require.Equal(t, 11, count("#ls-run-cells a.ls-cell"))
	require.Contains(t, text("#ls-run-cells"), fmt.Sprintf("%d/%d", found, total))
	tab.Screenshot(t, "web_run")

	// The SQL console: views listed, a statement run, an error shown.
	do("sql", chromedp.Click(chromedp.CSS(`nav a[href="/sql"]`)), chromedp.WaitVisible(chromedp.CSS("#ls-q")))
	require.Equal(t, len(dataset.Tables), count(".ls-view"))
	do("query", choose("#ls-q", "SELECT persona, count(*) FILTER (WHERE regexp_matches(text, '(?i)\\[ZLT\\]')) AS found, count(*) AS total FROM completions WHERE experiment = 'directed_trait_transfer' AND run_id = 'asst_near_marker' AND persona = 'pirate' GROUP BY ALL"),
		chromedp.Click(chromedp.CSS("#ls-run")), chromedp.WaitVisible(chromedp.CSS("#ls-table")))
	require.Equal(t, fmt.Sprintf("pirate\t%d\t%d", found, total), text("#ls-table tbody tr"))
	require.Contains(t, text("#ls-status"), "1 rows in ")
	tab.Screenshot(t, "web_sql")
	do("csv", chromedp.Click(chromedp.CSS("#ls-csv")), void(chromedp.Poll[bool](`document.getElementById('ls-status').textContent.startsWith('csv downloaded')`)))
	require.Equal(t, fmt.Sprintf("csv downloaded (%d bytes)", len(fmt.Sprintf("persona,found,total\npirate,%d,%d\n", found, total))), text("#ls-status"))
	do("parquet", chromedp.Click(chromedp.CSS("#ls-parquet")), void(chromedp.Poll[bool](`document.getElementById('ls-status').textContent.startsWith('parquet downloaded')`)))
	do("bad query", choose("#ls-q", "DELETE FROM runs"), chromedp.Click(chromedp.CSS("#ls-run")), chromedp.WaitVisible(chromedp.CSS("#ls-sql-error")))
	require.Contains(t, text("#ls-sql-error"), "SELECT")

	// An #81-sized matrix (6 runs × 130 bystanders) fits the window: no
	// horizontal scroll; a cell is drawn in its rate's colour (lsColor) and
	// opens its samples, whose counts are the engine's.
	i81, err := e.Leakage(context.Background(), query.LeakageRequest{Experiment: "leakage_i81", IncludeBase: true})
	require.NoError(t, err)
	var i81Cell query.Cell
	for _, c := range i81.Cells {
		if c.RunID == "coherence_flags/chef" && c.Persona == "A1__chef__Agreeableness__L1" {
			i81Cell = c
		}
	}
	require.NotNil(t, i81Cell.Rate)
	require.NotNil(t, i81Cell.Found)
	do("i81", chromedp.Navigate(srv.URL+"/experiments/leakage_i81"), chromedp.WaitVisible(chromedp.CSS("#ls-hm-map")))
	w := evalJS[[2]float64](t, tab, `[document.documentElement.scrollWidth, window.innerWidth]`)
	require.LessOrEqual(t, w[0], w[1], "the #81 matrix page scrolls sideways (scrollWidth %v > innerWidth %v)", w[0], w[1])
	type heatGeo struct {
		Rows, Cols, GroupBy, CW, Width, Wrap float64
		Drawn, Want, Undefined               []float64
	}
	g := evalJS[heatGeo](t, tab, `(() => { const G = window.lsMatrix.geo(), d = window.lsMatrix.data, c = document.getElementById('ls-hm-map'), x = c.getContext('2d'), r = window.devicePixelRatio || 1;
		const px = (ri, ci) => Array.from(x.getImageData(Math.round((G.xs[ci] + G.cw / 2) * r), Math.round((G.headH + ri * G.ch + G.ch / 2) * r), 1, 1).data).slice(0, 3);
		const rgb = s => s.match(/\d+/g).map(Number).slice(0, 3);
		const ri = G.rows.findIndex(w => w.run === 'coherence_flags/chef'), ci = G.cols.findIndex(b => b.persona === 'A1__chef__Agreeableness__L1');
		const cell = d.cells.find(c => c.run === 'coherence_flags/chef' && c.persona === 'A1__chef__Agreeableness__L1');
		const u = d.cells.find(c => c.state === 'undefined');
		return {Rows: G.rows.length, Cols: G.cols.length, GroupBy: d.group_by.length, CW: G.cw, Width: c.getBoundingClientRect().width, Wrap: document.getElementById('ls-hm-wrap').clientWidth,
			Drawn: px(ri, ci), Want: rgb(lsColor(cell.rate)),
			Undefined: px(G.rows.findIndex(w => w.run === u.run), G.cols.findIndex(b => b.persona === u.persona))} })()`)
	require.Equal(t, []float64{6, 130}, []float64{g.Rows, g.Cols})
	require.LessOrEqual(t, g.Width, g.Wrap, "the map fits its box at the default zoom")
	require.GreaterOrEqual(t, g.CW, 4.0, "cells stay readable")
	require.Equal(t, g.Want, g.Drawn, "a cell is its rate's colour (lsColor of %v)", *i81Cell.Rate)
	undef := webui.Rate(math.NaN())
	require.Equal(t, []float64{float64(undef.R), float64(undef.G), float64(undef.B)}, g.Undefined, "a cell never measured is the undefined grey (webui.Rate(NaN), lsColor(null))")
	t.Logf("i81 heatmap: %v px cells, grouped by %v factors", g.CW, g.GroupBy)
	// Hover: the cell's counts and interval in the tooltip. Zoomed in, the
	// map scrolls inside its box, the page still not.
	xy := evalJS[[]float64](t, tab, `(() => { const G = window.lsMatrix.geo(), r = document.getElementById('ls-hm-map').getBoundingClientRect();
		const ri = G.rows.findIndex(w => w.run === 'coherence_flags/chef'), ci = G.cols.findIndex(b => b.persona === 'A1__chef__Agreeableness__L1');
		return [r.left + G.xs[ci] + G.cw / 2, r.top + G.headH + ri * G.ch + G.ch / 2] })()`)
	do("hover", chromedp.MouseEvent("mouseMoved", xy[0], xy[1]))
	require.Contains(t, text("#ls-hm-tip"), fmt.Sprintf("coherence_flags/chef × A1__chef__Agreeableness__L1: %d/%d = %s, 95%% CI %s–%s",
		*i81Cell.Found, *i81Cell.Total, fmtRate3(*i81Cell.Rate), fmtRate3(*i81Cell.CILow), fmtRate3(*i81Cell.CIHigh)))
	tab.Screenshot(t, "web_experiment_i81_1440x900")
	zoomed := evalJS[[3]float64](t, tab, `(() => { for (let i = 0; i < 3; i++) document.getElementById('ls-hm-zin').click();
		const w = document.getElementById('ls-hm-wrap'); return [w.scrollWidth, w.clientWidth, document.documentElement.scrollWidth - window.innerWidth] })()`)
	require.Greater(t, zoomed[0], zoomed[1], "zoomed in, the map is wider than its box")
	require.LessOrEqual(t, zoomed[2], 0.0, "zoomed in, the page does not scroll sideways")
	evalJS[bool](t, tab, `document.getElementById('ls-hm-zfit').click() || true`)
	do("i81 cell", clickHeatCell(t, tab, "coherence_flags/chef", "A1__chef__Agreeableness__L1"), chromedp.WaitVisible(chromedp.CSS("#ls-found")))
	require.Equal(t, "/samples?bystander=A1__chef__Agreeableness__L1&experiment=leakage_i81&run=coherence_flags%2Fchef", evalJS[string](t, tab, `location.pathname + location.search`))
	// leakage_i81 holds the origin's counts, no texts: the page says so.
	require.NotNil(t, i81Cell.CILow)
	require.Contains(t, text("#ls-cell"), fmt.Sprintf("95 %% interval %s–%s", fmtRate3(*i81Cell.CILow), fmtRate3(*i81Cell.CIHigh)))
	require.Contains(t, text("main"), "imported from the origin file")
	tab.Screenshot(t, "web_samples_i81")

	require.Empty(t, tab.ConsoleErrors())
}

// clickHeatCell clicks the cell (run, persona) of the experiment page's
// heatmap where it is drawn, scrolled into view.
func clickHeatCell(t *testing.T, tab *browserTab, run, persona string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		xy := evalJS[[]float64](t, tab, fmt.Sprintf(`(() => { const G = window.lsMatrix.geo(), c = document.getElementById('ls-hm-map');
			c.scrollIntoView({block: 'center'}); const r = c.getBoundingClientRect();
			const ri = G.rows.findIndex(w => w.run === %q), ci = G.cols.findIndex(b => b.persona === %q);
			return ri < 0 || ci < 0 ? [] : [r.left + G.xs[ci] + G.cw / 2, r.top + G.headH + ri * G.ch + G.ch / 2] })()`, run, persona))
		if len(xy) != 2 {
			return chromedp.Void{}, fmt.Errorf("no heatmap cell %s × %s", run, persona)
		}
		return chromedp.MouseClickXY(xy[0], xy[1])(ctx, tg)
	}
}

// choose sets a form field's value and fires the input and change events
// a user's edit fires.
func choose(sel, value string) chromedp.Action[chromedp.Void] {
	return void(chromedp.Evaluate[bool](fmt.Sprintf(`(function(){const el=document.querySelector(%q); el.value=%q;
  el.dispatchEvent(new Event('input')); return el.dispatchEvent(new Event('change'))})()`, sel, value)))
}

// void drops an action's result.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

func fmtRate3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
