package e2e

import (
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The run page at 1440 px, its configuration opened, does not scroll
// sideways (long JSON lines and job details wrap); /sql?q= shows the
// shared query's result without a click.
func TestRunPageWrapsAndSharedSQLRunsInChromium(t *testing.T) {
	tab := newBrowserTab(t, 1440, 900)
	srv, _ := webServer(t, publishPolishLake(t).Lake)
	do := func(what string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(tab.Ctx, a...), what)
	}
	do("run", chromedp.Navigate(srv.URL+"/experiments/polish/runs/polish-3f9a"), chromedp.WaitVisible(chromedp.CSS("#ls-run-facts")))
	require.False(t, evalJS[bool](t, tab, `document.getElementById('ls-config-details').open`), "the configuration starts folded")
	do("open config", chromedp.Click(chromedp.CSS("#ls-config-details summary")), chromedp.WaitVisible(chromedp.CSS("#ls-config")))
	w := evalJS[[2]float64](t, tab, `[document.documentElement.scrollWidth, window.innerWidth]`)
	wide := evalJS[[]string](t, tab, `[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > window.innerWidth).slice(0, 8).map(e => e.tagName+'.'+e.className+'#'+e.id+' '+Math.round(e.getBoundingClientRect().right))`)
	require.LessOrEqual(t, w[0], w[1], "the run page scrolls sideways (scrollWidth %v > innerWidth %v): %q", w[0], w[1], wide)
	tab.Screenshot(t, "web_run_config_open")

	q := "SELECT count(*) AS n FROM completions WHERE experiment = 'polish'"
	do("sql", chromedp.Navigate(srv.URL+"/sql?"+url.Values{"q": {q}}.Encode()), chromedp.WaitVisible(chromedp.CSS("#ls-table")))
	require.Equal(t, "12", evalJS[string](t, tab, `document.querySelector('#ls-table tbody tr').textContent`))
	require.Empty(t, tab.ConsoleErrors())
}
