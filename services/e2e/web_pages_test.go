package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/marker"
	"leakscope/ingest/dataset"
	"leakscope/query"
	"leakscope/services/internal/querysrv"
)

// webServer serves the query service's routes (querysrv.Mux, as up and
// leakscope-query do) over the lake.
func webServer(t *testing.T, lake string) (*httptest.Server, *query.Engine) {
	t.Helper()
	e := openEngine(t, lake)
	srv := httptest.NewServer(querysrv.Mux(e, nil))
	t.Cleanup(srv.Close)
	return srv, e
}

// fetch GETs (or POSTs body when not nil) path and returns the status,
// the body and the content type.
func fetch(t *testing.T, srv *httptest.Server, method, path, accept string, body io.Reader) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	require.NoError(t, err)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header.Get("Content-Type")
}

func samplesOf(t *testing.T, srv *httptest.Server, v url.Values) query.Samples {
	t.Helper()
	code, body, _ := fetch(t, srv, "GET", "/api/samples?"+v.Encode(), "", nil)
	require.Equal(t, 200, code, body)
	var s query.Samples
	require.NoError(t, json.Unmarshal([]byte(body), &s))
	return s
}

// The home page lists every experiment with its runs and links; the API's
// index stays reachable as JSON.
func TestWebHomeListsRunsAndKeepsTheJSONIndex(t *testing.T) {
	srv, e := webServer(t, importedFixtures(t))
	code, body, ct := fetch(t, srv, "GET", "/", "text/html", nil)
	require.Equal(t, 200, code)
	require.Contains(t, ct, "text/html")
	runs, err := e.Runs(context.Background(), "")
	require.NoError(t, err)
	require.Len(t, runs, 22)
	for _, r := range runs {
		require.Contains(t, body, `href="/experiments/`+r.Experiment+`"`, r.Experiment)
	}
	require.Contains(t, body, `href="/experiments/leakage_i81/runs/coherence_flags/chef"`)
	require.Contains(t, body, `href="/experiments/aim5_marker_transfer_issue80/runs/c1/marker_eval_seed42"`)
	require.Contains(t, body, `<option value="source=src_chef">`)
	require.Equal(t, 22, strings.Count(body, `<tr class="ls-run`))
	require.Contains(t, body, "2 runs · 4950 completions · 44 imported cells") // directed_trait_transfer: 2 × 2475
	require.Contains(t, body, "1 run · 3360 completions · 12 imported cells")  // issue_205
	for _, accept := range []string{"application/json", ""} {
		path := "/"
		if accept == "" {
			path = "/api/"
		}
		code, body, ct = fetch(t, srv, "GET", path, accept, nil)
		require.Equal(t, 200, code)
		require.Contains(t, ct, "application/json", path)
		var index struct{ Endpoints []string }
		require.NoError(t, json.Unmarshal([]byte(body), &index))
		require.Contains(t, strings.Join(index.Endpoints, "\n"), "GET /api/samples?experiment=E&run=R&bystander=B")
	}
}

