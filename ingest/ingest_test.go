package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus/bustest"
	"leakscope/ingest/dataset"
)

// flakyDLQ fails its first calls, as a dead-letter stream that is briefly
// unreachable would.
type flakyDLQ struct {
	mu       sync.Mutex
	failures int
	calls    int
}

func (f *flakyDLQ) PublishDeadLetter(ctx context.Context, class, subj string, seq uint64, data []byte, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failures {
		return errors.New("dead-letter stream unavailable")
	}
	return nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// A batch whose commit fails is not acknowledged: it is fetched again and
// committed once, with nothing lost and nothing doubled.
func TestFailedCommitIsRetriedWithoutLossOrDoubles(t *testing.T) {
	b, _ := bustest.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	valid, err := events.New("exp1", "run1", time.Now(), &events.Completion{Persona: "p", Question: "q", Text: "t"})
	require.NoError(t, err)
	_, err = b.JS.Publish(ctx, events.SubjectPrefix+".exp1.completion", []byte("not an event"))
	require.NoError(t, err)
	ack, err := b.Publish(ctx, valid)
	require.NoError(t, err)

	lake := filepath.Join(t.TempDir(), "lake")
	cfg := DefaultConfig(lake)
	cfg.MaxWait = 50 * time.Millisecond
	in, err := Open(cfg, quiet)
	require.NoError(t, err)
	_, err = b.IngestConsumer(ctx)
	require.NoError(t, err)
	dlq := &flakyDLQ{failures: 2}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- in.Run(rctx, b, dlq) }()
	require.NoError(t, b.WaitDurable(ctx, ack.Sequence, nil))
	stop()
	require.NoError(t, <-done)
	st := in.Stats()
	require.NoError(t, in.Close())

	require.Equal(t, 3, dlq.calls, "two failed commits, then one that worked")
	require.Equal(t, Stats{Batches: 1, Events: 1, DeadLetters: 1, Files: 3}, st, "completions, their cell_counts, dead letters")
	m, err := dataset.OpenManifest(lake, "")
	require.NoError(t, err)
	defer m.Close()
	require.Len(t, m.Entries(), 1)
	ids, err := dataset.CommittedEventIDs(lake, m)
	require.NoError(t, err)
	require.Equal(t, map[string]struct{}{valid.ID: {}}, ids)
}

func TestOpenRefusesASecondWriterAndBadConfig(t *testing.T) {
	lake := t.TempDir()
	in, err := Open(DefaultConfig(lake), quiet)
	require.NoError(t, err)
	defer in.Close()
	_, err = Open(DefaultConfig(lake), quiet)
	require.ErrorIs(t, err, dataset.ErrLocked)
	for _, c := range []Config{{}, {Lake: lake}, {Lake: lake, MaxBatchEvents: 1}, {Lake: lake, MaxBatchEvents: 1, MaxBatchBytes: 1}} {
		require.Error(t, c.Validate())
	}
}

// The disk fills up mid-batch: ingest stops acknowledging, says so in its
// health, leaves no partial file in the lake, and resumes when space returns.
func TestFullDiskStopsAndResumes(t *testing.T) {
	b, _ := bustest.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var last uint64
	for i := 0; i < 20; i++ {
		e, err := events.New("exp1", "run1", time.Now(), &events.Completion{Persona: "p", Question: "q", SampleIndex: i, Text: "t"})
		require.NoError(t, err)
		ack, err := b.Publish(ctx, e)
		require.NoError(t, err)
		last = ack.Sequence
	}
	lake := filepath.Join(t.TempDir(), "lake")
	cfg := DefaultConfig(lake)
	cfg.MaxWait = 50 * time.Millisecond
	reg := prometheus.NewPedanticRegistry()
	cfg.Metrics = reg
	in, err := Open(cfg, quiet)
	require.NoError(t, err)
	defer in.Close()
	var full atomic.Bool
	full.Store(true)
	in.write = func(lake, rel string, tb dataset.Table, rows []dataset.Row) error {
		if full.Load() {
			return fmt.Errorf("write %s: %w", rel, syscall.ENOSPC)
		}
		return dataset.WriteFile(lake, rel, tb, rows)
	}
	_, err = b.IngestConsumer(ctx)
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- in.Run(rctx, b, b) }()
	require.Eventually(t, func() bool { return !in.Health().OK }, 10*time.Second, 10*time.Millisecond)
	h := in.Health()
	require.Contains(t, h.Err, "no space left on device")
	require.False(t, h.Since.IsZero())
	cons, err := b.IngestConsumer(ctx)
	require.NoError(t, err)
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.AckFloor.Stream, "nothing acknowledged while the disk is full")
	files, _ := filepath.Glob(filepath.Join(lake, "*", "*", "*"))
	require.Empty(t, files, "no partial file visible")

	require.Eventually(t, func() bool { return testutil.ToFloat64(in.metrics.commitFailures) >= 1 }, 10*time.Second, 10*time.Millisecond)
	full.Store(false)
	require.NoError(t, b.WaitDurable(ctx, last, nil))
	require.True(t, in.Health().OK)
	require.Equal(t, 20.0, testutil.ToFloat64(in.metrics.events.WithLabelValues("committed")))
	require.Zero(t, testutil.ToFloat64(in.metrics.events.WithLabelValues("duplicate")))
	require.Positive(t, testutil.ToFloat64(in.metrics.lastCommit))
	n, err := testutil.GatherAndCount(reg, "leakscope_ingest_batches_total", "leakscope_ingest_commit_failures_total")
	require.NoError(t, err)
	require.Equal(t, 2, n, "registered on the registry it was given")
	stop()
	require.NoError(t, <-done)
	m, err := dataset.OpenManifest(lake, "")
	require.NoError(t, err)
	defer m.Close()
	ids, err := dataset.CommittedEventIDs(lake, m)
	require.NoError(t, err)
	require.Len(t, ids, 20, "every event committed once")
}

// The server forgets the consumer (a restart before it was persisted):
// ingest opens it again, the redelivered events are dropped by ID, and the
// new ones land — nothing lost, nothing doubled.
func TestForgottenConsumerIsReopened(t *testing.T) {
	b, _ := bustest.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	publish := func(from, to int) uint64 {
		var last uint64
		for i := from; i < to; i++ {
			e, err := events.New("exp1", "run1", time.Now(), &events.Completion{Persona: "p", Question: "q", SampleIndex: i, Text: "t"})
			require.NoError(t, err)
			ack, err := b.Publish(ctx, e)
			require.NoError(t, err)
			last = ack.Sequence
		}
		return last
	}
	lake := filepath.Join(t.TempDir(), "lake")
	cfg := DefaultConfig(lake)
	cfg.MaxWait = 50 * time.Millisecond
	in, err := Open(cfg, quiet)
	require.NoError(t, err)
	defer in.Close()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- in.Run(rctx, b, b) }()
	require.Eventually(t, func() bool { _, err := b.JS.Consumer(ctx, "LEAKSCOPE_EVENTS", "ingest"); return err == nil }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, b.WaitDurable(ctx, publish(0, 10), nil))
	require.NoError(t, b.JS.DeleteConsumer(ctx, "LEAKSCOPE_EVENTS", "ingest"))
	require.NoError(t, b.WaitDurable(ctx, publish(10, 20), nil))
	stop()
	require.NoError(t, <-done)
	require.Equal(t, 20, in.Stats().Events)
	require.Equal(t, 10, in.Stats().Duplicates, "the first ten came again and were dropped")
}
