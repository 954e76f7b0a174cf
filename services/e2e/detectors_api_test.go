package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events/marker"
	"leakscope/query"
	"leakscope/query/api"
	"leakscope/query/estimands"
)

// Every detector gives the same verdict in Go (workers, importers) and in
// DuckDB (query time) on every stored fixture completion.
func TestDetectorsAgreeInGoAndDuckDB(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	ctx := context.Background()
	for _, name := range marker.Names() {
		d, err := marker.Get(name)
		require.NoError(t, err)
		for _, m := range []string{"[ZLT]", "[PROX]"} {
			res, err := e.SQL(ctx, "SELECT text, regexp_matches(text, $1) FROM completions", d.Pattern(m))
			require.NoError(t, err)
			require.Len(t, res.Rows, 9310)
			hits := 0
			for _, r := range res.Rows {
				goHit := d.Hit(m, r[0].(string))
				require.Equal(t, goHit, r[1], "%s %s on %.80q", name, m, r[0])
				if goHit {
					hits++
				}
			}
			require.NotZero(t, hits, "%s %s finds something in the fixtures", name, m)
		}
	}
}

func TestHTTPLeakageAndSQL(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	srv := httptest.NewServer(api.Handler(e, estimands.Analyzer{Engine: e}))
	defer srv.Close()
	get := func(path string, v any) int {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
		return resp.StatusCode
	}
	var lk query.Leakage
	require.Equal(t, 200, get("/api/leakage?experiment=leakage_i81&run=coherence_flags/chef", &lk))
	require.Len(t, lk.Cells, 130)
	for _, c := range lk.Cells {
		if c.Persona == "A2__chef" {
			require.InDelta(t, 0.925, *c.Rate, 1e-12)
		}
	}
	var errBody map[string]string
	require.Equal(t, 400, get("/api/leakage", &errBody))
	require.Contains(t, errBody["error"], "experiment")
	require.Equal(t, 400, get("/api/leakage?experiment=nope", &errBody))
	require.Contains(t, errBody["error"], "unknown experiment")
	require.Equal(t, 400, get("/api/leakage?experiment=leakage_i81&detector=fuzzy", &errBody))
	var sqlRes struct {
		Columns []string `json:"columns"`
		Rows    [][]any  `json:"rows"`
	}
	require.Equal(t, 200, get("/api/sql?q="+url.QueryEscape("SELECT count(*) AS n FROM cells WHERE experiment = 'leakage_i81' AND question = ''"), &sqlRes))
	require.Equal(t, []string{"n"}, sqlRes.Columns)
	require.Equal(t, float64(780), sqlRes.Rows[0][0], "650 source cells + 130 base cells")
	require.Equal(t, 400, get("/api/sql?q="+url.QueryEscape("CREATE TABLE x AS SELECT 1"), &errBody))
	require.Contains(t, errBody["error"], "read-only")
	var runs []query.RunSummary
	require.Equal(t, 200, get("/api/runs?experiment=single_token_100_persona", &runs))
	require.Len(t, runs, 6)
}

func TestHTTPRefusesOversizedSQL(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	srv := httptest.NewServer(api.Handler(e, estimands.Analyzer{Engine: e}))
	defer srv.Close()
	body := "SELECT count(*) FROM completions /*" + strings.Repeat("x", 1<<20) + "*/ WHERE experiment = 'nope'"
	resp, err := http.Post(srv.URL+"/api/sql", "text/plain", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	resp, err = http.Get(srv.URL + "/api/leakage?experiment=leakage_i81&run=nope")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestHTTPSQLGuardsAndValues(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	srv := httptest.NewServer(api.Handler(e, estimands.Analyzer{Engine: e}))
	defer srv.Close()
	get := func(q string) (int, map[string]any) {
		resp, err := http.Get(srv.URL + "/api/sql?q=" + url.QueryEscape(q))
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body), q)
		return resp.StatusCode, body
	}
	code, body := get("SELECT * FROM enable_logging(storage='file', storage_path='/tmp/x')")
	require.Equal(t, 400, code)
	require.Contains(t, body["error"], "enable_logging")
	code, body = get("SELECT count(*) AS n FROM completions")
	require.Equal(t, 200, code, "the server still answers after a refused statement")
	require.Equal(t, float64(9310), body["rows"].([]any)[0].([]any)[0])
	code, body = get("SELECT 'nan'::DOUBLE AS x")
	require.Equal(t, 200, code)
	require.Nil(t, body["rows"].([]any)[0].([]any)[0], "NaN is JSON null")
	code, body = get("SELECT * FROM range(200000)")
	require.Equal(t, 400, code)
	require.Contains(t, body["error"], "too many rows")
	resp, err := http.Get(srv.URL + "/api/leakage?experiment=leakage_i81&run=coherence_flags/base_model&include_base=1")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	resp, err = http.Get(srv.URL + "/api/leakage?experiment=leakage_i81&run=coherence_flags/base_model")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 400, resp.StatusCode, "the base run needs include_base")
}

func TestHTTPParametersAreChecked(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	srv := httptest.NewServer(api.Handler(e, estimands.Analyzer{Engine: e}))
	defer srv.Close()
	for path, code := range map[string]int{
		"/api/leakage?experiment=leakage_i81&detecter=loose": 400,
		"/api/runs?experiment=nope":                          400,
		"/":                                                  200,
		"/api/analyze/self-implant?experiment=leakage_i81&threshold=80": 400,
	} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, code, resp.StatusCode, path)
	}
	resp, err := http.Post(srv.URL+"/api/sql?q="+url.QueryEscape("SELECT 5 AS n"), "text/plain", strings.NewReader(""))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "POST with ?q and an empty body uses q")
}
