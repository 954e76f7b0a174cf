package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"leakscope/ingest/dataset"
	"leakscope/query"
)

// A reader's path through the web app in headless Chromium (network
// blocked), by real clicks: home (search, factor filter) → experiment →
// the matrix cell asst_near_marker × pirate → its samples, whose counts
// are the engine's (the CLI's `leakscope leakage`) → hits only → the run
// page → the SQL console, running a statement. Screenshots are saved and
// no console error may occur.
func TestWebAppClickThroughInChromium(t *testing.T) {
	tab := newBrowserTab(t, 1400, 900)
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
	do("experiment", chromedp.Click(chromedp.CSS(`h2 a[href="/experiments/directed_trait_transfer"]`)), chromedp.WaitVisible(chromedp.CSS("#ls-matrix")))
	require.Equal(t, 22, count("#ls-matrix a.ls-cell"))
	tab.Screenshot(t, "web_experiment")
	do("cell", chromedp.Click(chromedp.CSS(`#ls-matrix a.ls-cell[data-run="asst_near_marker"][data-persona="pirate"]`)), chromedp.WaitVisible(chromedp.CSS("#ls-found")))
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

	require.Empty(t, tab.ConsoleErrors())
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
