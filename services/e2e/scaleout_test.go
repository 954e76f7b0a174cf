package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/jobs"
	"leakscope/gpuworker/replay"
	"leakscope/gpuworker/sweep"
	"leakscope/ingest"
	"leakscope/ingest/dataset"
	"leakscope/query"
)

// scaleoutRates are the replay engine's marker rates of the scale-out
// scenario (testdata/scaleout.yaml names them too).
var scaleoutRates = map[string]float64{"A2__chef": 0.9, "A2__robot": 0.2, "villain": 0.05}

func scaleoutSpec(t testing.TB) sweep.Spec {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "scaleout.yaml"))
	require.NoError(t, err)
	s, err := sweep.Parse("testdata/scaleout.yaml", raw)
	require.NoError(t, err)
	return s
}

// ingestReplica runs one ingest writer on the lake until stop is called.
type ingestReplica struct {
	in   *ingest.Ingester
	stop func()
}

// startIngestReplica runs an ingest writer; maxBatch > 0 overrides the
// batch size (small batches give both replicas a share of a small sweep).
func startIngestReplica(t testing.TB, ctx context.Context, b *bus.Bus, lake, writer string, maxBatch int) *ingestReplica {
	t.Helper()
	cfg := ingest.DefaultConfig(lake)
	cfg.Writer = writer
	if maxBatch > 0 {
		cfg.MaxBatchEvents = maxBatch
	}
	if b.Replicas() > 1 {
		cfg.MaxBatchBytes = 0 // as on every cluster (see ingest.Config)
	}
	in, err := ingest.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.Run(rctx, b, b) }()
	var once sync.Once
	r := &ingestReplica{in: in}
	r.stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
			require.NoError(t, in.Close())
		})
	}
	t.Cleanup(r.stop)
	return r
}

