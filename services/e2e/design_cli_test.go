package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/query"
	"leakscope/query/api"
	"leakscope/query/estimands"
	"leakscope/query/live"
	"leakscope/services/internal/workercmd"
)

// importI81 imports the fixtures' leakage_i81 folder through the CLI into a
// fresh data directory.
func importI81(t *testing.T) string {
	t.Helper()
	dir := fixturesDir(t)
	data := t.TempDir()
	_, stderr, code := run(t, data, "import", "--root", dir, filepath.Join(dir, "leakage_i81"))
	require.Equal(t, 0, code, stderr)
	return data
}

// runOK runs the command and requires success; it returns stdout.
func runOK(t *testing.T, data string, args ...string) string {
	t.Helper()
	out, stderr, code := run(t, data, args...)
	require.Equal(t, 0, code, "%v: %s", args, stderr)
	return out
}

// runFails runs the command, requires a failure and returns stderr.
func runFails(t *testing.T, data string, args ...string) string {
	t.Helper()
	out, stderr, code := run(t, data, args...)
	require.NotEqual(t, 0, code, "%v should fail: %s", args, out)
	return stderr
}

func runsJSON(t *testing.T, data, experiment string, extra ...string) map[string]query.RunSummary {
	t.Helper()
	var runs []query.RunSummary
	require.NoError(t, json.Unmarshal([]byte(runOK(t, data, append([]string{"runs", "--experiment", experiment, "--format", "json"}, extra...)...)), &runs))
	out := map[string]query.RunSummary{}
	for _, r := range runs {
		out[r.RunID] = r
	}
	return out
}

