package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/events/bus/bustest"
	"leakscope/ingest/dataset"
)

// publishValid publishes n valid completions of exp1/run1 and returns the
// last stream sequence.
func publishValid(ctx context.Context, t *testing.T, b *bus.Bus, n int) uint64 {
	t.Helper()
	var last uint64
	for i := 0; i < n; i++ {
		e, err := events.New("exp1", "run1", time.Now(), &events.Completion{Persona: "p", Question: "q", SampleIndex: i, Text: "t"})
		require.NoError(t, err)
		ack, err := b.Publish(ctx, e)
		require.NoError(t, err)
		last = ack.Sequence
	}
	return last
}

// runUntilDurable runs in until the ingest consumer has acknowledged seq.
func runUntilDurable(ctx context.Context, t *testing.T, in *Ingester, b *bus.Bus, dlq deadLetterer, seq uint64) {
	t.Helper()
	_, err := b.IngestConsumer(ctx)
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- in.Run(rctx, b, dlq) }()
	require.NoError(t, b.WaitDurable(ctx, seq, nil), "ingest must move past the rejected message; health: %+v", in.Health())
	stop()
	require.NoError(t, <-done)
}

// deadLetterColumn reads one column of the lake's dead_letters rows.
func deadLetterColumn(t *testing.T, lake, column string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(lake, dataset.TableDeadLetters, "*", "*.parquet"))
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		rel, err := filepath.Rel(lake, f)
		require.NoError(t, err)
		vs, err := dataset.ReadStrings(lake, rel, column)
		require.NoError(t, err)
		out = append(out, vs...)
	}
	return out
}

// Issue 18, item 1: an invalid message just under the server's max payload
// no longer stops ingest for good. Its dead letter is cut to fit (the
// headers made it too large before) and says so, with the original's size
// and SHA-256; the valid events behind it land.
func TestOversizedInvalidMessageIsDeadLetteredAndIngestMovesOn(t *testing.T) {
	b, _ := bustest.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	limit := int(b.MaxPayload())
	require.Equal(t, 8<<20, limit, "the embedded server's max payload")
	body := []byte(`{"type":"completion","payload":{"text":"` + strings.Repeat("x", limit-40-len(`{"type":"completion","payload":{"text":""}}`)) + `"}}`)
	require.Len(t, body, limit-40)
	_, err := b.JS.Publish(ctx, events.SubjectPrefix+".x.completion", body)
	require.NoError(t, err)
	last := publishValid(ctx, t, b, 3)

	lake := filepath.Join(t.TempDir(), "lake")
	cfg := DefaultConfig(lake)
	cfg.MaxWait = 50 * time.Millisecond
	in, err := Open(cfg, quiet)
	require.NoError(t, err)
	defer in.Close()
	runUntilDurable(ctx, t, in, b, b, last)
	st := in.Stats()
	require.Equal(t, 3, st.Events)
	require.Equal(t, 1, st.DeadLetters)
	require.True(t, in.Health().OK)

	sum := sha256.Sum256(body)
	dlq, err := b.JS.Stream(ctx, bus.DeadLetterStream)
	require.NoError(t, err)
	m, err := dlq.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(len(body)), m.Header.Get(bus.HeaderRawSize))
	require.Equal(t, hex.EncodeToString(sum[:]), m.Header.Get(bus.HeaderRawSHA256))
	kept, err := strconv.Atoi(m.Header.Get(bus.HeaderRawTruncated))
	require.NoError(t, err, "the dead letter says it was cut")
	require.Equal(t, kept, len(m.Data))
	require.Less(t, kept, len(body))
	require.Greater(t, kept, len(body)-4096, "only the room the headers need was cut")
	require.Equal(t, body[:kept], m.Data)
	require.Contains(t, m.Header.Get(bus.HeaderReason), `"schema_version"`)
	require.Equal(t, "1", m.Header.Get(bus.HeaderOriginalSeq))

	// The lake's row keeps the whole body, its hash and its size.
	require.Equal(t, []string{hex.EncodeToString(sum[:])}, deadLetterColumn(t, lake, "raw_sha256"))
	require.Equal(t, []string{string(body)}, deadLetterColumn(t, lake, "raw"))
	require.Equal(t, []string{""}, deadLetterColumn(t, lake, "stream_error"))
}

// refusingDLQ is a dead-letter stream that refuses every dead letter.
type refusingDLQ struct{ calls int }

func (r *refusingDLQ) PublishDeadLetter(ctx context.Context, class, subj string, seq uint64, data []byte, reason string) error {
	r.calls++
	return errors.New("permission denied")
}

// When the dead-letter stream refuses a dead letter on every try, the
// message is still no reason to stop: after MaxDeadLetterTries deliveries
// its dead_letters row is committed alone, saying why, and counted.
func TestDeadLetterStreamThatRefusesForGoodDoesNotBlockIngest(t *testing.T) {
	b, _ := bustest.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	_, err := b.JS.Publish(ctx, events.SubjectPrefix+".exp1.completion", []byte("not an event"))
	require.NoError(t, err)
	last := publishValid(ctx, t, b, 2)

	lake := filepath.Join(t.TempDir(), "lake")
	cfg := DefaultConfig(lake)
	cfg.MaxWait = 50 * time.Millisecond
	in, err := Open(cfg, quiet)
	require.NoError(t, err)
	defer in.Close()
	dlq := &refusingDLQ{}
	runUntilDurable(ctx, t, in, b, dlq, last)
	require.Equal(t, MaxDeadLetterTries, dlq.calls, "one try per delivery")
	require.Equal(t, Stats{Batches: 1, Events: 2, DeadLetters: 1, Files: 3}, in.Stats())
	require.Equal(t, 1.0, testutil.ToFloat64(in.metrics.deadLetterStreamFailures))
	errs := deadLetterColumn(t, lake, "stream_error")
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "permission denied")
	require.Equal(t, []string{"not an event"}, deadLetterColumn(t, lake, "raw"))
}
