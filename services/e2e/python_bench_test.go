package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/gpuworker/loadgen"
	"leakscope/presets/i81"
)

// BenchmarkPythonSidecarVsLoadgen (issue 20): completions/s logged by a
// plain Python script through the package's sidecar into a running
// `leakscope up` (testdata/pybench.py: one log_vllm call per persona,
// timed from the first init to the last finish, i.e. until durable),
// against the same number of completions published by the Go loadgen path
// (cmd_loadgen's: 20,000-event PublishAll chunks, then WaitDurable) to the
// same server in the same run. Both are the #81 shape at 1×: 5 runs × 130
// personas × 20 questions × 10 samples = 130,000 completions, texts of the
// fixtures' lengths. Goal: ratio ≥ 0.5.
//
// Sub-benchmarks: "sync=always" is `up` as shipped, where the server's
// fsync of every message bounds both paths (P1); "sync=interval" takes
// fsync away, so ingest bounds the rate and the client's own cost shows.
func BenchmarkPythonSidecarVsLoadgen(b *testing.B) {
	python3(b)
	for _, sync := range []string{"always", "interval"} {
		b.Run("sync="+sync, func(b *testing.B) { pythonVsLoadgen(b, sync) })
	}
}

func pythonVsLoadgen(b *testing.B, sync string) {
	cfg := perfConfig(b, 1)
	const runs, personas, questions, samples = 5, 130, 20, 10
	require.Equal(b, cfg.Completions(), runs*personas*questions*samples)
	require.Equal(b, len(i81.Nouns), runs)
	lengths, err := json.Marshal(loadgen.FixtureLengthPercentiles)
	require.NoError(b, err)
	ctx := context.Background()
	for i := range b.N {
		data := b.TempDir()
		startUp(b, data, "--sync", sync)
		url, err := os.ReadFile(filepath.Join(data, "nats.url"))
		require.NoError(b, err)
		bb, err := bus.Connect(ctx, strings.TrimSpace(string(url)), bus.DefaultConfig())
		require.NoError(b, err)

		// The Go loadgen path.
		cfg.Experiment = fmt.Sprintf("bench_go_%d", i)
		t0 := time.Now()
		last := publishChunked(b, cfg, func(evs []events.Event) (uint64, error) {
			r, err := bb.PublishAll(ctx, evs, nil)
			return r.LastSeq, err
		})
		require.NoError(b, bb.WaitDurable(ctx, last, nil))
		goT := time.Since(t0)
		bb.Close()

		// The Python script through the sidecar.
		pyExp := fmt.Sprintf("bench_py_%d", i)
		cmd := pyCmd(b, "testdata/pybench.py", data, pyExp, strconv.Itoa(runs), strconv.Itoa(personas),
			strconv.Itoa(questions), strconv.Itoa(samples), string(lengths))
		out, err := cmd.CombinedOutput()
		require.NoError(b, err, string(out))
		m := regexp.MustCompile(`completions (\d+) seconds ([0-9.]+)`).FindStringSubmatch(string(out))
		require.NotNil(b, m, string(out))
		require.Equal(b, strconv.Itoa(cfg.Completions()), m[1])
		pySec, err := strconv.ParseFloat(m[2], 64)
		require.NoError(b, err)

		// Both are in the lake, whole.
		for _, exp := range []string{cfg.Experiment, pyExp} {
			var got []map[string]any
			cliJSON(b, data, &got, "sql", "SELECT count(*) AS n FROM completions WHERE experiment = '"+exp+"'")
			require.Equal(b, []map[string]any{{"n": float64(cfg.Completions())}}, got, exp)
		}
		n := float64(cfg.Completions())
		b.ReportMetric(n/goT.Seconds(), "loadgen_completions/s")
		b.ReportMetric(n/pySec, "python_completions/s")
		b.ReportMetric(goT.Seconds()/pySec, "ratio(goal>=0.5)")
	}
}
