package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events/bus"
	"leakscope/gpuworker/jobs"
)

var (
	queryBinOnce sync.Once
	queryBinPath string
	queryBinErr  error
)

// queryBin builds the query service (cgo: DuckDB).
func queryBin(t *testing.T) string {
	t.Helper()
	queryBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "leakscope-query-")
		if err != nil {
			queryBinErr = err
			return
		}
		queryBinPath = filepath.Join(dir, "leakscope-query")
		if out, err := exec.Command("go", "build", "-o", queryBinPath, "leakscope/services/query").CombinedOutput(); err != nil {
			queryBinErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	require.NoError(t, queryBinErr)
	return queryBinPath
}

// service is a started service process with its stderr in a file.
type service struct {
	cmd *exec.Cmd
	log string
}

func startService(t *testing.T, name string, env []string, bin string, args ...string) *service {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	s := &service{cmd: cmd, log: logPath}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, b)
		}
	})
	return s
}

// getJSON GETs url and decodes a JSON body; it returns the status code.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	if v != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	}
	return resp.StatusCode
}

// waitReady polls /readyz until it answers 200.
func waitReady(t *testing.T, base string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 100*time.Millisecond, "%s/readyz", base)
}

// metric sums the samples of a Prometheus series (name and label filter,
// as they appear in the text format) scraped from base/metrics.
func metric(t *testing.T, base, series string) float64 {
	t.Helper()
	return metricSum(t, []string{base}, series)
}

// metricSum sums a series over several services; some may lack it (a
// labelled series appears once it is first counted), not all.
func metricSum(t *testing.T, bases []string, series string) float64 {
	t.Helper()
	var sum float64
	found := false
	for _, base := range bases {
		v, ok := scrapeSeries(t, base, series)
		sum, found = sum+v, found || ok
	}
	require.True(t, found, "series %s not exported by %v", series, bases)
	return sum
}

func scrapeSeries(t *testing.T, base, series string) (sum float64, found bool) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, series+" ") || !strings.Contains(series, "{") && strings.HasPrefix(line, series+"{") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			require.NoError(t, err, line)
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// Issue 10's deployment as processes: a three-node JetStream cluster, two
// leakscope-ingest replicas (named writers, one lake, one durable
// consumer, R3 streams), the query service with the live view, two
// replay gpuworkers — the scenario compose.yaml runs
// (deploy/composetest), here without Docker so every CI run covers it.
// Every service answers /healthz, /readyz and /metrics, and the metrics
// add up to the sweep.
func TestServicesRunAReplaySweepOnACluster(t *testing.T) {
	gpuworker, ingestBin := staticBins(t)
	dir := t.TempDir()
	_, urls := startCluster(t, dir)
	url := urls(0, 1, 2)
	data := filepath.Join(dir, "data")
	var ingestOps []string
	for i := 1; i <= 2; i++ {
		addr := freeAddr(t)
		ingestOps = append(ingestOps, "http://"+addr)
		startService(t, fmt.Sprint("ingest-", i), nil, ingestBin, "--data", data, "--nats-url", url, "--writer", fmt.Sprint("ingest-", i),
			"--replicas", "3", "--ops", addr)
	}
	for _, base := range ingestOps {
		waitReady(t, base)
	}
	queryAddr := freeAddr(t)
	// configured by the environment, as a container is
	startService(t, "query", []string{"LEAKSCOPE_NATS_URL=" + url, "LEAKSCOPE_HTTP=" + queryAddr}, queryBin(t), "--lake", filepath.Join(data, "lake"))
	queryBase := "http://" + queryAddr
	waitReady(t, queryBase)

	spec := filepath.Join("testdata", "scaleout.yaml")
	out, err := exec.Command(gpuworker, "sweep", "submit", "--nats-url", url, "--replicas", "3", spec).CombinedOutput()
	require.NoError(t, err, string(out))
	rates := `{"A2__chef": 0.9, "A2__robot": 0.2, "villain": 0.05}`
	var workerOps []string
	for i := 1; i <= 2; i++ {
		addr := freeAddr(t)
		workerOps = append(workerOps, "http://"+addr)
		startService(t, fmt.Sprint("worker-", i), nil, gpuworker, "--nats-url", url, "--engine", "replay", "--replay-rates", rates,
			"--name", fmt.Sprint("w", i), "--work", t.TempDir(), "--ops", addr)
	}
	for _, base := range workerOps {
		waitReady(t, base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := bus.Connect(ctx, url, bus.Config{Replicas: 3})
	require.NoError(t, err)
	defer b.Close()
	jq, err := jobs.Open(ctx, b, 3)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := jq.Status(ctx, scaleoutSpec(t))
		if err != nil {
			return false
		}
		for _, j := range st {
			if j.Status != "finished" {
				return false
			}
		}
		return true
	}, 2*time.Minute, 200*time.Millisecond, "every job finished")
	st, err := b.JS.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	require.Equal(t, 3, st.CachedInfo().Config.Replicas, "R3 events stream")
	last := st.CachedInfo().State.LastSeq
	require.NoError(t, b.WaitDurable(ctx, last, nil))

	var l struct {
		Cells []struct {
			RunID   string `json:"run_id"`
			Persona string `json:"persona"`
			Found   int    `json:"found"`
			Total   int    `json:"total"`
		} `json:"cells"`
	}
	require.Equal(t, 200, getJSON(t, queryBase+"/api/leakage?experiment=scaleout&include_base=true", &l))
	require.Len(t, l.Cells, 10)
	for _, c := range l.Cells {
		require.Equal(t, 200, c.Total, "%s/%s", c.RunID, c.Persona)
		if c.RunID == "scaleout-src_chef-s7" && c.Persona == "A2__chef" {
			require.Greater(t, c.Found, 150)
		}
	}

	// The metrics add up: both replicas committed a share of every stored
	// message, the workers sampled 2 runs × 5 bystanders × 5 questions × 40.
	var committed, dups float64
	for _, base := range ingestOps {
		c := metric(t, base, `leakscope_ingest_events_total{outcome="committed"}`)
		require.Positive(t, c, "%s took a share", base)
		committed += c
		dups += metric(t, base, `leakscope_ingest_events_total{outcome="duplicate"}`)
		require.Zero(t, metric(t, base, "leakscope_ingest_lag_messages"))
	}
	require.Equal(t, float64(last), committed+dups, "every stored message committed once or dropped as a duplicate")
	require.Equal(t, 2000.0, metricSum(t, workerOps, "leakscope_worker_completions_total"))
	require.Equal(t, 2.0, metricSum(t, workerOps, `leakscope_worker_job_status_total{kind="eval",status="finished"}`), "base and adapter eval")
	require.Positive(t, metric(t, queryBase, `leakscope_http_request_seconds_count{code="200",method="get",route="/api/leakage"}`))
	var health map[string]string
	require.Equal(t, 200, getJSON(t, queryBase+"/healthz", &health))
	require.Equal(t, "ok", health["status"])
	for _, base := range append([]string{queryBase}, ingestOps...) {
		require.Equal(t, 200, getJSON(t, base+"/readyz", nil))
	}
}
