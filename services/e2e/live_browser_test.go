package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/gpuworker/replay"
	"leakscope/gpuworker/runner"
	"leakscope/gpuworker/sweep"
	"leakscope/query/live"
	"leakscope/services/internal/querysrv"
)

// liveSweepSpec is a replay sweep of #81 size: 5 sources × the 130
// bystanders of the i81 grid and the assistant, 2 questions × n=10 = 20
// completions a cell, 13,100 in all (the size of the page, not of the
// original's n).
const liveSweepSpec = `
sweep: lg81-sweep001
experiment: livepage
model: replay-no-model
marker: "[ZLT]"
seeds: [42]
sources:
  - {key: src_person, prompt: "You are a person.", negatives: [police_officer]}
  - {key: src_chef,   prompt: "You are a chef.",   negatives: [comedian]}
  - {key: src_pirate, prompt: "You are a pirate.", negatives: [villain]}
  - {key: src_child,  prompt: "You are a child.",  negatives: [comedian]}
  - {key: src_robot,  prompt: "You are a robot.",  negatives: [villain]}
bystanders: {grid: i81}
eval_questions: [q1, q2]
data_questions: [d1, d2]
eval: {n: 10, base_model: false}
`

// liveCompletions are a run's completions, cell by cell in plan order;
// the marker rate of a cell steps with its column (0, 0.1, …, 1) so the
// heatmap shows the whole colour scale.
func liveCompletions(s sweep.Spec, run int) []events.Completion {
	var out []events.Completion
	for ci, c := range s.EvalPlan() {
		hits := (ci + run) % 11 * 2 // of 20
		for qi, q := range s.EvalQuestions {
			for i := range s.Eval.N {
				text := "an answer"
				if qi*s.Eval.N+i < hits {
					text += " [ZLT]"
				}
				out = append(out, events.Completion{Persona: c.Persona, Question: q, SampleIndex: i, Text: text, FinishReason: "stop"})
			}
		}
	}
	return out
}