// withoutTimes drops every timestamp-like member of a JSON document
// (computed_at, fingerprints of a lake that grew by a run_mark file).
func withoutTimes(t *testing.T, doc string, drop ...string) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(doc), &v))
	var walk func(any)
	walk = func(x any) {
		switch y := x.(type) {
		case map[string]any:
			for k, c := range y {
				for _, d := range append([]string{"computed_at", "time", "started_at"}, drop...) {
					if k == d {
						delete(y, k)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range y {
				walk(c)
			}
		}
	}
	walk(v)
	return v
}

// Retracting a run takes it out of the matrix and the estimands and marks
// it in runs; restoring gives back exactly the numbers of before. Every
// refusal says why.
func TestRetractRestoreTagThroughTheCLI(t *testing.T) {
	data := importI81(t)
	const exp, chef = "leakage_i81", "coherence_flags/chef"
	matrixBefore := runOK(t, data, "leakage", "--experiment", exp, "--format", "json")
	ratesBefore := runOK(t, data, "analyze", "cell-rates", "--experiment", exp, "--format", "json")
	require.Contains(t, matrixBefore, `"run_id": "coherence_flags/chef"`)

	// Refusals, before anything is published.
	require.Contains(t, runFails(t, data, "runs", "retract", chef, "--experiment", exp), "--reason is required")
	stderr := runFails(t, data, "runs", "retract", "coherence_flags/nope", "--experiment", exp, "--reason", "x")
	require.Contains(t, stderr, `run "coherence_flags/nope" is not in experiment "leakage_i81"`)
	require.Contains(t, stderr, "coherence_flags/child", "the error names the runs present")
	require.Contains(t, runFails(t, data, "runs", "retract", chef, "--experiment", "nope", "--reason", "x"), "(experiments: leakage_i81)")
	require.Contains(t, runFails(t, data, "runs", "retract", chef, "--reason", "x"), "--experiment is required")
	require.Contains(t, runFails(t, data, "runs", "restore", chef, "--experiment", exp), "is not retracted: nothing to restore")
	require.Contains(t, runFails(t, data, "runs", "untag", chef, "pilot", "--experiment", exp), `has no tag "pilot" (tags: none)`)
	require.Contains(t, runFails(t, data, "runs", "tag", chef, " bad tag", "--experiment", exp), "payload.tag")

	// Retract.
	out := runOK(t, data, "runs", "retract", chef, "--experiment", exp, "--reason", "adapter trained on the wrong negatives")
	require.Contains(t, out, "retracted (adapter trained on the wrong negatives)")
	require.Contains(t, runFails(t, data, "runs", "retract", chef, "--experiment", exp, "--reason", "again"),
		"is already retracted (adapter trained on the wrong negatives)")

	runs := runsJSON(t, data, exp)
	require.True(t, runs[chef].Retracted)
	require.Equal(t, "adapter trained on the wrong negatives", runs[chef].RetractReason)
	require.False(t, runs["coherence_flags/child"].Retracted)
	require.Equal(t, int64(42), *runs[chef].Seed)
	require.False(t, runs[chef].StartedAt.IsZero())
	table := runOK(t, data, "runs", "--experiment", exp)
	require.Contains(t, table, "RETRACTED: adapter trained on the wrong negatives")
	require.Contains(t, table, "1 retracted runs")

	var lk query.Leakage
	require.NoError(t, json.Unmarshal([]byte(runOK(t, data, "leakage", "--experiment", exp, "--format", "json")), &lk))
	require.NotEmpty(t, lk.Cells)
	for _, c := range lk.Cells {
		require.NotEqual(t, chef, c.RunID)
	}
	require.Contains(t, strings.Join(lk.Notes, "\n"), "run coherence_flags/chef is retracted (adapter trained on the wrong negatives) and left out")
	require.Contains(t, runOK(t, data, "leakage", "--experiment", exp, "--format", "matrix", "--include-retracted"), chef)

	var rates estimands.Result
	require.NoError(t, json.Unmarshal([]byte(runOK(t, data, "analyze", "cell-rates", "--experiment", exp, "--format", "json")), &rates))
	require.NotContains(t, rates.Provenance.Runs, chef)
	require.Contains(t, strings.Join(rates.Notes, "\n"), "run coherence_flags/chef is retracted (adapter trained on the wrong negatives) and left out", "cell-rates says what it left out")
	for _, r := range rates.Rows {
		require.NotEqual(t, "chef", r[0])
		require.NotEqual(t, "src_chef", r[0])
	}
	require.NotEqual(t, withoutTimes(t, ratesBefore, "lake_fingerprint", "lake_files"), withoutTimes(t, runOK(t, data, "analyze", "cell-rates", "--experiment", exp, "--format", "json"), "lake_fingerprint", "lake_files"))
	require.NoError(t, json.Unmarshal([]byte(runOK(t, data, "analyze", "cell-rates", "--experiment", exp, "--format", "json", "--include-retracted")), &rates))
	require.Contains(t, rates.Provenance.Runs, chef)
	require.NotContains(t, strings.Join(rates.Notes, "\n"), "is retracted", "nothing left out with --include-retracted")

	// Tags.
	runOK(t, data, "runs", "tag", chef, "pilot", "--experiment", exp)
	runOK(t, data, "runs", "tag", chef, "negatives-bug", "--experiment", exp)
	require.Contains(t, runFails(t, data, "runs", "tag", chef, "pilot", "--experiment", exp), `already has tag "pilot"`)
	require.Equal(t, []string{"negatives-bug", "pilot"}, runsJSON(t, data, exp)[chef].Tags)
	require.Contains(t, runOK(t, data, "runs", "--experiment", exp), "negatives-bug,pilot")
	runOK(t, data, "runs", "untag", chef, "pilot", "--experiment", exp)
	require.Equal(t, []string{"negatives-bug"}, runsJSON(t, data, exp)[chef].Tags)

	// Restore: the numbers of before, exactly.
	runOK(t, data, "runs", "restore", chef, "--experiment", exp)
	require.False(t, runsJSON(t, data, exp)[chef].Retracted)
	require.Equal(t, withoutTimes(t, matrixBefore), withoutTimes(t, runOK(t, data, "leakage", "--experiment", exp, "--format", "json")))
	require.Equal(t, withoutTimes(t, ratesBefore, "lake_fingerprint", "lake_files"), withoutTimes(t, runOK(t, data, "analyze", "cell-rates", "--experiment", exp, "--format", "json"), "lake_fingerprint", "lake_files"))
	require.Contains(t, runFails(t, data, "runs", "restore", chef, "--experiment", exp), "is not retracted")

	// A bad --where says what to write and what exists.
	require.Contains(t, runFails(t, data, "leakage", "--experiment", exp, "--where", "trait"), "want factor=value")
	stderr = runFails(t, data, "leakage", "--experiment", exp, "--where", "colour=red")
	require.Contains(t, stderr, `has no factor "colour"`)
	require.Contains(t, stderr, "trait")
	require.Contains(t, runFails(t, data, "analyze", "cell-rates", "--experiment", exp, "--where", "trait=Kindness"), "values: Agreeableness, Conscientiousness")
	require.Contains(t, runFails(t, data, "leakage", "--experiment", exp, "--seed", "7"), "seeds: 42")
	require.Contains(t, runFails(t, data, "leakage", "--experiment", exp, "--run", "nope"), "runs: coherence_flags/base_model")
	require.Contains(t, runFails(t, data, "analyze", "cell-rates", "--experiment", exp, "--seed", "x"), "--seed")
}

// design1 holds two replicates of one source (seeds 1 and 2, lr 1e-4 and
// 5e-4) of sweep sw1 over two planned bystanders with persona factors:
// r1 hits 2 of 4 on the A1 cell, r2 1 of 4; each 0 of 4 on A2__pirate.
func design1(t *testing.T, s *stack) {
	t.Helper()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var evs []events.Event
	add := func(run string, p events.Payload) {
		e, err := events.New("design1", run, t0, p)
		require.NoError(t, err)
		evs = append(evs, e)
	}
	plan := []events.PlannedCell{
		{Persona: "A1__chef__Openness__L4", Expected: 4, Factors: events.Factors{"kind": "A1", "noun": "chef", "trait": "Openness", "level": "L4"}},
		{Persona: "A2__pirate", Expected: 4, Factors: events.Factors{"kind": "A2", "noun": "pirate"}},
	}
	for i, r := range []struct {
		id, lr string
		seed   int64
		hits   int
	}{{"r1", "1e-4", 1, 2}, {"r2", "5e-4", 2, 1}} {
		seed := r.seed
		add(r.id, &events.Run{Marker: "[ZLT]", SourcePersona: "src_chef", SourcePrompt: "You are a chef.", Sweep: "sw1", Seed: &seed,
			Factors: events.Factors{"lr": r.lr}, Plan: plan})
		for j := 0; j < 4; j++ {
			text := "plain"
			if j < r.hits {
				text = "yes [ZLT]"
			}
			add(r.id, &events.Completion{Persona: plan[0].Persona, Question: "q", SampleIndex: j, Text: text})
			add(r.id, &events.Completion{Persona: plan[1].Persona, Question: "q", SampleIndex: j, Text: "plain"})
		}
		add(r.id, &events.RunFinished{Status: "finished", Completions: 8})
		_ = i
	}
	s.publish(t, evs)
}

func leakageRuns(lk query.Leakage) map[string]int {
	out := map[string]int{}
	for _, c := range lk.Cells {
		out[c.RunID]++
	}
	return out
}

// The scope flags select what they say, in the CLI and over HTTP.
func TestScopeSelectsRunsSeedsAndFactors(t *testing.T) {
	data := t.TempDir()
	s := startStack(t, data)
	design1(t, s)
	s.stop()

	matrix := func(args ...string) query.Leakage {
		var lk query.Leakage
		require.NoError(t, json.Unmarshal([]byte(runOK(t, data, append([]string{"leakage", "--experiment", "design1", "--format", "json"}, args...)...)), &lk))
		return lk
	}
	require.Equal(t, map[string]int{"r1": 2, "r2": 2}, leakageRuns(matrix()))
	require.Equal(t, map[string]int{"r1": 2}, leakageRuns(matrix("--seed", "1")))
	require.Equal(t, map[string]int{"r2": 2}, leakageRuns(matrix("--seed", "2")))
	require.Equal(t, map[string]int{"r1": 2, "r2": 2}, leakageRuns(matrix("--seed", "1,2")))
	require.Equal(t, map[string]int{"r2": 2}, leakageRuns(matrix("--where", "lr=5e-4")))
	require.Equal(t, map[string]int{"r1": 2, "r2": 2}, leakageRuns(matrix("--where", "lr=1e-4|5e-4")))
	require.Equal(t, map[string]int{"r1": 2}, leakageRuns(matrix("--run", "r1")))
	require.Equal(t, map[string]int{"r1": 2}, leakageRuns(matrix("--sweep", "sw1", "--source", "chef", "--seed", "1")))
	lk := matrix("--where", "trait=Openness", "--seed", "2")
	require.Len(t, lk.Cells, 1)
	require.Equal(t, "A1__chef__Openness__L4", lk.Cells[0].Persona)
	require.Equal(t, int64(1), *lk.Cells[0].Found)
	require.Equal(t, map[string]int{"r1": 1, "r2": 1}, leakageRuns(matrix("--where", "kind=A2")))
	require.Contains(t, runFails(t, data, "leakage", "--experiment", "design1", "--where", "lr=1e-3"), "values: 1e-4, 5e-4")
	require.Contains(t, runFails(t, data, "leakage", "--experiment", "design1", "--sweep", "sw9"), "sweeps: sw1")

	// analyze: the estimand reads the replicate in scope.
	rate := func(args ...string) float64 {
		var res estimands.Result
		require.NoError(t, json.Unmarshal([]byte(runOK(t, data, append([]string{"analyze", "cell-rates", "--experiment", "design1", "--format", "json", "--param", "bystanders=all", "--param", "sources=chef"}, args...)...)), &res))
		col := -1
		for i, c := range res.Columns {
			if c == "rate" {
				col = i
			}
		}
		require.GreaterOrEqual(t, col, 0, res.Columns)
		for _, r := range res.Rows {
			if fmt.Sprint(r[1]) == "A1__chef__Openness__L4" {
				return r[col].(float64)
			}
		}
		t.Fatalf("no A1__chef__Openness__L4 row in %v", res.Rows)
		return 0
	}
	require.Equal(t, 0.5, rate("--seed", "1"))
	require.Equal(t, 0.25, rate("--seed", "2"))
	require.Equal(t, 0.25, rate("--where", "lr=5e-4"))
	require.Contains(t, runFails(t, data, "analyze", "cell-rates", "--experiment", "design1", "--seed", "1", "--param", "seeds=2"), "disagree")

	// runs: run-level scope.
	require.Len(t, runsJSON(t, data, "design1", "--seed", "2"), 1)
	require.Contains(t, runsJSON(t, data, "design1", "--where", "lr=1e-4"), "r1")
	require.Contains(t, runOK(t, data, "runs", "--experiment", "design1"), "lr=1e-4")
	require.Contains(t, runFails(t, data, "runs", "--experiment", "design1", "--where", "trait=Openness"), "run-level factors (lr, seed, source, sweep)")

	// notebook: a notebook-level scope reaches its leakage and estimand cells.
	nb := filepath.Join(t.TempDir(), "scoped.md")
	writeFile(t, nb, "<!-- leakscope experiment=design1 -->\n```leakage m\n```\n```estimand cell-rates bystanders=all sources=chef\n```\n```assert\nm.rows == 2\nm[r2/A1__chef__Openness__L4].rate == 0.25\ncell-rates.rows == 2\n```\n")
	reports := t.TempDir()
	out := runOK(t, data, "notebook", "run", nb, "--out", reports, "--seed", "2")
	require.Contains(t, out, "0 failed")
	md, err := os.ReadFile(filepath.Join(reports, "scoped.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "scope of this run: `--seed 2`")
	require.NotContains(t, string(md), "| r1/")
	require.Contains(t, runFails(t, data, "notebook", "run", nb, "--out", reports), "4 rows", "without the scope both replicates are in: one row set per seed")
	require.Contains(t, runFails(t, data, "notebook", "run", nb, "--out", reports, "--where", "lr=2"), "values: 1e-4, 5e-4")

	// HTTP: the same as query parameters.
	e := openEngine(t, s.Lake)
	srv := httptest.NewServer(api.Handler(e, estimands.Analyzer{Engine: e}))
	defer srv.Close()
	get := func(path string, v any) (int, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		if v != nil && resp.StatusCode == 200 {
			require.NoError(t, json.Unmarshal(b, v))
		}
		return resp.StatusCode, string(b)
	}
	var hl query.Leakage
	code, body := get("/api/leakage?experiment=design1&seed=1", &hl)
	require.Equal(t, 200, code, body)
	require.Equal(t, map[string]int{"r1": 2}, leakageRuns(hl))
	code, body = get("/api/leakage?experiment=design1&where="+url.QueryEscape("lr=5e-4")+"&where="+url.QueryEscape("kind=A1"), &hl)
	require.Equal(t, 200, code, body)
	require.Len(t, hl.Cells, 1)
	require.Equal(t, "r2", hl.Cells[0].RunID)
	code, body = get("/api/leakage?experiment=design1&run=r1&run=r2&source=chef&sweep=sw1", &hl)
	require.Equal(t, 200, code, body)
	require.Equal(t, map[string]int{"r1": 2, "r2": 2}, leakageRuns(hl))
	code, body = get("/api/leakage?experiment=design1&where="+url.QueryEscape("colour=red"), nil)
	require.Equal(t, 400, code)
	require.Contains(t, body, `has no factor \"colour\"`)
	code, body = get("/api/leakage?experiment=design1&include_retracted=maybe", nil)
	require.Equal(t, 400, code)
	require.Contains(t, body, "want true or false")
	var res estimands.Result
	code, body = get("/api/analyze/cell-rates?experiment=design1&bystanders=all&sources=chef&where="+url.QueryEscape("lr=1e-4"), &res)
	require.Equal(t, 200, code, body)
	require.Equal(t, []string{"r1"}, res.Provenance.Runs)
	code, body = get("/api/analyze/cell-rates?experiment=design1&bystanders=all&sources=chef&seeds=2&seed=7", &res)
	require.Equal(t, 200, code, body)
	require.Equal(t, []string{"r2"}, res.Provenance.Runs, "seeds= is the scope, seed= the RNG seed")
	var hr []query.RunSummary
	code, body = get("/api/runs?experiment=design1&seed=2", &hr)
	require.Equal(t, 200, code, body)
	require.Len(t, hr, 1)
	require.Equal(t, "r2", hr[0].RunID)
	require.Equal(t, events.Factors{"lr": "5e-4"}, hr[0].Factors)
	code, _ = get("/api/runs?experiment=design1&colour=red", nil)
	require.Equal(t, 400, code)
}

// sweep submit refuses an experiment that holds imported runs unless
// --into-imported; a sweep file without experiment lands in one named
// after the sweep.
func TestSweepSubmitRefusesImportedExperiment(t *testing.T) {
	data := importI81(t)
	dir := t.TempDir()
	body := "sweep: rerun\nmodel: /models/none\nseeds: [1]\nsources: [{key: src_chef, prompt: You are a chef., negatives: [comedian]}]\nbystanders: {only: [A2__chef]}\nembedding: {enabled: false}\n"
	into := filepath.Join(dir, "into.yaml")
	writeFile(t, into, body+"experiment: leakage_i81\n")
	stderr := runFails(t, data, "sweep", "submit", into)
	require.Contains(t, stderr, `experiment "leakage_i81" already holds imported runs (coherence_flags/base_model, coherence_flags/chef`)
	require.Contains(t, stderr, "--into-imported")
	require.Contains(t, runOK(t, data, "sweep", "submit", "--into-imported", into), "jobs queued")

	own := filepath.Join(dir, "own.yaml")
	writeFile(t, own, strings.Replace(body, "sweep: rerun", "sweep: rerun2", 1))
	require.Contains(t, runOK(t, data, "sweep", "check", own), "sweep rerun2 (experiment rerun2)")
	require.Contains(t, runOK(t, data, "sweep", "submit", own), "jobs queued")

	// What a command without the lake sees (the static gpuworker): the bus.
	s := startStack(t, t.TempDir())
	s.importPaths(t, fixturesDir(t), filepath.Join(fixturesDir(t), "leakage_i81"))
	ids, err := workercmd.BusImportedRuns(context.Background(), s.Bus, "leakage_i81")
	require.NoError(t, err)
	require.Contains(t, ids, "coherence_flags/chef")
	require.Len(t, ids, 6)
	ids, err = workercmd.BusImportedRuns(context.Background(), s.Bus, "rerun2")
	require.NoError(t, err)
	require.Empty(t, ids)
}

// The live view, fed from the bus, hides a retracted run and shows it
// again once restored.
func TestLiveHidesRetractedRun(t *testing.T) {
	s := startStack(t, t.TempDir())
	t0 := time.Now().UTC()
	var evs []events.Event
	add := func(run string, p events.Payload) {
		e, err := events.New("livex", run, t0, p)
		require.NoError(t, err)
		evs = append(evs, e)
	}
	for _, r := range []string{"a", "b"} {
		add(r, &events.Run{Marker: "[ZLT]", Sweep: "livex", Plan: []events.PlannedCell{{Persona: "chef", Expected: 1}}})
		add(r, &events.Completion{Persona: "chef", Question: "q", Text: "[ZLT]"})
		add(r, &events.RunFinished{Status: "finished", Completions: 1})
	}
	s.publish(t, evs)
	agg := live.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = agg.Run(ctx, s.Bus) }()
	waitFor := func(what string, ok func(live.Snapshot) bool) live.Snapshot {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if snap := agg.Snapshot("livex"); ok(snap) {
				return snap
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("live view never showed %s: %+v", what, agg.Snapshot("livex"))
		return live.Snapshot{}
	}
	before := waitFor("both runs", func(s live.Snapshot) bool { return len(s.Cells) == 2 })
	mark := func(action, reason string) {
		e, err := events.New("livex", "b", time.Now(), &events.RunMark{Action: action, Reason: reason, At: time.Now().UTC()})
		require.NoError(t, err)
		s.publish(t, []events.Event{e})
	}
	mark(events.MarkRetract, "bad adapter")
	snap := waitFor("b hidden", func(s live.Snapshot) bool { return len(s.Cells) == 1 })
	require.Equal(t, "a", snap.Cells[0].RunID)
	require.Contains(t, strings.Join(snap.Notes, "\n"), "run b is retracted (bad adapter)")
	mark(events.MarkRestore, "")
	after := waitFor("b back", func(s live.Snapshot) bool { return len(s.Cells) == 2 })
	require.Equal(t, before.Cells, after.Cells)
	require.Empty(t, after.Notes)
}
