package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/query"
)

var (
	staticOnce sync.Once
	staticDir  string
	staticErr  error
)

// staticBins builds bin/gpuworker and bin/leakscope-ingest as the GPU
// machine gets them: CGO_ENABLED=0, so they cannot link DuckDB.
func staticBins(t testing.TB) (gpuworker, ingest string) {
	gpuworker, ingest, _ = staticBinsWithLive(t)
	return gpuworker, ingest
}

// staticBinsWithLive adds bin/leakscope-live (the live aggregator).
func staticBinsWithLive(t testing.TB) (gpuworker, ingest, live string) {
	t.Helper()
	staticOnce.Do(func() {
		staticDir, staticErr = os.MkdirTemp("", "leakscope-static-")
		if staticErr != nil {
			return
		}
		for name, pkg := range map[string]string{"gpuworker": "leakscope/services/gpuworker", "leakscope-ingest": "leakscope/services/ingest",
			"leakscope-live": "leakscope/services/live"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(staticDir, name), pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				staticErr = &exec.ExitError{Stderr: out}
				return
			}
		}
	})
	require.NoError(t, staticErr)
	return filepath.Join(staticDir, "gpuworker"), filepath.Join(staticDir, "leakscope-ingest"), filepath.Join(staticDir, "leakscope-live")
}

// The GPU machine's binaries link neither DuckDB nor the query code (issue 6 §4).
func TestStaticBinariesLinkNoDuckDBNorQuery(t *testing.T) {
	for _, pkg := range []string{"leakscope/services/gpuworker", "leakscope/services/ingest", "leakscope/services/live"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		require.NoError(t, err, string(out))
		for _, dep := range strings.Fields(string(out)) {
			require.NotContains(t, dep, "duckdb", pkg)
			// the live aggregator is query code by nature: only query/live, its
			// statistics and the pages' look (query/webui: no DuckDB, no lake)
			if pkg != "leakscope/services/live" || (dep != "leakscope/query/live" && dep != "leakscope/query/stats" && dep != "leakscope/query/webui") {
				require.False(t, strings.HasPrefix(dep, "leakscope/query"), "%s imports %s", pkg, dep)
			}
		}
	}
	staticBins(t) // and they build without cgo
}

