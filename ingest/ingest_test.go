package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
	cons, err := b.IngestConsumer(ctx)
	require.NoError(t, err)
	dlq := &flakyDLQ{failures: 2}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- in.Run(rctx, cons, dlq) }()
	require.NoError(t, b.WaitDurable(ctx, ack.Sequence, nil))
	stop()
	require.NoError(t, <-done)
	st := in.Stats()
	require.NoError(t, in.Close())

	require.Equal(t, 3, dlq.calls, "two failed commits, then one that worked")
	require.Equal(t, Stats{Batches: 1, Events: 1, DeadLetters: 1, Files: 2}, st)
	m, err := dataset.OpenManifest(lake)
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
