package live

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

func get(t *testing.T, h http.Handler, path, accept string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// /live/NAME: a sweep of that name is its page (in the shared frame); a
// prefix of one sweep's name redirects to it; of several lists them; of
// none waits, listing the sweeps seen. /live/ lists the sweeps.
func TestHandlerFindsSweepsByPrefix(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	a := New()
	h := Handler(a)

	res, body := get(t, h, "/live/lg81", "")
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, body, "Waiting for a sweep named <code>lg81</code>")
	require.Contains(t, body, "No sweep seen yet")
	require.Contains(t, body, `href="/assets/leakscope.css"`, "the shared look")

	fiveRunPlan(t, a, t0)
	res, _ = get(t, h, "/live/lg81", "")
	require.Equal(t, http.StatusFound, res.StatusCode)
	require.Equal(t, "/live/lg81-sweep001", res.Header.Get("Location"))

	res, body = get(t, h, "/live/lg81-sweep001", "")
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, body, `const sweep = "lg81-sweep001"`)
	require.Contains(t, body, `<script src="/assets/leakscope-heatmap.js"></script>`, "the shared heatmap")
	require.Contains(t, body, `lsHeatmap($('lv-heatmap'), {id: 'lv'`)
	require.Contains(t, body, "/assets/leakscope.js")

	a.Apply(ev(t, "x", t0, &events.RunPlanned{Sweep: "lg81-sweep002", Plan: []events.PlannedCell{{Persona: "p", Expected: 1}}}))
	res, body = get(t, h, "/live/lg81", "")
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, body, "Several sweeps begin with <code>lg81</code>")
	require.Contains(t, body, `<a href="/live/lg81-sweep001">`)
	require.Contains(t, body, `<a href="/live/lg81-sweep002">`)

	_, body = get(t, h, "/live/demo", "")
	require.Contains(t, body, "Waiting for a sweep named <code>demo</code>")
	require.Contains(t, body, `<a href="/live/lg81-sweep002">`, "the sweeps seen while waiting")

	_, body = get(t, h, "/live/", "")
	require.Contains(t, body, `<table class="ls" id="sweeps">`)
	require.Contains(t, body, "0 / 200")
	_, body = get(t, h, "/live/?format=json", "")
	var j struct {
		Sweeps    []string       `json:"sweeps"`
		Summaries []SweepSummary `json:"summaries"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &j))
	require.Equal(t, []string{"lg81-sweep001", "lg81-sweep002"}, j.Sweeps)
	require.Equal(t, 200, j.Summaries[0].Expected)
	_, body = get(t, h, "/live/", "application/json")
	require.Contains(t, body, `"sweeps":["lg81-sweep001","lg81-sweep002"]`)

	// A name from the URL is text, never markup.
	_, body = get(t, h, "/live/%3Cb%3Ex", "")
	require.Contains(t, body, "&lt;b&gt;x")
	require.NotContains(t, body, "<b>x")
}

// Attack: /live/NAME with a name no sweep can have (CRLF and a header, a
// full URL, //host, a backslash). It never redirects or echoes a header;
// it was a page waiting forever for that sweep, now a 404 that says why.
func TestHandlerRefusesNamesNoSweepCanHave(t *testing.T) {
	a := New()
	h := Handler(a)
	for _, p := range []string{"/live/a%0d%0aSet-Cookie:x=1", "/live/http:%2F%2Fevil.example", "/live/%2F%2Fevil.example", "/live/%5C%5Cevil.example", "/live/.x"} {
		res, body := get(t, h, p, "")
		require.Equal(t, http.StatusNotFound, res.StatusCode, p)
		require.Empty(t, res.Header.Get("Location"), p)
		require.Empty(t, res.Header.Get("Set-Cookie"), p)
		require.Contains(t, body, `id="invalid"`, p)
		require.NotContains(t, body, "Waiting for a sweep", p)
	}
}
