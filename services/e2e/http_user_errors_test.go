package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/query/api"
	"leakscope/query/estimands"
	"leakscope/query/figures"
)

// A researcher's mistake in a request is a 4xx naming what to change, never
// a 500 (review attack: factor-interaction with held nothing answered 500,
// a heatmap with rows = cols answered 500, a typo in a figure parameter was
// silently ignored).
func TestHTTPUserErrorsAre4xx(t *testing.T) {
	s := startStack(t, t.TempDir())
	publishRateOnlySweep(t, s, "lr_sweep")
	e := openEngine(t, s.Lake)
	mux := http.NewServeMux()
	mux.Handle("/api/", api.Handler(e, estimands.Analyzer{Engine: e}))
	mux.Handle("/figures/", figures.Handler(e))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct{ path, want string }{
		// Three personas at each (lr, epochs) with nothing held: a scope error.
		{"/api/analyze/factor-interaction?experiment=lr_sweep&a=lr&b=epochs&holding=&by=", "is measured twice"},
		{"/api/analyze/factor-slope?experiment=lr_sweep&factor=epochs&by=epochs", "is measured twice"},
		{"/figures/lr_sweep/heatmap?rows=lr&cols=lr", `rows and cols are both "lr"`},
		{"/figures/lr_sweep/slice?x=lr&series=lr", `x and series are both "lr"`},
		{"/figures/lr_sweep/heatmap?rws=lr", `unknown parameter "rws"`},
		// A typo in a flag's value was read as true on /api/runs.
		{"/api/runs?include_retracted=maybe", `want true or false`},
		{"/api/leakage?experiment=lr_sweep&seed=", "--seed is given but empty"},
		// An estimand parameter given twice was read as its first value.
		{"/api/analyze/replicates?experiment=lr_sweep&level=cell&level=source", "level is given 2 times: give one"},
	} {
		code, body := get(c.path)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", c.path, body)
		require.Contains(t, body, c.want, c.path)
	}
	// What does not exist stays 404; a good request still draws.
	code, body := get("/figures/lr_sweep/nope")
	require.Equal(t, http.StatusNotFound, code, body)
	code, body = get("/figures/nope/heatmap")
	require.Equal(t, http.StatusNotFound, code, body)
	code, body = get("/figures/lr_sweep/heatmap?rows=lr&cols=epochs")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "echarts")
}