// The static worker and ingest, a sweep submitted from its spec, the worker
// SIGKILLed during eval sampling and restarted: the lake ends with exactly
// n per cell (the GPU test does the same with the Python engine).
func TestGPUWorkerSIGKILLDuringEvalResumesExactly(t *testing.T) {
	gw, ing := staticBins(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	url := "nats://" + addr
	ingest := exec.Command(ing, "--data", filepath.Join(dir, "data"), "--listen", addr, "--ops", freeAddr(t)) // not the default :8081: another suite may hold it
	var ingLog bytes.Buffer
	ingest.Stdout, ingest.Stderr = &ingLog, &ingLog
	require.NoError(t, ingest.Start())
	t.Cleanup(func() { _ = ingest.Process.Kill(); _ = ingest.Wait() })
	spec := filepath.Join(repoRoot(t), "gpuworker", "sweep", "examples", "tiny.yaml")
	var out []byte
	require.Eventually(t, func() bool {
		var err error
		out, err = exec.Command(gw, "--nats-url", url, "sweep", "submit", "--model", "/models/none", spec).CombinedOutput()
		return err == nil
	}, 20*time.Second, 200*time.Millisecond, "submit: %s\n%s", out, &ingLog)
	require.Contains(t, string(out), "5 jobs queued")

	worker := func(name string) *exec.Cmd {
		return exec.Command(gw, "--nats-url", url, "--engine", "replay", "--replay-rates", `{"A2__chef":0.9}`,
			"--replay-delay", "1ms", "--work", filepath.Join(dir, "work"), "--until-idle", "--ack-wait", "2s",
			"--heartbeat", "200ms", "--name", name)
	}
	// SIGKILL after about a third of the 3,200 completions at 1 ms each.
	killWhenLogged(t, worker("w1"), filepath.Join(dir, "w1.log"), "tiny.src_chef.s42.eval: attempt 1", time.Second)

	w2 := worker("w2")
	out, err := w2.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Regexp(t, `tiny.src_chef.s42.eval: resuming: \d+ of 3200 completions already stored, sampling \d+`, string(out))
	st, err := exec.Command(gw, "--nats-url", url, "sweep", "status", spec).CombinedOutput()
	require.NoError(t, err)
	require.Equal(t, 5, strings.Count(string(st), " finished "), string(st))
	require.Contains(t, string(st), "tiny.src_chef.s42.eval      finished  2        w2")

	// Stop ingest (it commits what it holds) and read the lake.
	require.NoError(t, ingest.Process.Signal(syscall.SIGTERM))
	_ = ingest.Wait()
	e := openEngine(t, filepath.Join(dir, "data", "lake"))
	res, err := e.SQL(context.Background(), `SELECT persona, count(*), count(DISTINCT sample_index || question) FROM completions
		WHERE experiment = 'gpu_test' AND run_id = 'tiny-src_chef-s42' GROUP BY persona ORDER BY persona`)
	require.NoError(t, err)
	require.Len(t, res.Rows, 8)
	for _, r := range res.Rows {
		require.EqualValues(t, 400, r[1], r[0])
		require.EqualValues(t, 400, r[2], r[0])
	}
	res, err = e.SQL(context.Background(), `SELECT (SELECT count(*) FROM training_steps WHERE experiment = 'gpu_test'),
		(SELECT count(*) FROM embeddings WHERE experiment = 'gpu_test'),
		(SELECT count(*) FROM job_status WHERE experiment = 'gpu_test' AND status = 'finished'),
		(SELECT count(*) FROM run_finished WHERE experiment = 'gpu_test' AND run_id = 'tiny-src_chef-s42')`)
	require.NoError(t, err)
	// 1,600 examples / 16 per step × 12 epochs = 1,200 steps, logged every 5.
	require.Equal(t, []any{int64(240), int64(27), int64(5), int64(1)}, res.Rows[0])

	// The planner's design reaches the query side: the run's seed and sweep,
	// and each i81 cell's persona factors (the custom villain has none).
	lk, err := e.Leakage(context.Background(), query.LeakageRequest{Experiment: "gpu_test", Scope: query.Scope{Seeds: []int64{42}, Where: map[string][]string{"trait": {"Openness"}}}})
	require.NoError(t, err)
	require.Len(t, lk.Cells, 1)
	c := lk.Cells[0]
	require.Equal(t, "A1__chef__Openness__L4", c.Persona)
	require.Equal(t, events.Factors{"kind": "A1", "noun": "chef", "trait": "Openness", "level": "L4"}, c.Factors)
	require.Equal(t, int64(42), *c.Seed)
	require.Equal(t, "tiny", c.Sweep)
}

// killWhenLogged starts cmd with its output in logPath, waits until the
// log holds line, then after wait SIGKILLs it.
func killWhenLogged(t *testing.T, cmd *exec.Cmd, logPath, line string, wait time.Duration) {
	t.Helper()
	lf, err := os.Create(logPath)
	require.NoError(t, err)
	defer lf.Close()
	cmd.Stdout, cmd.Stderr = lf, lf
	require.NoError(t, cmd.Start())
	waitLogged(t, logPath, line)
	time.Sleep(wait)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
}

// waitLogged waits (up to 2 minutes) until the log at logPath holds line.
func waitLogged(t *testing.T, logPath, line string) {
	t.Helper()
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), line)
	}, 2*time.Minute, 10*time.Millisecond, "%s never logged %q", logPath, line)
}

// repoRoot is the checkout's root (tests run in services/e2e).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}