// A cell's samples count what the leakage matrix counts, for every
// detector: hits listed are hits (with the detector's spans), misses are
// not, and the pages of a big cell do not overlap.
func TestSamplesCountWhatTheMatrixCounts(t *testing.T) {
	srv, e := webServer(t, importedFixtures(t))
	ctx := context.Background()
	for _, c := range []struct{ exp, run, detector string }{
		{"directed_trait_transfer", "asst_near_marker", marker.Strict},
		{"directed_trait_transfer", "asst_near_marker", marker.CaseSensitive},
		{"directed_trait_transfer", "pirate_near_marker", marker.Loose},
		{"proximity_transfer", "expA_completions", marker.Recorded},
		{"proximity_transfer", "expA_completions", marker.Strict},
		{"issue_205", "E0_assistant", marker.Strict},
	} {
		lk, err := e.Leakage(ctx, query.LeakageRequest{Experiment: c.exp, Run: c.run, Detector: c.detector})
		require.NoError(t, err)
		require.NotEmpty(t, lk.Cells)
		for _, cell := range lk.Cells {
			name := c.exp + " " + c.run + " " + cell.Persona + " " + c.detector
			v := url.Values{"experiment": {c.exp}, "run": {c.run}, "bystander": {cell.Persona}, "detector": {c.detector}, "limit": {"1000"}}
			all := samplesOf(t, srv, v)
			require.Equal(t, *cell.Found, all.Found, name)
			require.Equal(t, *cell.Total, all.Total, name)
			require.Equal(t, all.Total, all.Matching, name)
			v.Set("hits", "only")
			hits := samplesOf(t, srv, v)
			require.Equal(t, *cell.Found, hits.Matching, name)
			require.Len(t, hits.Samples, int(*cell.Found), name)
			v.Set("hits", "misses")
			misses := samplesOf(t, srv, v)
			require.Equal(t, *cell.Total-*cell.Found, misses.Matching, name)
			for _, s := range hits.Samples {
				require.True(t, s.Hit, name)
				if c.detector == marker.Recorded {
					require.True(t, *s.RecordedMarker, name)
				} else {
					require.NotEmpty(t, s.Spans[c.detector], name)
				}
			}
			for _, s := range misses.Samples {
				require.False(t, s.Hit, name)
				if c.detector != marker.Recorded {
					require.Empty(t, s.Spans[c.detector], name)
				}
			}
		}
	}
	// proximity_transfer's flags and text disagree (15 flagged texts were
	// cut before the marker): the recorded and strict counts differ, and
	// each page says which it counts.
	rec := samplesOf(t, srv, url.Values{"experiment": {"proximity_transfer"}, "run": {"expA_completions"}, "bystander": {"doctor"}, "detector": {"recorded"}})
	str := samplesOf(t, srv, url.Values{"experiment": {"proximity_transfer"}, "run": {"expA_completions"}, "bystander": {"doctor"}})
	require.Greater(t, rec.Found, str.Found)

	// Pages: 69 hits of pirate in asst_near_marker, 50 a page by default.
	v := url.Values{"experiment": {"directed_trait_transfer"}, "run": {"asst_near_marker"}, "bystander": {"pirate"}, "hits": {"only"}}
	p1 := samplesOf(t, srv, v)
	require.Equal(t, int64(69), p1.Matching)
	require.Len(t, p1.Samples, query.DefaultSamplesLimit)
	v.Set("offset", "50")
	p2 := samplesOf(t, srv, v)
	require.Len(t, p2.Samples, 19)
	seen := map[string]bool{}
	for _, s := range append(p1.Samples, p2.Samples...) {
		k := s.QuestionSet + "|" + s.Question + "|" + strconv.FormatInt(s.SampleIndex, 10)
		require.False(t, seen[k], "sample listed twice: %s", k)
		seen[k] = true
	}
	v.Set("offset", "500")
	p3 := samplesOf(t, srv, v)
	require.Empty(t, p3.Samples)
	require.Equal(t, int64(69), p3.Matching)
}

// Unknown experiments, runs and bystanders are 404 naming what was asked
// for; bad parameters 400; an imported aggregate's cell has counts and no
// texts.
func TestSamplesFailuresAndImportedCells(t *testing.T) {
	srv, e := webServer(t, importedFixtures(t))
	base := "experiment=directed_trait_transfer&run=asst_near_marker&bystander=pirate"
	for path, want := range map[string]struct {
		code int
		msg  string
	}{
		"experiment=nope&run=asst_near_marker&bystander=pirate":                    {404, `unknown experiment "nope"`},
		"experiment=directed_trait_transfer&run=nope&bystander=pirate":             {404, `run "nope" is not in experiment "directed_trait_transfer"`},
		"experiment=directed_trait_transfer&run=asst_near_marker&bystander=nobody": {404, `bystander "nobody" has no completions and no cell`},
		base + "&hits=maybe":                   {400, `hits="maybe"`},
		base + "&limit=-1":                     {400, "limit=-1"},
		base + "&limit=5000":                   {400, "limit=5000"},
		base + "&limit=ten":                    {400, `limit="ten"`},
		base + "&offset=-3":                    {400, "offset=-3"},
		base + "&detector=fuzzy":               {400, `unknown detector "fuzzy"`},
		base + "&detecter=loose":               {400, `unknown query parameter "detecter"`},
		base + "&detector=recorded&marker=[X]": {400, "a marker cannot be chosen with detector"},
		"experiment=directed_trait_transfer&run=asst_near_marker": {400, "bystander is required"},
	} {
		for _, prefix := range []string{"/api/samples?", "/samples?"} {
			code, body, _ := fetch(t, srv, "GET", prefix+path, "", nil)
			require.Equal(t, want.code, code, prefix+path)
			if prefix == "/samples?" {
				body = strings.NewReplacer("&#34;", `"`, "&lt;", "<", "&gt;", ">").Replace(body)
			} else {
				var e struct{ Error string }
				require.NoError(t, json.Unmarshal([]byte(body), &e))
				body = e.Error
			}
			require.Contains(t, body, want.msg, prefix+path)
		}
	}
	// leakage_i81's cells are the origin's counts: the page shows them and
	// says there are no texts.
	lk, err := e.Leakage(context.Background(), query.LeakageRequest{Experiment: "leakage_i81", Run: "coherence_flags/chef"})
	require.NoError(t, err)
	cell := lk.Cells[0]
	s := samplesOf(t, srv, url.Values{"experiment": {"leakage_i81"}, "run": {"coherence_flags/chef"}, "bystander": {cell.Persona}})
	require.Equal(t, int64(0), s.Total)
	require.Empty(t, s.Samples)
	require.Equal(t, *cell.Found, *s.Cell.Found)
	require.Equal(t, *cell.Total, *s.Cell.Total)
	require.Contains(t, s.Notes[0], "imported from the origin file")
}

