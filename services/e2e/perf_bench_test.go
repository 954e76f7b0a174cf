package e2e

// Performance benchmarks of issue 9, each a ratio against a baseline
// measured in the same run on the same machine (make bench-perf; numbers
// in docs/PERFORMANCE.md). Scale: LEAKSCOPE_PERF_SWEEPS (default 1 = the
// #81 size, 130,000 completions); LEAKSCOPE_PERF_DIR caches built lakes
// (a 100× lake takes long to build: build it once).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/events/bus/bustest"
	"leakscope/events/eventstest"
	"leakscope/gpuworker/loadgen"
	"leakscope/query"
	"leakscope/query/duck"
	"leakscope/query/estimands"
)

func perfSweeps(b *testing.B) int {
	n := 1
	if s := os.Getenv("LEAKSCOPE_PERF_SWEEPS"); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(b, err)
		n = v
	}
	return n
}

func perfConfig(b *testing.B, sweeps int) loadgen.Config {
	rates, err := loadgen.RatesFromCSV(eventstest.FixturesDir(b))
	require.NoError(b, err)
	return loadgen.Config{Experiment: "perf", Sweeps: sweeps, Rates: rates, Seed: 9}
}

// publishChunked streams the config's events through publish in chunks, so
// a 100× run never holds 13 M events in memory; it returns the last sequence.
func publishChunked(b *testing.B, cfg loadgen.Config, publish func([]events.Event) (uint64, error)) uint64 {
	var chunk []events.Event
	var last uint64
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		seq, err := publish(chunk)
		last, chunk = seq, chunk[:0]
		return err
	}
	require.NoError(b, cfg.All(func(e events.Event) error {
		chunk = append(chunk, e)
		if len(chunk) == 20000 {
			return flush()
		}
		return nil
	}))
	require.NoError(b, flush())
	return last
}

// BenchmarkP1Ingest: completions/s from publish to durable, acknowledged
// Parquet, against raw JetStream async publish of the same messages to a
// server with the same durability (fsync always). Goal: ratio ≥ 0.5.
func BenchmarkP1Ingest(b *testing.B) {
	cfg := perfConfig(b, perfSweeps(b))
	ctx := context.Background()
	for range b.N {
		raw, _ := bustest.Start(b, filepath.Join(b.TempDir(), "jetstream"))
		t0 := time.Now()
		publishChunked(b, cfg, func(evs []events.Event) (uint64, error) {
			r, err := raw.PublishAll(ctx, evs, nil)
			return r.LastSeq, err
		})
		rawT := time.Since(t0)

		s := startStack(b, b.TempDir())
		t0 = time.Now()
		last := publishChunked(b, cfg, func(evs []events.Event) (uint64, error) {
			r, err := s.Bus.PublishAll(ctx, evs, nil)
			return r.LastSeq, err
		})
		require.NoError(b, s.Bus.WaitDurable(ctx, last, nil))
		ingT := time.Since(t0)
		n := float64(cfg.Completions())
		b.ReportMetric(n/rawT.Seconds(), "raw_completions/s")
		b.ReportMetric(n/ingT.Seconds(), "lake_completions/s")
		b.ReportMetric(rawT.Seconds()/ingT.Seconds(), "ratio(goal>=0.5)")
		s.stop()
	}
}