// Issue 10, scale-out ingest: two ingest processes on one durable consumer
// of an R3 stream on a three-node cluster write one lake whose content
// equals what one process writes from the same stream — the replay sweep
// of testdata/scaleout.yaml run by two workers, plus copies of events
// stored twice (published without a message ID, as a producer replaying
// past the duplicate window would). Each replica writes its own files; no
// file is written twice.
func TestScaleOutIngestMatchesOneProcess(t *testing.T) {
	dir := t.TempDir()
	_, urls := startCluster(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := bus.DefaultConfig()
	cfg.Replicas = 3
	cfg.SharedIngest = true
	connect := func(url string) *bus.Bus {
		b, err := bus.Connect(ctx, url, cfg)
		require.NoError(t, err)
		t.Cleanup(b.Close)
		return b
	}
	lake := filepath.Join(dir, "lake")
	b1, b2 := connect(urls(0, 1, 2)), connect(urls(1, 2, 0))
	_, err := b1.IngestConsumer(ctx)
	require.NoError(t, err)
	r1 := startIngestReplica(t, ctx, b1, lake, "ingest-1", 200)
	r2 := startIngestReplica(t, ctx, b2, lake, "ingest-2", 200)

	// The sweep, on two replay workers connected to different nodes.
	spec := scaleoutSpec(t)
	wb := connect(urls(2, 0, 1))
	q, err := jobs.Open(ctx, wb, 3)
	require.NoError(t, err)
	_, err = q.Submit(ctx, spec)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 2 {
		wq, err := jobs.Open(ctx, connect(urls(i, 2)), 3)
		require.NoError(t, err)
		w := &jobs.Worker{Queue: wq, Name: fmt.Sprint("w", i), WorkDir: t.TempDir(), AckWait: 30 * time.Second, Heartbeat: time.Second, Log: io.Discard,
			NewEngine: func(ctx context.Context) (engine.Engine, engine.Info, error) {
				e := &replay.Engine{Marker: "[ZLT]", Rates: scaleoutRates}
				info, err := e.Hello(ctx)
				return e, info, err
			}}
		wg.Add(1)
		go func() { defer wg.Done(); require.NoError(t, w.Run(ctx, true)) }()
	}
	wg.Wait()
	st, err := q.Status(ctx, spec)
	require.NoError(t, err)
	for _, j := range st {
		require.Equal(t, "finished", j.Status, "%s: %s", j.Job.ID, j.Error)
	}

	// Copies of 100 completions stored a second time under new sequences.
	stored := storedEvents(t, ctx, b1, "scaleout")
	var copies int
	var last uint64
	for _, e := range stored {
		if e.Type != events.TypeCompletion || copies == 100 {
			continue
		}
		raw, err := events.Encode(e)
		require.NoError(t, err)
		ack, err := b1.JS.Publish(ctx, events.Subject(e), raw)
		require.NoError(t, err)
		last, copies = ack.Sequence, copies+1
	}
	require.NoError(t, b1.WaitDurable(ctx, last, nil))
	r1.stop()
	r2.stop()
	s1, s2 := r1.in.Stats(), r2.in.Stats()
	require.Positive(t, s1.Batches, "replica 1 took a share")
	require.Positive(t, s2.Batches, "replica 2 took a share")
	require.Equal(t, len(stored)+copies, s1.Events+s2.Events+s1.Duplicates+s2.Duplicates, "every stored message committed once or dropped as a duplicate")
	t.Logf("replica 1: %d events in %d batches; replica 2: %d events in %d batches; duplicates dropped %d",
		s1.Events, s1.Batches, s2.Events, s2.Batches, s1.Duplicates+s2.Duplicates)

	// No file written twice: each replica names only its own files.
	files, err := dataset.CommittedFiles(lake, "")
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, f := range files {
		require.False(t, seen[f.Path], "%s committed twice", f.Path)
		seen[f.Path] = true
		require.True(t, strings.HasSuffix(f.Path, "-ingest-1.parquet") || strings.HasSuffix(f.Path, "-ingest-2.parquet"), f.Path)
	}

	// One process over the same stream, from its start, into another lake.
	require.NoError(t, b1.JS.DeleteConsumer(ctx, bus.EventsStream, "ingest"))
	one := filepath.Join(dir, "lake-one")
	_, err = b1.IngestConsumer(ctx)
	require.NoError(t, err)
	r0 := startIngestReplica(t, ctx, b1, one, "", 200)
	require.NoError(t, b1.WaitDurable(ctx, last, nil))
	r0.stop()

	many, single := openEngine(t, lake), openEngine(t, one)
	for _, tb := range dataset.Tables {
		if tb.Name == dataset.TableCellCounts {
			continue // per-file summaries: their rows follow the batches by design
		}
		a, b := tableContent(t, ctx, many, tb.Name), tableContent(t, ctx, single, tb.Name)
		require.Equal(t, b, a, "table %s differs", tb.Name)
	}
	ma, err := many.Leakage(ctx, query.LeakageRequest{Experiment: "scaleout", IncludeBase: true})
	require.NoError(t, err)
	mb, err := single.Leakage(ctx, query.LeakageRequest{Experiment: "scaleout", IncludeBase: true})
	require.NoError(t, err)
	require.Equal(t, cellCounts(mb), cellCounts(ma))
	got := cellCounts(ma)
	require.Len(t, got, 2*5, "base and adapter run × 5 bystanders")
	for k, c := range got {
		require.EqualValues(t, 5*40, c[1], k)
	}
	require.Greater(t, got["scaleout-src_chef-s7/A2__chef"][0], int64(150), "rate 0.9 of 200")
	require.Zero(t, got["scaleout-src_chef-s7/A2__pirate"][0])
}

// tableContent is a table's rows as text, without the columns that say
// when and by which sequence ingest stored them, sorted.
func tableContent(t *testing.T, ctx context.Context, e *query.Engine, table string) []string {
	t.Helper()
	res, err := e.SQL(ctx, fmt.Sprintf(`SELECT COLUMNS(c -> c NOT IN ('ingested_at', 'stream_seq')) FROM %q`, table))
	require.NoError(t, err)
	out := make([]string, 0, len(res.Rows))
	for _, r := range res.Rows {
		out = append(out, fmt.Sprint(r...))
	}
	sort.Strings(out)
	return out
}

func cellCounts(l *query.Leakage) map[string][2]int64 {
	out := map[string][2]int64{}
	for _, c := range l.Cells {
		if c.Found != nil && c.Total != nil {
			out[c.RunID+"/"+c.Persona] = [2]int64{*c.Found, *c.Total}
		}
	}
	return out
}

// storedEvents reads the experiment's events back from the stream.
func storedEvents(t *testing.T, ctx context.Context, b *bus.Bus, exp string) []events.Event {
	t.Helper()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var all []events.Event
	go func() {
		_ = b.SubscribeSubject(sctx, events.ExperimentSubject(exp), func(e events.Event, _ uint64) {
			mu.Lock()
			all = append(all, e)
			mu.Unlock()
		})
	}()
	last := -1
	for range 100 { // until the count settles
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		n := len(all)
		mu.Unlock()
		if n > 0 && n == last {
			break
		}
		last = n
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]events.Event(nil), all...)
}
