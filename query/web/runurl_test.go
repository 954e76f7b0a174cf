package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// Attack: run IDs are any printable text, so a run named "x/../victim" or
// "a//b" linked (as path segments) to the page of another run: browsers
// drop the dot segments and the mux cleans the path. Every run's link,
// resolved as a browser does and routed as the server does, opens that
// run.
func TestRunURLOpensThatRun(t *testing.T) {
	var got string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /experiments/{experiment}/runs/{run...}", func(w http.ResponseWriter, r *http.Request) { got = r.PathValue("run") })
	base, _ := url.Parse("http://host/experiments/e")
	for _, run := range []string{"coherence_flags/base_model", "x/../victim", "x/./victim", "a//b", "/lead", "trail/", "x/..", "a b/c?d#e", "100%/ü"} {
		ref, err := url.Parse(runURL("e", run))
		require.NoError(t, err, run)
		u := base.ResolveReference(ref) // drops dot segments, as browsers do
		got = ""
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", u.RequestURI(), nil))
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s → %s", run, runURL("e", run), rec.Header().Get("Location"))
		require.Equal(t, run, got, runURL("e", run))
	}
	require.Equal(t, "/experiments/e/runs/coherence_flags/base_model", runURL("e", "coherence_flags/base_model"), "plain IDs keep their readable path")
}
