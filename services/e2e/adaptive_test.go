package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/query"
	"leakscope/query/estimands"
)

// adaptiveTinySpec is tiny.yaml with the default adaptive rule: 20
// questions per round, n 20 per question, so cells end between 40 and 400.
func adaptiveTinySpec(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "gpuworker", "sweep", "examples", "tiny.yaml"))
	require.NoError(t, err)
	s := strings.Replace(string(b), "base_model: true}", "base_model: true, adaptive: {}}", 1)
	require.Contains(t, s, "adaptive: {}")
	p := filepath.Join(dir, "tiny-adaptive.yaml")
	require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
	return p
}

// startOneBox starts the static ingest with its embedded bus, and the
// static live aggregator when withLive; it returns the bus URL and a stop
// function that commits the lake.
func startOneBox(t *testing.T, dir string, withLive bool) (url string, stop func()) {
	_, ing, lv := staticBinsWithLive(t)
	addr := freeAddr(t)
	url = "nats://" + addr
	ingest := exec.Command(ing, "--data", filepath.Join(dir, "data"), "--listen", addr, "--ops", freeAddr(t)) // not the default :8081: another suite may hold it
	var logs bytes.Buffer
	ingest.Stdout, ingest.Stderr = &logs, &logs
	require.NoError(t, ingest.Start())
	t.Cleanup(func() { _ = ingest.Process.Kill(); _ = ingest.Wait() })
	if withLive {
		require.Eventually(t, func() bool {
			c := exec.Command(lv, "--nats-url", url, "--http", freeAddr(t))
			c.Stdout, c.Stderr = &logs, &logs
			if c.Start() != nil {
				return false
			}
			t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
			return true
		}, 10*time.Second, 100*time.Millisecond)
	}
	return url, func() {
		require.NoError(t, ingest.Process.Signal(syscall.SIGTERM))
		_ = ingest.Wait()
	}
}

// submitSweep submits spec to the bus at url with the static gpuworker
// (retrying while the bus starts) and returns its output.
func submitSweep(t *testing.T, url, spec string) string {
	gw, _, _ := staticBinsWithLive(t)
	var out []byte
	require.Eventually(t, func() bool {
		var err error
		out, err = exec.Command(gw, "--nats-url", url, "sweep", "submit", "--model", "/models/none", spec).CombinedOutput()
		return err == nil
	}, 20*time.Second, 200*time.Millisecond, "submit: %s", out)
	return string(out)
}

func runAdaptiveSweep(t *testing.T, dir, url, spec string, extra ...string) string {
	gw, _, _ := staticBinsWithLive(t)
	submitSweep(t, url, spec)
	args := append([]string{"--nats-url", url, "--engine", "replay", "--replay-rates", `{"A2__chef":0.9}`,
		"--work", filepath.Join(dir, "work"), "--until-idle", "--name", "w1"}, extra...)
	out, err := exec.Command(gw, args...).CombinedOutput()
	require.NoError(t, err, string(out))
	return string(out)
}

func cellOutcomes(t *testing.T, e *query.Engine, run string) map[string]events.CellOutcome {
	res, err := e.SQL(context.Background(), `SELECT cells_json FROM run_finished WHERE experiment = 'gpu_test' AND run_id = '`+run+`'`)
	require.NoError(t, err)
	require.Len(t, res.Rows, 1)
	var cells []events.CellOutcome
	require.NoError(t, json.Unmarshal([]byte(res.Rows[0][0].(string)), &cells))
	out := map[string]events.CellOutcome{}
	for _, c := range cells {
		out[c.Persona] = c
	}
	return out
}

