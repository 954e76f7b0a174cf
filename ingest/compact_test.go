package ingest

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/events/bus/bustest"
	"leakscope/ingest/dataset"
)

// Idle ingest merges small files and counts them; a compaction that fails
// (a committed file vanished) is logged, never stops ingest, and is tried
// again only after CompactEvery.
func TestIdleCompactionMergesAndSurvivesFailure(t *testing.T) {
	b, ctx, lake, cfg := busAndLake(t)
	cfg.MaxWait, cfg.CompactEvery, cfg.Compact.MinFiles = 20*time.Millisecond, time.Hour, 4
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	var logs bytes.Buffer
	in, err := Open(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	defer in.Close()
	_, err = b.IngestConsumer(ctx)
	require.NoError(t, err)
	publish := func(exp string, from, n int) {
		for i := from; i < from+n; i++ { // one batch each: ingest is not running yet
			e, err := events.New(exp, "r", time.Now(), &events.Completion{Persona: "p", Question: "q", SampleIndex: i, Text: "t"})
			require.NoError(t, err)
			_, err = b.Publish(ctx, e)
			require.NoError(t, err)
			cons, err := b.IngestConsumer(ctx)
			require.NoError(t, err)
			require.NoError(t, in.step(ctx, cons, b))
		}
	}
	publish("good", 0, 5)
	publish("bad", 0, 5)
	files := in.manifest.Files(dataset.TableCompletions)
	require.Len(t, files, 10)
	for _, fe := range files {
		if fe.Experiment == "bad" {
			require.NoError(t, os.Remove(filepath.Join(lake, fe.Path)))
			break
		}
	}
	in.compactIdle(ctx) // "bad" fails, "good" is merged all the same
	require.Contains(t, logs.String(), "compaction left some small files")
	require.Contains(t, logs.String(), "no such file")
	count := func(exp string) (n int) {
		for _, fe := range in.manifest.Files(dataset.TableCompletions) {
			if fe.Experiment == exp {
				n++
			}
		}
		return n
	}
	require.Equal(t, [2]int{1, 5}, [2]int{count("good"), count("bad")})
	require.True(t, in.nextCompact.After(time.Now().Add(50*time.Minute)), "next look after CompactEvery")
	in.compactIdle(ctx)
	require.Equal(t, 1, bytes.Count(logs.Bytes(), []byte("compaction left")), "not retried before then")

	publish("good", 5, 1) // ingest goes on committing
	in.nextCompact = time.Time{}
	for _, fe := range in.manifest.Files(dataset.TableCompletions) { // mend "bad" by hand
		if fe.Experiment == "bad" && !fileExists(filepath.Join(lake, fe.Path)) {
			require.NoError(t, dataset.WriteFile(lake, fe.Path, mustTable(t), nil))
		}
	}
	in.compactIdle(ctx)
	require.Equal(t, 1, bytes.Count(logs.Bytes(), []byte("compaction left")))
	require.Equal(t, [2]int{2, 1}, [2]int{count("good"), count("bad")}, "good's two files wait for MinFiles")
	rows := 0
	for _, fe := range in.manifest.Files(dataset.TableCompletions) {
		rows += fe.Rows
	}
	require.Equal(t, 4+6, rows, "the mended file was empty")
	require.Equal(t, 20.0, testutil.ToFloat64(in.metrics.compactedFiles), "10 completions files and their 10 summaries")
	require.Contains(t, logs.String(), "compacted small files")
}

// busAndLake starts a bus and gives a context bounded to a minute, a lake
// folder and its default ingest configuration.
func busAndLake(t *testing.T) (*bus.Bus, context.Context, string, Config) {
	b, _ := bustest.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	lake := filepath.Join(t.TempDir(), "lake")
	return b, ctx, lake, DefaultConfig(lake)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func mustTable(t *testing.T) dataset.Table {
	tb, ok := dataset.TableByName(dataset.TableCompletions)
	require.True(t, ok)
	return tb
}

// Batches record whether ingest's ID index still held every ID the writer
// had committed (Entry.IDsChecked): true until it first evicts, false
// after, and false again after a restart that could not load the whole
// history.
func TestBatchesSayWhetherEveryIDWasChecked(t *testing.T) {
	b, ctx, _, cfg := busAndLake(t)
	cfg.MaxWait, cfg.MaxBatchEvents, cfg.MaxIndexedIDs, cfg.CompactEvery = 20*time.Millisecond, 4, 8, -1
	open := func() *Ingester {
		in, err := Open(cfg, quiet)
		require.NoError(t, err)
		return in
	}
	in := open()
	_, err := b.IngestConsumer(ctx)
	require.NoError(t, err)
	next := 0
	batch := func(in *Ingester) {
		for range 4 {
			e, err := events.New("x", "r", time.Now(), &events.Completion{Persona: "p", Question: "q", SampleIndex: next, Text: "t"})
			require.NoError(t, err)
			next++
			_, err = b.Publish(ctx, e)
			require.NoError(t, err)
		}
		cons, err := b.IngestConsumer(ctx)
		require.NoError(t, err)
		require.NoError(t, in.step(ctx, cons, b))
	}
	flags := func(in *Ingester) (out []bool) {
		for _, e := range in.manifest.Entries() {
			out = append(out, e.IDsChecked)
		}
		return out
	}
	batch(in)
	batch(in) // 8 IDs: still all held
	batch(in) // checked against all 8, then the first batch is evicted
	batch(in)
	require.Equal(t, []bool{true, true, true, false}, flags(in))
	require.NoError(t, in.Close())
	in = open() // 16 IDs committed, 8 loaded
	defer in.Close()
	batch(in)
	require.Equal(t, []bool{true, true, true, false, false}, flags(in))
}
