package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
)

// BenchmarkClusterIngest (issue 10, docs/SCALING.md): completions/s from
// publish to committed Parquet on one node (fsync always, one ingest)
// against a three-node cluster on this same machine (R3 streams, fsync
// always on every node) with one and with two ingest replicas sharing the
// durable consumer — the same loadgen sweeps (LEAKSCOPE_PERF_SWEEPS, 1×
// by default), in one run, so the ratios compare like with like.
func BenchmarkClusterIngest(b *testing.B) {
	cfg := perfConfig(b, perfSweeps(b))
	n := float64(cfg.Completions())
	ctx := context.Background()
	for range b.N {
		s := startStack(b, b.TempDir())
		t0 := time.Now()
		last := publishChunked(b, cfg, func(evs []events.Event) (uint64, error) {
			r, err := s.Bus.PublishAll(ctx, evs, nil)
			return r.LastSeq, err
		})
		require.NoError(b, s.Bus.WaitDurable(ctx, last, nil))
		single := time.Since(t0)
		s.stop()
		b.ReportMetric(n/single.Seconds(), "single_node_completions/s")

		for _, replicas := range []int{1, 2} {
			d := clusterIngestRun(b, ctx, cfg, replicas)
			b.ReportMetric(n/d.Seconds(), map[int]string{1: "r3_1ingest_completions/s", 2: "r3_2ingest_completions/s"}[replicas])
			b.ReportMetric(single.Seconds()/d.Seconds(), map[int]string{1: "r3_1ingest/single", 2: "r3_2ingest/single"}[replicas])
		}
	}
}

func clusterIngestRun(b *testing.B, ctx context.Context, cfg interface {
	Chunks(int, func([]events.Event) error) error
}, replicas int) time.Duration {
	dir := b.TempDir()
	_, urls := startCluster(b, dir)
	bcfg := bus.DefaultConfig()
	bcfg.Replicas, bcfg.SharedIngest = 3, true
	pb, err := bus.Connect(ctx, urls(0, 1, 2), bcfg)
	require.NoError(b, err)
	defer pb.Close()
	_, err = pb.IngestConsumer(ctx)
	require.NoError(b, err)
	lake := filepath.Join(dir, "lake")
	for i := range replicas {
		ib, err := bus.Connect(ctx, urls(i%3, (i+1)%3), bcfg)
		require.NoError(b, err)
		defer ib.Close()
		r := startIngestReplica(b, ctx, ib, lake, []string{"ingest-1", "ingest-2"}[i], 0)
		defer r.stop()
	}
	t0 := time.Now()
	var last uint64
	require.NoError(b, cfg.Chunks(20_000, func(evs []events.Event) error {
		r, err := pb.PublishAll(ctx, evs, nil)
		last = r.LastSeq
		return err
	}))
	require.NoError(b, pb.WaitDurable(ctx, last, nil))
	return time.Since(t0)
}