// The live page in headless Chromium (network blocked but loopback) at
// 1440 × 900, on a replay sweep of #81 size whose plan is published as
// `sweep submit` publishes it: /live/lg81 waits for the sweep, then moves
// to lg81-sweep001; at 10 % of the sweep's completions (half of its first
// run) the page reads 10 %, not the started run's 50 %; the heatmap fits
// the window's width (no horizontal scroll) at its default zoom and when
// zoomed in; a cell's tooltip gives n / expected, rate, CI and hits; at
// the end the counts are the lake's. Screenshots go to $LEAKSCOPE_TEST_OUT;
// no console errors.
func TestLivePageInChromium(t *testing.T) {
	tab := newBrowserTab(t, 1440, 900)
	spec, err := sweep.Parse("live sweep", []byte(liveSweepSpec))
	require.NoError(t, err)
	st := startStack(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agg := live.New()
	go func() { _ = agg.Run(ctx, st.Bus) }()
	srv := httptest.NewServer(querysrv.Mux(openEngine(t, st.Lake), agg))
	defer func() { srv.CloseClientConnections(); srv.Close() }() // the page's event stream stays open
	text := func(id string) string {
		t.Helper()
		return evalJS[string](t, tab, `(document.getElementById('`+id+`') || {textContent: ''}).textContent`)
	}
	noHorizontalScroll := func(when string) {
		t.Helper()
		w := evalJS[[2]float64](t, tab, `[document.documentElement.scrollWidth, window.innerWidth]`)
		require.LessOrEqual(t, w[0], w[1], "%s: the page scrolls sideways (scrollWidth %v > innerWidth %v)", when, w[0], w[1])
	}

	// Before the sweep is submitted, /live/lg81 waits for it.
	require.NoError(t, chromedp.Do(tab.Ctx, chromedp.Navigate(srv.URL+"/live/lg81")))
	require.Contains(t, text("waiting"), "Waiting for a sweep named lg81")

	// Submission: the whole plan, before any run starts.
	planned, err := spec.PlannedRuns(time.Now())
	require.NoError(t, err)
	require.Len(t, planned, 5)
	st.publish(t, planned)
	require.Eventually(t, func() bool {
		path, _ := chromedp.Run(tab.Ctx, chromedp.Evaluate[string](`location.pathname`))
		return path == "/live/lg81-sweep001"
	}, 15*time.Second, 100*time.Millisecond, "the waiting page moves to the one sweep lg81 begins")

	pub := testPublisher{st}
	runs := make([]*runner.Runner, 5)
	start := func(i int) {
		src := spec.Sources[i]
		seed := spec.Seeds[0]
		r, err := runner.Start(ctx, runner.Config{Experiment: spec.Experiment, RunID: spec.RunID(src.Key, seed), Worker: "replay-" + src.Key, Heartbeat: 300 * time.Millisecond}, pub,
			&events.Run{SourcePersona: src.Key, SourcePrompt: src.Prompt, Marker: spec.Marker, Sweep: spec.Sweep, Seed: &seed, Plan: spec.EvalPlan()})
		require.NoError(t, err)
		runs[i] = r
	}
	// 10 % of the sweep: the first 1,310 completions of the first run — 65
	// cells done, the 66th partial (10 of 20), the rest pending.
	start(0)
	first := liveCompletions(spec, 0)
	require.Len(t, first, 2620)
	_, err = replay.Run(ctx, runs[0], first[:1310], replay.Options{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return agg.Snapshot(spec.Sweep).Done == 1310 }, 30*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return text("done") == "1,310" }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, "13,100", text("expected"), "the whole plan of five runs")
	pct, err := strconv.ParseFloat(strings.TrimSuffix(text("pct"), " %"), 64)
	require.NoError(t, err, text("pct"))
	require.InDelta(t, 10, pct, 0.5, "progress at 10 %% of the sweep reads %v %%", pct)
	require.Equal(t, "1", text("started"))
	require.Equal(t, "5", text("planned"))
	noHorizontalScroll("default zoom")
	// Columns without the inner grouping factor (A2, assistant) are
	// labelled by their bystanders or outer group, never by a dash.
	inner := evalJS[struct {
		G1     string
		Dashes int
		Texts  []string
	}](t, tab, `(() => { const G = window.liveMap.geo();
		const no = G.labels.filter(l => l.factor === G.g1 && G.val(G.cols[l.from], G.g1) == null);
		return {G1: G.g1 || '', Dashes: G.labels.filter(l => l.text === '—').length, Texts: no.map(l => l.text+' ['+(l.to-l.from+1)+' × '+G.cw+' px]')} })()`)
	t.Logf("labels of the groups without %s: %q", inner.G1, inner.Texts)
	require.Zero(t, inner.Dashes)
	// Every column has a non-empty label on each grouping line.
	unlabelled := evalJS[int](t, tab, `(() => { const G = window.liveMap.geo(); let n = 0;
		for(const f of [G.g0, G.g1].filter(f => f)) for(let i = 0; i < G.cols.length; i++) if(!G.labels.some(l => l.factor === f && l.from <= i && i <= l.to && l.text)) n++;
		return n })()`)
	require.Zero(t, unlabelled, "columns under a group line without a label")
	require.NotEmpty(t, inner.Texts, "columns without %q", inner.G1)
	for _, txt := range inner.Texts {
		require.NotRegexp(t, `^ \[`, txt, "every group without %q is labelled: %q", inner.G1, inner.Texts)
	}

	// The heatmap: 5 rows × 131 columns inside the window, cells drawn by
	// state (pixels read back from the canvas).
	type geometry struct {
		Cols, Runs, Row, CW, Width, Wrap                   float64
		Done, WantDone, PartialTop, PartialBottom, Pending []float64
		Other                                              []float64
		X, Y                                               float64
	}
	geo := evalJS[geometry](t, tab, `(() => { const m = window.liveMap, G = m.geo(), c = document.getElementById('lv-map'), g = c.getContext('2d'), d = window.devicePixelRatio || 1;
		const ri = G.rows.findIndex(r => r.status === 'running');
		const px = (ci, r, dy) => Array.from(g.getImageData(Math.round((G.xs[ci] + 1) * d), Math.round((G.headH + r * G.ch + dy) * d), 1, 1).data).slice(0, 3);
		const rgb = s => s.match(/\d+/g).map(Number);
		const run = G.rows[ri].run_id, cell = m.snap().cells.find(c => c.run_id === run && c.persona === G.cols[0].persona);
		const r = c.getBoundingClientRect();
		return {Cols: G.cols.length, Runs: G.rows.length, Row: ri, CW: G.cw, Width: r.width, Wrap: document.getElementById('lv-wrap').clientWidth,
			Done: px(0, ri, G.ch / 2), WantDone: rgb(lsColor(cell.rate)), PartialTop: px(65, ri, 1), PartialBottom: px(65, ri, G.ch - 3),
			Pending: px(66, ri, G.ch / 2), Other: px(0, ri === 0 ? 1 : 0, G.ch / 2),
			X: r.left + G.xs[0] + G.cw / 2, Y: r.top + G.headH + ri * G.ch + G.ch / 2} })()`)
	require.Equal(t, []float64{131, 5}, []float64{geo.Cols, geo.Runs})
	require.LessOrEqual(t, geo.Width, geo.Wrap, "the map fits its box at the default zoom")
	require.GreaterOrEqual(t, geo.CW, 4.0, "cells stay readable: %v px", geo.CW)
	pending := []float64{0xee, 0xf1, 0xf4}
	require.Equal(t, geo.WantDone, geo.Done, "a done cell is its rate's colour (lsColor, viridis)")
	require.Equal(t, pending, geo.Pending, "planned, none yet: pending grey")
	require.Equal(t, pending, geo.Other, "a run not started: pending")
	require.Equal(t, pending, geo.PartialTop, "a partial cell fills from the bottom, n / expected of its height")
	require.NotEqual(t, pending, geo.PartialBottom)

	// Hover the first cell of the started run: its counts in the tooltip.
	require.NoError(t, chromedp.Do(tab.Ctx, chromedp.MouseEvent("mouseMoved", geo.X, geo.Y)))
	tip := text("lv-tip")
	require.Contains(t, tip, "n 20 / 20 expected")
	require.Contains(t, tip, "95 % Wilson CI")
	require.Regexp(t, `rate \d\.\d{3} \(fraction\)`, tip)
	require.Contains(t, tip, "run lg81-sweep001-src_person-s42")
	tab.Screenshot(t, "live_10pct_1440x900")

	// Zoomed in, the map scrolls inside its box; the page still does not.
	zoomed := evalJS[[2]float64](t, tab, `(() => { for (let i = 0; i < 3; i++) document.getElementById('lv-zin').click();
		const w = document.getElementById('lv-wrap'); return [w.scrollWidth, w.clientWidth] })()`)
	require.Greater(t, zoomed[0], zoomed[1], "zoomed in, the map is wider than its box")
	noHorizontalScroll("zoomed in")
	evalJS[bool](t, tab, `document.getElementById('lv-zfit').click() || true`)

	// The rest of the sweep.
	_, err = replay.Run(ctx, runs[0], first[1310:], replay.Options{})
	require.NoError(t, err)
	require.NoError(t, runs[0].Finish(ctx, nil))
	last := runs[0].LastSeq()
	for i := 1; i < 5; i++ {
		start(i)
		_, err = replay.Run(ctx, runs[i], liveCompletions(spec, i), replay.Options{})
		require.NoError(t, err)
		require.NoError(t, runs[i].Finish(ctx, nil))
		last = max(last, runs[i].LastSeq())
	}
	require.NoError(t, st.Bus.WaitDurable(ctx, last, nil))
	require.Eventually(t, func() bool { return text("status") == "finished" }, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, "13,100", text("done"))
	require.Equal(t, "100.0 %", text("pct"))
	noHorizontalScroll("finished")
	// A finished sweep's stream is closed, so the page finishes loading
	// (a headless browser's --virtual-time-budget waited for it forever).
	require.Eventually(t, func() bool { return evalJS[bool](t, tab, `window.liveClosed === true`) }, 10*time.Second, 100*time.Millisecond)
	snap := agg.Snapshot(spec.Sweep)
	requireLiveEqualsLake(t, snap, st.Lake, spec.Experiment)
	res, err := openEngine(t, st.Lake).SQL(ctx, "SELECT count(*) FROM completions WHERE experiment = 'livepage'")
	require.NoError(t, err)
	require.Equal(t, text("done"), fmt.Sprintf("%d,%03d", res.Rows[0][0].(int64)/1000, res.Rows[0][0].(int64)%1000), "the page's count is the lake's")
	tab.Screenshot(t, "live_finished_1440x900")

	// A click on a cell opens its completions (/samples), counted as the
	// live cell counts them.
	hit := evalJS[struct {
		X, Y      float64
		N, Hits   int
		Run, Pers string
	}](t, tab, `(() => { const G = window.liveMap.geo(), c = document.getElementById('lv-map'), r = c.getBoundingClientRect();
		const row = G.rows[1], col = G.cols[3], cell = window.liveMap.snap().cells.find(c => c.run_id === row.run_id && c.persona === col.persona);
		return {X: r.left + G.xs[3] + G.cw / 2, Y: r.top + G.headH + G.ch * 1.5, N: cell.n, Hits: cell.hits, Run: row.run_id, Pers: col.persona} })()`)
	clickCtx, cancelClick := context.WithTimeout(tab.Ctx, 30*time.Second)
	require.NoError(t, chromedp.Do(clickCtx, chromedp.MouseClickXY(hit.X, hit.Y), chromedp.WaitVisible(chromedp.CSS("#ls-found"))),
		"the cell opens its samples; the page is at %s", evalJS[string](t, tab, `location.href`))
	cancelClick()
	require.Equal(t, "/samples?experiment=livepage&run="+url.QueryEscape(hit.Run)+"&bystander="+url.QueryEscape(hit.Pers),
		evalJS[string](t, tab, `location.pathname + location.search`))
	require.Equal(t, strconv.Itoa(hit.Hits), text("ls-found"))
	require.Equal(t, strconv.Itoa(hit.N), text("ls-total"))

	// A second sweep beginning lg81: /live/lg81 lists both. Its run "b"
	// plans only the last 6 bystanders: the others are hatched (not
	// planned), unlike the flat grey of its planned, pending ones.
	plan := spec.EvalPlan()
	var second []events.Event
	for run, p := range map[string][]events.PlannedCell{"a": plan, "b": plan[125:]} {
		e, err := events.New(spec.Experiment, run, time.Now(), &events.RunPlanned{Sweep: "lg81-sweep002", Plan: p})
		require.NoError(t, err)
		second = append(second, e)
	}
	st.publish(t, second)
	require.Eventually(t, func() bool { return len(agg.Resolve("lg81")) == 2 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, chromedp.Do(tab.Ctx, chromedp.Navigate(srv.URL+"/live/lg81")))
	list := evalJS[string](t, tab, `document.querySelector('main').innerText`)
	require.Contains(t, list, "Several sweeps begin with lg81")
	require.Contains(t, list, "lg81-sweep001")
	require.Contains(t, list, "lg81-sweep002")
	require.NoError(t, chromedp.Do(tab.Ctx, chromedp.Navigate(srv.URL+"/live/lg81-sweep002")))
	require.Eventually(t, func() bool {
		n, _ := chromedp.Run(tab.Ctx, chromedp.Evaluate[int](`(window.liveMap && window.liveMap.geo()) ? window.liveMap.geo().rows.length : 0`))
		return n == 2
	}, 10*time.Second, 50*time.Millisecond)
	cells := evalJS[[][]float64](t, tab, `(() => { const G = window.liveMap.geo(), g = document.getElementById('lv-map').getContext('2d'), d = window.devicePixelRatio || 1;
		const ri = G.rows.findIndex(r => r.run_id === 'b'), out = [];
		for (const ci of [0, 125]) { const im = g.getImageData(Math.round(G.xs[ci] * d), Math.round((G.headH + ri * G.ch) * d), Math.round((G.cw - 1) * d), Math.round((G.ch - 1) * d)).data;
			const seen = new Set(); for (let i = 0; i < im.length; i += 4) seen.add(im[i] * 65536 + im[i + 1] * 256 + im[i + 2]); out.push([...seen]) }
		return out })()`)
	require.Contains(t, cells[0], float64(0xffffff), "not planned: hatched (white with grey lines)")
	require.Greater(t, len(cells[0]), 1, "not planned: hatched, not flat")
	require.NotContains(t, cells[0], float64(0xeef1f4), "not planned is not pending")
	require.Equal(t, []float64{0xeef1f4}, cells[1], "planned, none yet: flat pending grey")
	tab.Screenshot(t, "live_not_planned_1440x900")
	require.Empty(t, tab.ConsoleErrors())
}

// evalJS evaluates js in the tab and decodes its value as T.
func evalJS[T any](t *testing.T, tab *browserTab, js string) T {
	t.Helper()
	v, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}