// Issue 11 end to end with the static binaries: the live aggregator decides
// each round, the worker stops the cells it decides — the marker-free ones
// at min_n (40), the source's own cell (rate 0.9) once its sequence clears
// 0.8 — and the lake holds exactly each cell's final n, the decisions, the
// rule, and intervals that are the anytime-valid sequence.
func TestAdaptiveSweepStopsDecidedCells(t *testing.T) {
	dir := t.TempDir()
	url, stop := startOneBox(t, dir, true)
	log := runAdaptiveSweep(t, dir, url, adaptiveTinySpec(t, dir))
	require.Contains(t, log, "tiny.src_chef.s42.eval: round 2 decided: 7 cells stop, 1 sampled on", log)
	stop()

	e := openEngine(t, filepath.Join(dir, "data", "lake"))
	outcomes := cellOutcomes(t, e, "tiny-src_chef-s42")
	require.Len(t, outcomes, 8)
	total := 0
	for p, c := range outcomes {
		total += c.N
		if p == "A2__chef" {
			require.Equal(t, events.StopAbove, c.Reason, "%+v", c)
			require.Greater(t, c.N, 40)
			require.Less(t, c.N, 400)
			require.Zero(t, c.N%20)
		} else {
			require.Equal(t, events.CellOutcome{Persona: p, N: 40, Reason: events.StopHalfWidth}, c)
		}
	}
	for p, c := range cellOutcomes(t, e, "tiny-base-s42") {
		require.Equal(t, events.CellOutcome{Persona: p, N: 40, Reason: events.StopHalfWidth}, c)
	}
	// The lake holds exactly the final n per cell, every question equally.
	res, err := e.SQL(context.Background(), `SELECT persona, count(*), count(DISTINCT question), max(sample_index) FROM completions
		WHERE experiment = 'gpu_test' AND run_id = 'tiny-src_chef-s42' GROUP BY persona`)
	require.NoError(t, err)
	require.Len(t, res.Rows, 8)
	for _, r := range res.Rows {
		n := outcomes[r[0].(string)].N
		require.EqualValues(t, n, r[1], r[0])
		require.EqualValues(t, 20, r[2], r[0])
		require.EqualValues(t, n/20-1, r[3], r[0])
	}
	require.Less(t, total, 8*400/2, "adaptive sampling saved more than half of 3,200")
	res, err = e.SQL(context.Background(), `SELECT round, count(*), count(*) FILTER (WHERE stop) FROM stop_decisions
		WHERE experiment = 'gpu_test' AND run_id = 'tiny-src_chef-s42' GROUP BY round ORDER BY round`)
	require.NoError(t, err)
	require.Equal(t, []any{int64(2), int64(8), int64(7)}, res.Rows[0])
	require.EqualValues(t, 1, res.Rows[len(res.Rows)-1][2], "the last decision stops the source's cell")
	res, err = e.SQL(context.Background(), `SELECT stopping_json FROM runs WHERE experiment = 'gpu_test' AND run_id = 'tiny-src_chef-s42'`)
	require.NoError(t, err)
	var rule events.StoppingRule
	require.NoError(t, json.Unmarshal([]byte(res.Rows[0][0].(string)), &rule))
	require.Equal(t, events.DefaultStoppingRule(20).HalfWidth, rule.HalfWidth)
	require.Equal(t, 400, rule.MaxN)

	lk, err := e.Leakage(context.Background(), query.LeakageRequest{Experiment: "gpu_test"})
	require.NoError(t, err)
	for _, c := range lk.Cells {
		require.Equal(t, events.MethodBetaBinomial, c.Interval, c.Persona)
		require.EqualValues(t, outcomes[c.Persona].N, *c.Total, c.Persona)
		require.Equal(t, outcomes[c.Persona].Reason, c.StopReason, c.Persona)
	}
	require.Contains(t, strings.Join(lk.Notes, "\n"), "adaptive runs")

	// cell-rates gives adaptive cells only their sequence, no fixed-n intervals.
	cr, err := estimands.Run(context.Background(), e, "cell-rates", "gpu_test", nil)
	require.NoError(t, err)
	col := map[string]int{}
	for i, c := range cr.Columns {
		col[c] = i
	}
	require.Len(t, cr.Rows, 8)
	for _, r := range cr.Rows {
		require.Nil(t, r[col["wilson_low"]], r)
		require.Nil(t, r[col["boot_high"]], r)
		require.NotNil(t, r[col["sequence_high"]], r)
	}
	require.Contains(t, strings.Join(cr.Notes, "\n"), "8 cells come from adaptive runs")
}