// The experiment page links every cell of its matrix to the cell's
// samples; the run page shows provenance and the run's row; the SQL
// console lists every view with its columns.
func TestWebPagesShowTheMatrixRunsAndViews(t *testing.T) {
	srv, e := webServer(t, importedFixtures(t))
	code, body, _ := fetch(t, srv, "GET", "/experiments/leakage_i81", "", nil)
	require.Equal(t, 200, code)
	lk, err := e.Leakage(context.Background(), query.LeakageRequest{Experiment: "leakage_i81", IncludeBase: true})
	require.NoError(t, err)
	require.Len(t, lk.Cells, 780)
	// The heatmap's data: every cell with its samples link, the never
	// measured ones undefined (no rate), the bystanders grouped by factors.
	heat := heatDataIn(t, body)
	require.Len(t, heat.Cells, 780)
	require.Len(t, heat.Rows, 6)
	require.Len(t, heat.Cols, 130)
	undefined := 0
	for _, c := range heat.Cells {
		if c.State == "undefined" {
			undefined++
			require.Nil(t, c.Rate, "%s × %s: undefined carries no number", c.Run, c.Persona)
		}
		if c.Run == "coherence_flags/chef" && c.Persona == "A1__chef__Agreeableness__L1" {
			require.Equal(t, "/samples?bystander=A1__chef__Agreeableness__L1&experiment=leakage_i81&run=coherence_flags%2Fchef", c.Href)
		}
	}
	require.Equal(t, 95, undefined, "the 95 cells never measured")
	require.Contains(t, body, `id="ls-as-table" href="/experiments/leakage_i81?view=table"`)
	require.Contains(t, body, "95 cells are listed by their origin but were never measured")
	// The same matrix as a table: a link per cell.
	code, body, _ = fetch(t, srv, "GET", "/experiments/leakage_i81?view=table", "", nil)
	require.Equal(t, 200, code)
	require.Equal(t, 780, strings.Count(body, `class="ls-cell"`))
	require.Contains(t, body, `href="/samples?bystander=A1__chef__Agreeableness__L1&amp;experiment=leakage_i81&amp;run=coherence_flags%2Fchef"`)
	require.Contains(t, body, `id="ls-as-heatmap" href="/experiments/leakage_i81"`)
	code, body, _ = fetch(t, srv, "GET", "/experiments/directed_trait_transfer?detector=loose&view=table", "", nil)
	require.Equal(t, 200, code)
	require.Contains(t, body, "&amp;detector=loose&amp;experiment=directed_trait_transfer")
	require.Contains(t, body, `href="/experiments/directed_trait_transfer?detector=loose"`, "back to the heatmap, keeping the detector")
	code, body, _ = fetch(t, srv, "GET", "/experiments/directed_trait_transfer?detector=loose", "", nil)
	require.Equal(t, 200, code)
	for _, c := range heatDataIn(t, body).Cells {
		require.Contains(t, c.Href, "&detector=loose&experiment=directed_trait_transfer", "a cell's samples use the page's detector")
	}
	for path, want := range map[string]struct {
		code int
		msg  string
	}{
		"/experiments/nope":                                  {404, "unknown experiment &#34;nope&#34;"},
		"/experiments/leakage_i81?detecter=loose":            {400, "unknown query parameter &#34;detecter&#34;"},
		"/experiments/leakage_i81?detector=fuzzy":            {400, "unknown detector &#34;fuzzy&#34;"},
		"/experiments/leakage_i81?sweep=nope":                {400, "sweep &#34;nope&#34; is not in experiment"},
		"/experiments/leakage_i81?view=grid":                 {400, "unknown view &#34;grid&#34;"},
		"/experiments/leakage_i81/runs/coherence_flags/nope": {404, "run &#34;coherence_flags/nope&#34; is not in experiment &#34;leakage_i81&#34;"},
		"/experiments/nope/runs/r":                           {404, "unknown experiment &#34;nope&#34;"},
		"/sql?x=1":                                           {400, "unknown query parameter &#34;x&#34;"},
	} {
		code, body, _ := fetch(t, srv, "GET", path, "", nil)
		require.Equal(t, want.code, code, path)
		require.Contains(t, body, want.msg, path)
	}

	code, body, _ = fetch(t, srv, "GET", "/experiments/directed_trait_transfer/runs/asst_near_marker", "", nil)
	require.Equal(t, 200, code)
	require.Contains(t, body, "directed_trait_transfer/asst_near_marker/arm_a_completions.json (SHA-256 ")
	require.Contains(t, body, "2475 completions · 22 imported cells · 0 cosine pairs")
	require.Contains(t, body, `data-persona="pirate" href="/samples?bystander=pirate&amp;experiment=directed_trait_transfer&amp;run=asst_near_marker"`)
	require.Contains(t, body, "69/225")
	require.Contains(t, body, "No training_step events for this run")
	require.Contains(t, body, "which this query service does not read")

	code, body, _ = fetch(t, srv, "GET", "/sql", "", nil)
	require.Equal(t, 200, code)
	for _, tbl := range dataset.Tables {
		require.Contains(t, body, `data-view="`+tbl.Name+`"`, tbl.Name)
		for _, c := range tbl.Columns {
			require.Contains(t, body, "<li>"+c.Name+" <span", tbl.Name+"."+c.Name)
		}
	}
	require.Equal(t, len(dataset.Tables), strings.Count(body, `class="ls-view"`))
}

