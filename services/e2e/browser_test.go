package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// browserTab is a headless Chromium tab with the network blocked except
// loopback, recording console errors and uncaught exceptions.
type browserTab struct {
	Ctx    context.Context
	mu     sync.Mutex
	errors []string
}

// newBrowserTab starts headless Chromium at width × height CSS pixels. It
// skips (saying so) without chromium, and fails under CI=true, where
// .ci/run installs it. The browser lives until the test ends.
func newBrowserTab(t *testing.T, width, height int) *browserTab {
	t.Helper()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is required under CI=true (.ci/run installs Debian's chromium)")
		}
		t.Skip("chromium not installed (apt-get install chromium): skipping the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(width, height), chromedp.Flag("disable-quic", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	b := &browserTab{Ctx: ctx}
	require.NoError(t, chromedp.Do(ctx)) // start the browser now, so its start is not charged to the first page
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				msg := "console.error"
				if len(e.Args) > 0 {
					msg += ": " + string(e.Args[0].Value)
				}
				b.errors = append(b.errors, msg)
			}
		case *runtime.EventExceptionThrown:
			b.errors = append(b.errors, e.ExceptionDetails.Text+" "+fmt.Sprint(e.ExceptionDetails.Exception))
		}
	}))
	return b
}

// ConsoleErrors returns the console errors and exceptions seen so far.
func (b *browserTab) ConsoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// Screenshot saves the whole page as NAME.png under $LEAKSCOPE_TEST_OUT
// (the test artefacts; a temporary folder when unset) and logs where.
func (b *browserTab) Screenshot(t *testing.T, name string) {
	t.Helper()
	out := os.Getenv("LEAKSCOPE_TEST_OUT")
	if out == "" {
		out = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(out, 0o755))
	buf, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	p := filepath.Join(out, name+".png")
	require.NoError(t, os.WriteFile(p, buf, 0o644))
	t.Logf("screenshot %s", p)
}
