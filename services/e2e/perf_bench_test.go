package e2e

// Performance benchmarks of issue 9, each a ratio against a baseline
// measured in the same run on the same machine (make bench-perf; numbers
// in docs/PERFORMANCE.md). Scale: LEAKSCOPE_PERF_SWEEPS (default 1 = the
// #81 size, 130,000 completions); LEAKSCOPE_PERF_DIR caches built lakes
// (a 100× lake takes long to build: build it once).

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/events/bus/bustest"
	"leakscope/events/eventstest"
	"leakscope/gpuworker/loadgen"
	"leakscope/ingest"
	"leakscope/ingest/dataset"
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

// publishChunked streams the config's events through publish in chunks;
// it returns the last sequence.
func publishChunked(b *testing.B, cfg loadgen.Config, publish func([]events.Event) (uint64, error)) uint64 {
	var last uint64
	require.NoError(b, cfg.Chunks(20_000, func(evs []events.Event) error {
		seq, err := publish(evs)
		last = seq
		return err
	}))
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
	// As ingest left it while the stream was busy: idle compaction off, so
	// BenchmarkP2Query compares this lake with its compacted copy. The
	// lake's files do not depend on the server's fsync (LEAKSCOPE_PERF_SYNC
	// =interval builds a 100× lake faster).
	s := startStackWith(b, data, func(c *ingest.Config) { c.CompactEvery = -1 },
		bus.WithSync(cmp.Or(os.Getenv("LEAKSCOPE_PERF_SYNC"), "always")))
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
//
// Sub-benchmarks: "ingested" reads the lake as ingest wrote it under load
// (one file per table and experiment per batch), "compacted" a copy of it
// after dataset.Compact (files hard-linked, manifest copied; cached beside
// the lake), whose compaction time it reports.
func BenchmarkP2Query(b *testing.B) {
	sweeps := perfSweeps(b)
	lake := perfLake(b, sweeps)
	b.Run("ingested", func(b *testing.B) { p2Query(b, lake, sweeps) })
	b.Run("compacted", func(b *testing.B) { p2Query(b, compactedCopy(b, lake), sweeps) })
}

func p2Query(b *testing.B, lake string, sweeps int) {
	files, err := dataset.CommittedFiles(lake, "")
	require.NoError(b, err)
	b.ReportMetric(float64(len(files)), "lake_files")
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
		b.ReportMetric(cold.Seconds()/bare.Seconds(), "cold/bare")
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

// compactedCopy returns a compacted copy of the lake (LAKE-compacted),
// making it once: Parquet files hard-linked (compaction only adds and
// unlinks files, never changes one), manifests and everything else copied.
func compactedCopy(b *testing.B, lake string) string {
	dst := lake + "-compacted"
	done := filepath.Join(dst, "complete")
	if _, err := os.Stat(done); err == nil {
		return dst
	}
	require.NoError(b, os.RemoveAll(dst))
	require.NoError(b, filepath.WalkDir(lake, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(lake, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case strings.HasSuffix(p, ".parquet"):
			return os.Link(p, to)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, data, 0o644)
		}
	}))
	m, err := dataset.OpenManifest(dst, "")
	require.NoError(b, err)
	t0 := time.Now()
	res, err := dataset.Compact(context.Background(), dst, m, dataset.CompactOptions{})
	require.NoError(b, err)
	require.NoError(b, m.Close())
	b.ReportMetric(time.Since(t0).Seconds(), "compaction_s")
	b.Logf("compacted: %d files merged into %d, %.0f → %.0f MiB, in %s", res.FilesIn, res.FilesOut,
		float64(res.BytesIn)/(1<<20), float64(res.BytesOut)/(1<<20), time.Since(t0).Round(time.Millisecond))
	require.NoError(b, os.WriteFile(done, nil, 0o644))
	return dst
}

// BenchmarkIngestMemory: resident memory of the static ingest process
// (against a NATS server in this process, so its memory is ingest's own)
// while LEAKSCOPE_PERF_SWEEPS sweeps (at least 2) are written into a fresh
// lake, with the ID index bounded at 200,000 IDs (server fsync:
// LEAKSCOPE_PERF_SYNC, default always). RSS is sampled every
// 250 ms; if memory grew with the lake, the peak of the last quarter of
// the run would exceed the peak of the second quarter (the first is
// warm-up). Linux only (/proc).
func BenchmarkIngestMemory(b *testing.B) {
	sweeps := max(perfSweeps(b), 2)
	for range b.N {
		_, ing := staticBins(b)
		dir := b.TempDir()
		addr := freeAddr(b)
		// LEAKSCOPE_PERF_SYNC=interval: the server no longer bounds the rate,
		// ingest does — its hardest case for memory, and 100× in minutes.
		emb, err := bus.StartEmbedded(filepath.Join(dir, "jetstream"), addr, bus.WithSync(cmp.Or(os.Getenv("LEAKSCOPE_PERF_SYNC"), "always")))
		require.NoError(b, err)
		cmd := exec.Command(ing, "--data", filepath.Join(dir, "data"), "--nats-url", "nats://"+addr, "--max-indexed-ids", "200000", "--ops", "")
		require.NoError(b, cmd.Start())
		ctx := context.Background()
		var bb *bus.Bus
		require.Eventually(b, func() bool {
			bb, err = bus.Connect(ctx, "nats://"+addr, bus.DefaultConfig())
			return err == nil
		}, 20*time.Second, 100*time.Millisecond)
		var (
			mu      sync.Mutex
			samples []float64
			hwm     float64
		)
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					rss, peak := procMiB(cmd.Process.Pid)
					mu.Lock()
					samples, hwm = append(samples, rss), max(hwm, peak)
					mu.Unlock()
				}
			}
		}()
		last := publishChunked(b, perfConfig(b, sweeps), func(evs []events.Event) (uint64, error) {
			r, err := bb.PublishAll(ctx, evs, nil)
			return r.LastSeq, err
		})
		require.NoError(b, bb.WaitDurable(ctx, last, nil))
		close(stop)
		<-sampled
		bb.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		emb.Shutdown()
		q := len(samples) / 4
		require.Greater(b, q, 2, "too short a run to sample")
		peakOf := func(xs []float64) float64 {
			m := 0.0
			for _, x := range xs {
				m = max(m, x)
			}
			return m
		}
		second, fourth := peakOf(samples[q:2*q]), peakOf(samples[3*q:])
		b.ReportMetric(second, "rss_peak_2nd_quarter_MiB")
		b.ReportMetric(fourth, "rss_peak_last_quarter_MiB")
		b.ReportMetric(fourth/second, "last/2nd(goal~1)")
		b.ReportMetric(hwm, fmt.Sprintf("hwm_MiB_%dx", sweeps))
	}
}

// procMiB reads a process's resident and peak resident memory, MiB.
func procMiB(pid int) (rss, hwm float64) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(st), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}