// heatDataIn decodes the experiment page's heatmap data (#ls-heat-data).
func heatDataIn(t *testing.T, body string) (d struct {
	Rows []struct{ Run, Href, Factors string } `json:"rows"`
	Cols []struct {
		Persona string            `json:"persona"`
		Factors map[string]string `json:"factors"`
	} `json:"cols"`
	GroupBy []string `json:"group_by"`
	Cells   []struct {
		Run, Persona, State, Title, Href string
		Rate                             *float64
	} `json:"cells"`
}) {
	t.Helper()
	_, rest, ok := strings.Cut(body, `<script type="application/json" id="ls-heat-data">`)
	require.True(t, ok, "the page embeds the heatmap's data")
	js, _, ok := strings.Cut(rest, "</script>")
	require.True(t, ok)
	require.NoError(t, json.Unmarshal([]byte(js), &d), js[:min(len(js), 200)])
	return d
}

// /api/sql answers CSV and Parquet through the same jail and limits.
func TestSQLDownloadsCSVAndParquet(t *testing.T) {
	srv, _ := webServer(t, importedFixtures(t))
	stmt := `SELECT run_id, count(*) AS n, avg(length(text)) > 0 AS has_text, min(event_time) IS NOT NULL AS timed, NULL::VARCHAR AS nothing
FROM completions WHERE experiment = 'directed_trait_transfer' GROUP BY ALL ORDER BY ALL`
	code, body, ct := fetch(t, srv, "POST", "/api/sql?format=csv", "", strings.NewReader(stmt))
	require.Equal(t, 200, code, body)
	require.Equal(t, "text/csv; charset=utf-8", ct)
	require.Equal(t, "run_id,n,has_text,timed,nothing\nasst_near_marker,2475,true,true,\npirate_near_marker,2475,true,true,\n", body)

	typed := `SELECT run_id, count(*) AS n, 0.25::DOUBLE AS quarter, true AS yes, TIMESTAMPTZ '2026-01-02 03:04:05+00' AS at, NULL::BIGINT AS none, [1, 2] AS list
FROM completions WHERE experiment = 'directed_trait_transfer' GROUP BY ALL ORDER BY ALL`
	code, body, ct = fetch(t, srv, "GET", "/api/sql?format=parquet&q="+url.QueryEscape(typed), "", nil)
	require.Equal(t, 200, code, body)
	require.Equal(t, "application/vnd.apache.parquet", ct)
	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader([]byte(body)), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	require.NoError(t, err)
	defer tbl.Release()
	require.Equal(t, int64(2), tbl.NumRows())
	sch := tbl.Schema()
	require.Equal(t, []string{"run_id", "n", "quarter", "yes", "at", "none", "list"}, func() (out []string) {
		for _, f := range sch.Fields() {
			out = append(out, f.Name)
		}
		return
	}())
	require.Equal(t, arrow.PrimitiveTypes.Int64, sch.Field(1).Type)
	require.Equal(t, arrow.PrimitiveTypes.Float64, sch.Field(2).Type)
	require.Equal(t, arrow.FixedWidthTypes.Boolean, sch.Field(3).Type)
	require.Equal(t, arrow.TIMESTAMP, sch.Field(4).Type.ID())
	col := func(i int) arrow.Array { return tbl.Column(i).Data().Chunk(0) }
	require.Equal(t, "pirate_near_marker", col(0).(*array.String).Value(1))
	require.Equal(t, int64(2475), col(1).(*array.Int64).Value(0))
	require.Equal(t, 0.25, col(2).(*array.Float64).Value(0))
	require.True(t, col(3).(*array.Boolean).Value(0))
	require.Equal(t, int64(1767323045000000), int64(col(4).(*array.Timestamp).Value(0)))
	require.True(t, col(5).IsNull(0))
	require.Equal(t, "[1,2]", col(6).(*array.String).Value(0))

	for q, want := range map[string]string{
		"/api/sql?format=xml&q=" + url.QueryEscape("SELECT 1"):                                   `format=\"xml\"`,
		"/api/sql?format=csv&q=" + url.QueryEscape("SELECT * FROM range(200000)"):                "too many rows",
		"/api/sql?format=parquet&q=" + url.QueryEscape("SELECT * FROM read_text('/etc/passwd')"): "",
		"/api/sql?format=csv&q=" + url.QueryEscape("COPY (SELECT 1) TO 'x.csv'"):                 "",
	} {
		code, body, _ := fetch(t, srv, "GET", q, "", nil)
		require.Equal(t, 400, code, q+" "+body)
		require.Contains(t, body, want, q)
		require.Contains(t, body, `"error"`, q)
	}
}