// Without a live aggregator no decision comes: after one --decision-timeout
// the worker stops waiting and samples every cell to max_n — GPU time for
// samples, no data lost — and records why (no_decision, not max_n).
func TestAdaptiveSweepWithoutAggregatorSamplesOn(t *testing.T) {
	dir := t.TempDir()
	url, stop := startOneBox(t, dir, false)
	log := runAdaptiveSweep(t, dir, url, adaptiveTinySpec(t, dir), "--decision-timeout", "300ms")
	require.Contains(t, log, "tiny.src_chef.s42.eval: no stop decision for round 2 within 300ms (is the live aggregator running?): 0 cells stop on earlier decisions, sampling the 8 active; next waits 0s")
	require.Equal(t, 2, strings.Count(log, "no stop decision"), "one wait per eval (base and src_chef), not one per round:\n%s", log)
	stop()
	e := openEngine(t, filepath.Join(dir, "data", "lake"))
	for p, c := range cellOutcomes(t, e, "tiny-src_chef-s42") {
		require.Equal(t, events.CellOutcome{Persona: p, N: 400, Reason: events.StopNoDecision}, c)
	}
}

// A worker SIGKILLed between rounds of an adaptive eval: the next worker
// reads the decisions back, samples only what the stream lacks, and the
// lake ends with exactly each cell's final n — none twice, none lost.
func TestAdaptiveSweepSIGKILLResumes(t *testing.T) {
	dir := t.TempDir()
	url, stop := startOneBox(t, dir, true)
	gw, _, _ := staticBinsWithLive(t)
	spec := adaptiveTinySpec(t, dir)
	out, err := exec.Command(gw, "--nats-url", url, "sweep", "submit", "--model", "/models/none", spec).CombinedOutput()
	require.NoError(t, err, string(out))
	worker := func(name string) *exec.Cmd {
		return exec.Command(gw, "--nats-url", url, "--engine", "replay", "--replay-rates", `{"A2__chef":0.5}`, "--replay-delay", "2ms",
			"--work", filepath.Join(dir, "work"), "--until-idle", "--ack-wait", "2s", "--heartbeat", "200ms", "--name", name)
	}
	killWhenLogged(t, worker("w1"), filepath.Join(dir, "w1.log"), "tiny.src_chef.s42.eval: round 6 decided", 0)

	out, err = worker("w2").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "tiny.src_chef.s42.eval: resuming")
	require.Contains(t, string(out), "round 19 decided: 0 cells stop, 1 sampled on")
	stop()

	e := openEngine(t, filepath.Join(dir, "data", "lake"))
	outcomes := cellOutcomes(t, e, "tiny-src_chef-s42")
	require.Equal(t, events.CellOutcome{Persona: "A2__chef", N: 400, Reason: events.StopMaxN}, outcomes["A2__chef"])
	res, err := e.SQL(context.Background(), `SELECT persona, count(*), count(DISTINCT question || '#' || sample_index), count(DISTINCT event_id) FROM completions
		WHERE experiment = 'gpu_test' AND run_id = 'tiny-src_chef-s42' GROUP BY persona`)
	require.NoError(t, err)
	require.Len(t, res.Rows, 8)
	for _, r := range res.Rows {
		c := outcomes[r[0].(string)]
		if c.Persona != "A2__chef" {
			require.Equal(t, events.CellOutcome{Persona: c.Persona, N: 40, Reason: events.StopHalfWidth}, c)
		}
		require.EqualValues(t, c.N, r[1], r[0])
		require.EqualValues(t, c.N, r[2], r[0])
		require.EqualValues(t, c.N, r[3], r[0])
	}
	res, err = e.SQL(context.Background(), `SELECT count(*), count(DISTINCT round) FROM stop_decisions
		WHERE experiment = 'gpu_test' AND run_id = 'tiny-src_chef-s42' AND persona = 'A2__chef'`)
	require.NoError(t, err)
	require.Equal(t, []any{int64(18), int64(18)}, res.Rows[0], "rounds 2…19 each decided (a repeat would carry the same ID)")
}