// perfLake builds (or reuses, under LEAKSCOPE_PERF_DIR) the lake of a scale.
func perfLake(b *testing.B, sweeps int) string {
	dir := os.Getenv("LEAKSCOPE_PERF_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	data := filepath.Join(dir, fmt.Sprintf("perf_%dx", sweeps))
	lake := filepath.Join(data, "lake")
	if _, err := os.Stat(filepath.Join(data, "complete")); err == nil {
		return lake
	}
	require.NoError(b, os.RemoveAll(data))
	s := startStack(b, data)
	ctx := context.Background()
	last := publishChunked(b, perfConfig(b, sweeps), func(evs []events.Event) (uint64, error) {
		r, err := s.Bus.PublishAll(ctx, evs, nil)
		return r.LastSeq, err
	})
	require.NoError(b, s.Bus.WaitDurable(ctx, last, nil))
	s.stop()
	require.NoError(b, os.WriteFile(filepath.Join(data, "complete"), nil, 0o644))
	return lake
}

// timeIt returns the best of 3 timings after one warm-up run.
func timeIt(b *testing.B, f func() error) time.Duration {
	_, warm := timeCold(b, f)
	return warm
}

// timeCold returns the first run's time (cold: nothing cached in this
// process) and the best of 3 after it (warm).
func timeCold(b *testing.B, f func() error) (cold, warm time.Duration) {
	t0 := time.Now()
	require.NoError(b, f())
	cold = time.Since(t0)
	warm = time.Duration(1 << 62)
	for range 3 {
		t0 := time.Now()
		require.NoError(b, f())
		warm = min(warm, time.Since(t0))
	}
	return cold, warm
}

// BenchmarkP2Query: the full leakage matrix with Wilson CIs, and the cell
// rates with 1,000-resample bootstrap CIs, against a bare DuckDB GROUP BY
// count over the same Parquet files. Goal: ≤ 2× and under 1 s at 1×.
// P2b: H2, H3 (1,000 resamples) and head-to-head, each under 1 s at 1×.
func BenchmarkP2Query(b *testing.B) {
	sweeps := perfSweeps(b)
	lake := perfLake(b, sweeps)
	e, err := query.Open(lake)
	require.NoError(b, err)
	defer e.Close()
	ctx := context.Background()
	glob := duck.Quote(filepath.Join(lake, "completions", "experiment=perf", "*.parquet"))
	for range b.N {
		bare := timeIt(b, func() error {
			_, err := e.DB.Query(ctx, "SELECT run_id, persona, count(*) FROM read_parquet("+glob+") GROUP BY ALL")
			return err
		})
		b.ReportMetric(bare.Seconds(), "bare_groupby_s")
		var cells int
		cold, matrix := timeCold(b, func() error {
			lk, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "perf"})
			if err == nil {
				cells = len(lk.Cells)
			}
			return err
		})
		require.Equal(b, sweeps*5*130, cells)
		b.ReportMetric(cold.Seconds(), "leakage_cold_s")
		b.ReportMetric(matrix.Seconds(), "leakage_wilson_s")
		b.ReportMetric(matrix.Seconds()/bare.Seconds(), "leakage/bare(goal<=2)")
		if sweeps == 1 {
			for _, name := range []string{"cell-rates", "h2", "h3", "head-to-head"} {
				d := timeIt(b, func() error {
					_, err := estimands.Run(ctx, e, name, "perf", nil)
					return err
				})
				b.ReportMetric(d.Seconds(), name+"_s")
				if name == "cell-rates" {
					b.ReportMetric(d.Seconds()/bare.Seconds(), "bootstrap/bare(goal<=2)")
				}
			}
		}
	}
}

// BenchmarkIngestMemory: peak RSS of the static ingest process (against a
// NATS server in this process) while one sweep (130,000 completions) and
// then LEAKSCOPE_PERF_SWEEPS sweeps (at least 2) are written into fresh
// lakes, with the ID index bounded at 200,000 IDs; the ratio of the peaks
// shows whether memory grows with the lake. Linux only (VmHWM).
func BenchmarkIngestMemory(b *testing.B) {
	sweeps := perfSweeps(b)
	if sweeps < 2 {
		sweeps = 2
	}
	peak := func(n int) float64 {
		_, ing := staticBins(b)
		dir := b.TempDir()
		addr := freeAddr(b)
		// The server runs here, so the ingest process's peak is ingest's own.
		emb, err := bus.StartEmbedded(filepath.Join(dir, "jetstream"), addr)
		require.NoError(b, err)
		defer emb.Shutdown()
		cmd := exec.Command(ing, "--data", filepath.Join(dir, "data"), "--nats-url", "nats://"+addr, "--max-indexed-ids", "200000")
		require.NoError(b, cmd.Start())
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		ctx := context.Background()
		var bb *bus.Bus
		require.Eventually(b, func() bool {
			var err error
			bb, err = bus.Connect(ctx, "nats://"+addr, bus.DefaultConfig())
			return err == nil
		}, 20*time.Second, 100*time.Millisecond)
		defer bb.Close()
		last := publishChunked(b, perfConfig(b, n), func(evs []events.Event) (uint64, error) {
			r, err := bb.PublishAll(ctx, evs, nil)
			return r.LastSeq, err
		})
		require.NoError(b, bb.WaitDurable(ctx, last, nil))
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		require.NoError(b, err)
		for _, line := range strings.Split(string(st), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
				kb, err := strconv.ParseFloat(f[1], 64)
				require.NoError(b, err)
				return kb / 1024
			}
		}
		b.Fatal("no VmHWM")
		return 0
	}
	for range b.N {
		one := peak(1)
		many := peak(sweeps)
		b.ReportMetric(one, "peak_MiB_1x")
		b.ReportMetric(many, fmt.Sprintf("peak_MiB_%dx", sweeps))
		b.ReportMetric(many/one, "ratio(goal~1)")
	}
}
