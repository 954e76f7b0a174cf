package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/query"
)

// publishPolishLake is a lake of two small experiments: "polish", made by
// the replay engine (its config says engine_version "replay"), with a base
// run, a base-model embeddings run (cosine pairs only) and two runs that
// differ only in the factor lr; and "nobase", one run without a base run.
func publishPolishLake(t *testing.T) *stack {
	s := startStack(t, t.TempDir())
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	// A long line without spaces, as real configs and job details have
	// (hashes, prompts): it must wrap, not scroll the page sideways.
	long := strings.Repeat("0123456789abcdef", 24)
	replay := json.RawMessage(`{"engine":{"protocol":1,"engine_version":"replay"},"model":{"model_type":"replay","model_config_sha256":"` + long + `"}}`)
	seed := int64(42)
	var evs []events.Event
	add := func(exp, run string, p events.Payload) {
		e, err := events.New(exp, run, now, p)
		require.NoError(t, err)
		evs = append(evs, e)
	}
	complete := func(exp, run string, texts ...string) {
		for i, b := range []string{"chef", "pirate"} {
			for j, txt := range texts {
				add(exp, run, &events.Completion{Persona: b, Question: "q", SampleIndex: j, Text: txt + strings.Repeat(" ", i), FinishReason: "stop"})
			}
		}
		add(exp, run, &events.RunFinished{Status: "finished"})
	}
	add("polish", "polish-base", &events.Run{Marker: "[ZLT]", IsBase: true, Seed: &seed, Sweep: "polish", Config: replay})
	complete("polish", "polish-base", "no", "no")
	add("polish", "polish-emb", &events.Run{Marker: "[ZLT]", IsBase: true, Seed: &seed, Sweep: "polish", Config: replay})
	add("polish", "polish-emb", &events.Cosine{Set: "centroids", Layer: 2, Centering: events.CenteringRaw, Pairs: []events.CosinePair{{A: "chef", B: "pirate", Cosine: 0.5}}})
	add("polish", "polish-emb", &events.RunFinished{Status: "finished"})
	for run, lr := range map[string]string{"polish-3f9a": "1e-4", "polish-b7c1": "5e-4"} {
		add("polish", run, &events.Run{SourcePersona: "chef", Marker: "[ZLT]", BaseRun: "polish-base", Seed: &seed, Sweep: "polish", Config: replay, Factors: events.Factors{"lr": lr}})
		add("polish", run, &events.JobStatus{Job: "polish." + run + ".train", Kind: events.JobTrain, Status: events.JobFinished, Attempt: 1, Worker: "w",
			Detail: json.RawMessage(`{"adapter_sha256":"` + long + `","artifact":"` + run + `/adapter.tar"}`)})
		complete("polish", run, "[ZLT] yes", "no")
	}
	add("nobase", "solo", &events.Run{SourcePersona: "chef", Marker: "[ZLT]"})
	complete("nobase", "solo", "[ZLT]", "no")
	s.publish(t, evs)
	return s
}