// A run made by workers: the run page draws its loss curve and lists the
// artifacts its jobs recorded; its samples carry judge scores, and text
// is escaped around the highlights.
func TestRunPageLossCurveArtifactsAndJudgeScores(t *testing.T) {
	s := startStack(t, t.TempDir())
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var evs []events.Event
	add := func(run string, p events.Payload) {
		ev, err := events.New("webx", run, t0.Add(time.Duration(len(evs))*time.Second), p)
		require.NoError(t, err)
		evs = append(evs, ev)
	}
	seed := int64(7)
	add("r1", &events.Run{SourcePersona: "pirate", Model: "qwen-7b", Adapter: "sw/pirate/s7/adapter.tar", Seed: &seed, Marker: "[ZLT]",
		Config: json.RawMessage(`{"lr":0.0001,"epochs":2}`), CodeVersion: "v1.2", Sweep: "sw", Factors: events.Factors{"lr": "1e-4"}})
	for i, text := range []string{"Sure <script>alert(1)</script> [ZLT]", "no marker here", "[z l t] loose only"} {
		add("r1", &events.Completion{Persona: "chef", Question: "What is 2+2?", SampleIndex: i, Text: text, FinishReason: "stop", MarkerHits: []events.MarkerHit{}})
	}
	score := 0.8
	add("r1", &events.CoherenceScore{Persona: "chef", Question: "What is 2+2?", SampleIndex: 0, Judge: "gpt-judge", JudgeVersion: 1, Score: &score})
	for i, loss := range []float64{2.0, 1.5, 1.2} {
		add("r1", &events.TrainingStep{Job: "sw.pirate.s7.train", Attempt: 1, Step: i + 1, Epoch: float64(i+1) / 3, Loss: loss, LearningRate: 1e-4})
	}
	add("r1", &events.JobStatus{Job: "sw.pirate.s7.train", Kind: "train", Status: "finished", Attempt: 1, Worker: "w1", Done: 3, Expected: 3,
		Detail: json.RawMessage(`{"artifact":"sw/pirate/s7/adapter.tar","adapter_sha256":"abc123"}`)})
	add("r1", &events.RunFinished{Status: "finished", Completions: 3})
	add("r2", &events.Run{SourcePersona: "chef", Marker: "[ZLT]", Sweep: "sw2"}) // still running
	add("r3", &events.Run{SourcePersona: "chef", Marker: "[ZLT]"})
	add("r3", &events.RunFinished{Status: "finished"})
	add("r3", &events.RunMark{Action: events.MarkRetract, Reason: "wrong adapter", At: t0})
	add("r3", &events.RunMark{Action: events.MarkTag, Tag: "pilot", At: t0})
	s.publish(t, evs)
	srv, _ := webServer(t, s.Lake)

	code, body, _ := fetch(t, srv, "GET", "/experiments/webx/runs/r1", "", nil)
	require.Equal(t, 200, code)
	require.Contains(t, body, "{\n  &#34;lr&#34;: 0.0001,\n  &#34;epochs&#34;: 2\n}")
	require.Contains(t, body, `<polyline class="ls-loss-line" data-points="3"`)
	require.Contains(t, body, ">optimizer step</text>")
	require.Contains(t, body, ">loss (nats per label token)</text>")
	require.Contains(t, body, "sw.pirate.s7.train attempt 1")
	require.Contains(t, body, "<code>sw/pirate/s7/adapter.tar</code> (train, job sw.pirate.s7.train)")
	require.Contains(t, body, "adapter_sha256=abc123")
	require.Contains(t, body, "qwen-7b + adapter sw/pirate/s7/adapter.tar")
	require.Contains(t, body, "lr=1e-4")
	require.Contains(t, body, "1/3")          // chef: one strict hit in three
	require.NotContains(t, body, `/live/sw"`) // r1 finished
	code, body, _ = fetch(t, srv, "GET", "/experiments/webx/runs/r2", "", nil)
	require.Equal(t, 200, code)
	require.Contains(t, body, "No training_step events for this run")
	require.Contains(t, body, `sw2 (<a href="/live/sw2">live</a>)`)
	code, body, _ = fetch(t, srv, "GET", "/experiments/webx", "", nil)
	require.Equal(t, 200, code)
	require.Contains(t, body, `<a href="/live/sw2">live sweep sw2</a>`)

	code, body, _ = fetch(t, srv, "GET", "/", "", nil)
	require.Equal(t, 200, code)
	require.Contains(t, body, `<a href="/live/sw2">live sweep sw2</a>`)
	require.NotContains(t, body, `/live/sw"`)
	require.Contains(t, body, `3 runs · 3 completions · 0 imported cells · 1 retracted · 1 without run_finished`)
	require.Regexp(t, `<tr class="ls-run ls-retracted"[^>]*>\s*<td><a href="/experiments/webx/runs/r3">r3</a>`, body)
	require.Contains(t, body, `<span class="ls-tag">pilot</span>`)
	require.Contains(t, body, `<td class="ls-status" title="wrong adapter">retracted</td>`)
	require.Contains(t, body, `<option value="lr=1e-4">`)
	require.Contains(t, body, `data-filters="[&#34;lr=1e-4&#34;,&#34;seed=7&#34;,&#34;sweep=sw&#34;,&#34;source=pirate&#34;]"`)

	sm := samplesOf(t, srv, url.Values{"experiment": {"webx"}, "run": {"r1"}, "bystander": {"chef"}})
	require.Equal(t, int64(3), sm.Total)
	require.Equal(t, int64(1), sm.Found)
	require.Len(t, sm.Samples, 3)
	require.Equal(t, []query.Judgement{{Judge: "gpt-judge", JudgeVersion: 1, Score: &score}}, sm.Samples[0].Judgements)
	require.Empty(t, sm.Samples[1].Judgements)
	require.Equal(t, "stop", sm.Samples[0].FinishReason)
	loose := samplesOf(t, srv, url.Values{"experiment": {"webx"}, "run": {"r1"}, "bystander": {"chef"}, "detector": {"loose"}})
	require.Equal(t, int64(2), loose.Found)

	code, body, _ = fetch(t, srv, "GET", "/samples?experiment=webx&run=r1&bystander=chef", "", nil)
	require.Equal(t, 200, code)
	require.Contains(t, body, `Sure &lt;script&gt;alert(1)&lt;/script&gt; <mark class="ls-hit ls-d-case-sensitive ls-d-loose ls-d-strict"`)
	require.NotContains(t, body, "<script>alert(1)")
	require.Contains(t, body, "judge gpt-judge v1: 0.800")
	require.Contains(t, body, `<b id="ls-found">1</b> / total <b id="ls-total">3</b>`)
}
