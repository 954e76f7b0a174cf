package e2e

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"leakscope/query/figures"
)

// Every interactive figure loads in headless Chromium with the network
// blocked (ECharts comes from leakscope itself), draws a chart with data,
// and logs no console error. Screenshots go to $LEAKSCOPE_TEST_OUT (or the
// test's temporary folder).
func TestInteractiveFiguresInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is required under CI=true (.ci/run installs Debian's chromium)")
		}
		t.Skip("chromium not installed: skipping the browser test")
	}
	require.Equal(t, figures.EchartsSHA256, figures.EmbeddedEchartsSHA256(), "the vendored ECharts is the pinned build")
	e := openEngine(t, importedFixtures(t))
	srv := httptest.NewServer(figures.Handler(e))
	defer srv.Close()
	out := os.Getenv("LEAKSCOPE_TEST_OUT")
	if out == "" {
		out = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(out, 0o755))

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1400, 700),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var consoleErrors []string
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				consoleErrors = append(consoleErrors, "console.error")
			}
		case *runtime.EventExceptionThrown:
			consoleErrors = append(consoleErrors, e.ExceptionDetails.Text)
		}
	}))
	pages := map[string]string{"cosine_vs_leakage": "single_token_100_persona"}
	for _, n := range figures.Names[:len(figures.Names)-1] {
		pages[n] = "leakage_i81"
	}
	for name, exp := range pages {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/figures/"+exp+"/"+name)), name)
		var points int
		require.Eventually(t, func() bool {
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(function(){
  var total = 0;
  document.querySelectorAll('[_echarts_instance_]').forEach(function(el){
    var c = echarts.getInstanceByDom(el); if (!c) return;
    (c.getOption().series || []).forEach(function(s){ total += (s.data || []).length; });
  });
  return total; })()`))
			points = n
			return err == nil && n > 0
		}, 20*time.Second, 100*time.Millisecond, "%s draws a chart with data", name)
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
		require.NoError(t, err)
		shot := filepath.Join(out, name+".png")
		require.NoError(t, os.WriteFile(shot, buf, 0o644))
		t.Logf("%s: %d data points, screenshot %s", name, points, shot)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, consoleErrors, "no console errors: %s", strings.Join(consoleErrors, "; "))
}