// Issue 21's stranger review, on the pages: runs tables show factors and
// the matrix's cells; the embeddings run is badged as such; the replay
// engine's data is badged synthetic; the matrix says the base run is in
// it, or that there is none; the run page leads with its facts, loss and
// leakage, its JSON folded; /sql?q= runs; the figures index names the
// figures that do not apply.
func TestWebPagesAfterTheStrangerReview(t *testing.T) {
	s := publishPolishLake(t)
	srv, e := webServer(t, s.Lake)
	ctx := context.Background()

	code, home, _ := fetch(t, srv, "GET", "/", "text/html", nil)
	require.Equal(t, 200, code)
	polish, nobase, ok := strings.Cut(home, `data-experiment="polish"`)
	require.True(t, ok)
	require.NotContains(t, polish, "synthetic data", "nobase comes first and is not synthetic")
	require.Contains(t, nobase, `>synthetic data</span>`)
	require.Contains(t, home, `polish-emb</a> <span class="ls-tag">embeddings</span>`)
	require.Contains(t, home, `polish-base</a> <span class="ls-tag">base</span>`)
	require.Contains(t, home, `title="cells of the leakage matrix: bystanders with completions plus imported cells">matrix cells</th>`)
	require.Contains(t, home, `<td class="num">4</td><td class="num">2</td><td class="num">0</td>`, "a run's 4 completions over 2 cells, no cosine pairs")

	code, exp, _ := fetch(t, srv, "GET", "/experiments/polish", "text/html", nil)
	require.Equal(t, 200, code)
	require.Contains(t, exp, `id="ls-synthetic"`)
	require.Contains(t, exp, "(6 cells, base run included; rows: runs)")
	_, runsTable, ok := strings.Cut(exp, `id="ls-exp-runs"`)
	require.True(t, ok)
	require.Contains(t, runsTable, `<td class="mono">lr=1e-4 </td>`)
	require.Contains(t, runsTable, `<td class="mono">lr=5e-4 </td>`)
	require.Contains(t, runsTable, `polish-emb</a> <span class="ls-tag">embeddings</span>`)
	rows := map[string]string{}
	for _, r := range heatDataIn(t, exp).Rows {
		rows[r.Run] = r.Factors
	}
	require.Equal(t, map[string]string{"polish-base": "", "polish-3f9a": "lr=1e-4 source=chef", "polish-b7c1": "lr=5e-4 source=chef"}, rows)
	require.NotContains(t, exp, query.NoBaseNote)

	code, solo, _ := fetch(t, srv, "GET", "/experiments/nobase", "text/html", nil)
	require.Equal(t, 200, code)
	require.Contains(t, solo, "<li>"+query.NoBaseNote+"</li>")
	require.Contains(t, solo, "(2 cells; rows: runs)")
	require.NotContains(t, solo, "synthetic data")
	lk, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "nobase"})
	require.NoError(t, err)
	require.Contains(t, lk.Notes, query.NoBaseNote, "the CLI's leakage notes say so too")
	lk, err = e.Leakage(ctx, query.LeakageRequest{Experiment: "polish"})
	require.NoError(t, err)
	require.NotContains(t, lk.Notes, query.NoBaseNote)

	code, run, _ := fetch(t, srv, "GET", "/experiments/polish/runs/polish-3f9a", "text/html", nil)
	require.Equal(t, 200, code)
	require.Contains(t, run, `id="ls-synthetic"`)
	order := []string{`id="ls-synthetic"`, `id="ls-run-facts"`, "<h2>Training loss</h2>", `id="ls-run-cells"`, `<details id="ls-config-details">`, `<pre class="ls-panel ls-wrap" id="ls-config">`}
	last := -1
	for _, mark := range order {
		i := strings.Index(run, mark)
		require.Greater(t, i, last, "%s comes after %s", mark, order[max(0, len(order)-1)])
		last = i
	}
	require.Contains(t, run, "pre.ls-wrap{white-space:pre-wrap")

	q := "SELECT count(*) AS n FROM completions"
	code, sql, _ := fetch(t, srv, "GET", "/sql?"+url.Values{"q": {q}}.Encode(), "text/html", nil)
	require.Equal(t, 200, code)
	require.Contains(t, sql, "run();\n  q.addEventListener('keydown'", "a shared query runs on load")
	_, sql, _ = fetch(t, srv, "GET", "/sql", "text/html", nil)
	require.NotContains(t, sql, "run();\n  q.addEventListener('keydown'", "the example query waits for Run")

	code, figs, _ := fetch(t, srv, "GET", "/figures/", "text/html", nil)
	require.Equal(t, 200, code)
	require.NotContains(t, figs, "says why")
	_, section, ok := strings.Cut(figs, `data-experiment="nobase"`)
	require.True(t, ok)
	section, _, _ = strings.Cut(section, "</section>")
	require.Contains(t, section, `<ul class="ls-muted ls-skipped">`)
	require.Regexp(t, `<li data-skipped="[a-z0-9_]+"><code>[a-z0-9_]+</code>: [^<]+</li>`, section)
	require.NotContains(t, section, "figures: not applicable", "reasons without the error's prefix")
	_, section, _ = strings.Cut(figs, `data-experiment="polish"`)
	require.Contains(t, section, ">synthetic data</span>")
	_, link, ok := strings.Cut(section, `<a href="/figures/polish/`)
	require.True(t, ok, "a figure applies to polish")
	link, _, _ = strings.Cut(link, `"`)
	code, fig, _ := fetch(t, srv, "GET", "/figures/polish/"+link, "text/html", nil)
	require.Equal(t, 200, code, link)
	require.Contains(t, fig, `id="ls-synthetic"`, "the figure page of a synthetic experiment says so")
}
