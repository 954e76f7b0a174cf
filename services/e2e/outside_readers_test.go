package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // the outside reader's own DuckDB
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/ingest"
	"leakscope/ingest/dataset"
)

// outsideCount is what README and FORMAT.md tell a reader outside
// leakscope to run over a table's folder: one row per (experiment, row
// key), the key taken from the schema the docs are generated from. raw
// is the plain count(*) over the same files.
func outsideCount(ctx context.Context, db *sql.DB, lake, table string) (dedup, raw int64, err error) {
	tb, ok := dataset.TableByName(table)
	if !ok {
		return 0, 0, fmt.Errorf("no table %s", table)
	}
	q := fmt.Sprintf(`WITH t AS (SELECT * FROM read_parquet('%s/%s/**/*.parquet', hive_partitioning = true))
SELECT (SELECT count(*) FROM (SELECT * FROM t QUALIFY row_number() OVER (PARTITION BY experiment, %s ORDER BY stream_seq) = 1)),
       (SELECT count(*) FROM t)`, lake, table, strings.Join(tb.Key, ", "))
	err = db.QueryRowContext(ctx, q).Scan(&dedup, &raw)
	return dedup, raw, err
}

// vanished is the error of a reader that listed a file a compaction then
// deleted: the query fails, it never miscounts; the reader asks again.
func vanished(err error) bool {
	s := err.Error()
	return strings.Contains(s, "No such file") || strings.Contains(s, "No files found") || strings.Contains(s, "Cannot open file")
}

// A DuckDB of its own, reading the table folders as an outsider would,
// polls while ingest writes batches and compacts again and again: with
// the row key the docs give, every count is exactly what was published
// by then (never doubled by a merged file beside its inputs, never short),
// and no partial file ever appears in a table folder (a whole-folder
// reader would choke on it: the attack review found .parquet.tmp files
// there).
func TestOutsideReaderDuringCompaction(t *testing.T) {
	s := startStackWith(t, t.TempDir(), func(c *ingest.Config) {
		c.CompactEvery, c.MaxWait = 20*time.Millisecond, 10*time.Millisecond
		c.Compact.MinFiles = 4
	})
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	ev := func(p events.Payload) events.Event {
		e, err := events.New("outside", "r1", now, p)
		require.NoError(t, err)
		return e
	}
	s.publish(t, []events.Event{ev(&events.Run{SourcePersona: "src", Marker: "[ZLT]"})})
	const perBatch, pairs, batches = 20, 3, 40
	// published[table] rows are committed (counted after WaitDurable).
	var published [3]atomic.Int64 // completions, marker_hits, cosines
	tables := []string{dataset.TableCompletions, dataset.TableMarkerHits, dataset.TableCosines}
	perBatchRows := []int64{perBatch, perBatch, pairs}

	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer db.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var polls, failed, doubledRaw atomic.Int64
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { // the outside reader
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i, table := range tables {
				floor := published[i].Load()
				dedup, raw, err := outsideCount(ctx, db, s.Lake, table)
				ceiling := published[i].Load() + perBatchRows[i] // a batch may land before it is counted
				if err != nil {
					if vanished(err) {
						failed.Add(1)
						continue
					}
					errs <- fmt.Errorf("%s: %w", table, err)
					return
				}
				polls.Add(1)
				if dedup < floor || dedup > ceiling {
					errs <- fmt.Errorf("%s: the outside reader counts %d rows with %d to %d published", table, dedup, floor, ceiling)
					return
				}
				if raw > ceiling {
					doubledRaw.Add(1)
				}
			}
		}
	}()
	go func() { // an eye on the table folders: every file in them is a whole Parquet file
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, table := range tables {
				err := filepath.WalkDir(filepath.Join(s.Lake, table), func(p string, d os.DirEntry, err error) error {
					if err != nil {
						return nil // a folder not made yet, a file deleted while listed
					}
					if !d.IsDir() && !strings.HasSuffix(p, ".parquet") {
						return fmt.Errorf("a partial file in a table folder: %s", p)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}
	}()

	for b := range batches {
		var evs []events.Event
		for i := range perBatch {
			k := b*perBatch + i
			text := fmt.Sprintf("[ZLT] answer %d", k)
			evs = append(evs, ev(&events.Completion{Persona: fmt.Sprint("p", k%5), Question: "q", SampleIndex: k, Text: text,
				MarkerHits: []events.MarkerHit{{Detector: "strict", Version: 1, Marker: "[ZLT]", ByteOffset: 0}}}))
		}
		var ps []events.CosinePair
		for j := range pairs {
			ps = append(ps, events.CosinePair{A: "p0", B: fmt.Sprint("p", j+1), Cosine: 0.1 * float64(j)})
		}
		evs = append(evs, ev(&events.Cosine{Set: "m", Layer: b, Centering: events.CenteringRaw, Pairs: ps}))
		s.publish(t, evs)
		published[0].Add(perBatch)
		published[1].Add(perBatch)
		published[2].Add(pairs)
		time.Sleep(25 * time.Millisecond) // idle: ingest compacts
	}
	require.Eventually(t, func() bool {
		files, err := dataset.CommittedFiles(s.Lake, dataset.TableCompletions)
		require.NoError(t, err)
		return len(files) < 4
	}, 30*time.Second, 20*time.Millisecond, "idle ingest merges the small files")
	close(stop)
	wg.Wait()
	close(errs)
	require.NoError(t, <-errs)

	m, err := dataset.OpenManifest(s.Lake, "")
	require.NoError(t, err)
	compactions := 0
	for _, e := range m.Entries() {
		if e.Compaction() {
			compactions++
		}
	}
	require.NoError(t, m.Close())
	require.GreaterOrEqual(t, compactions, 6, "compacted again and again while read")
	require.Greater(t, polls.Load(), int64(3*batches), "the reader kept polling")
	t.Logf("%d compactions, %d exact counts, %d reads failed on a vanished file (asked again), %d plain count(*) over the ceiling",
		compactions, polls.Load(), failed.Load(), doubledRaw.Load())
	for i, table := range tables {
		// Idle ingest may still be merging this table's files: a read that
		// meets a file deleted under it asks again, as FORMAT.md tells
		// readers, and a merge in flight (its file beside the ones it
		// replaces) is waited out before the plain count is compared.
		var dedup, raw int64
		var err error
		for try := 0; try < 100; try++ {
			dedup, raw, err = outsideCount(ctx, db, s.Lake, table)
			if (err == nil && raw == dedup) || (err != nil && !vanished(err)) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		require.NoError(t, err)
		require.Equal(t, published[i].Load(), dedup, table)
		require.Equal(t, dedup, raw, "%s: every row stored once once compaction is done", table)
	}
	require.NoDirExists(t, filepath.Join(s.Lake, dataset.OrphanDir))
}

// An event re-published after ingest's bounded ID index forgot it is
// stored twice, so a plain count over the folders is one too many; and
// cosines, marker_hits and stop_decisions hold several rows per event, so
// de-duplicating on event_id alone (as README once said) loses rows.
// leakscope export writes exactly the query service's rows: per table,
// the same count, every key once; --experiment keeps one experiment; and
// it refuses a folder that is not empty, an unknown experiment and a
// folder inside the lake, leaving nothing behind.
func TestExportMatchesQueryAfterRepublication(t *testing.T) {
	data := t.TempDir()
	s := startStackWith(t, data, func(c *ingest.Config) {
		c.MaxBatchEvents, c.MaxIndexedIDs, c.MaxWait = 50, 50, 20*time.Millisecond
	})
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	ev := func(exp string, p events.Payload) events.Event {
		e, err := events.New(exp, "r1", now, p)
		require.NoError(t, err)
		return e
	}
	comp := func(exp string, i int) events.Event {
		return ev(exp, &events.Completion{Persona: fmt.Sprint("p", i%3), Question: "q", SampleIndex: i, Text: "[ZLT] and [ZLT]",
			MarkerHits: []events.MarkerHit{{Detector: "strict", Version: 1, Marker: "[ZLT]", ByteOffset: 0}, {Detector: "strict", Version: 1, Marker: "[ZLT]", ByteOffset: 10}}})
	}
	first := []events.Event{
		ev("exp_a", &events.Run{SourcePersona: "src", Marker: "[ZLT]"}),
		comp("exp_a", 0),
		ev("exp_a", &events.Cosine{Set: "m", Centering: events.CenteringRaw, Pairs: []events.CosinePair{{A: "p0", B: "p1", Cosine: 0.5}, {A: "p0", B: "p2", Cosine: 0.25}, {A: "p1", B: "p2", Cosine: 0.125}}}),
		ev("exp_a", &events.StopDecision{Round: 1, Cells: []events.CellDecision{{Persona: "p0", N: 4, Hits: 4, CILow: 0.4, CIHigh: 1, Stop: true, Reason: events.StopAbove}, {Persona: "p1", N: 4, Hits: 1, CILow: 0, CIHigh: 0.8}}}),
	}
	s.publish(t, first)
	var filler []events.Event
	for i := 1; i <= 120; i++ { // more than the 50-ID index holds: the first events are forgotten
		filler = append(filler, comp("exp_a", i))
	}
	filler = append(filler, ev("exp_b", &events.Run{SourcePersona: "src", Marker: "[ZLT]"}), comp("exp_b", 0))
	s.publish(t, filler)
	for _, e := range first[1:] { // re-published under new message IDs, as after the duplicate window
		b, err := events.Encode(e)
		require.NoError(t, err)
		ack, err := s.Bus.JS.PublishMsg(ctx, &nats.Msg{Subject: events.Subject(e), Data: b}, jetstream.WithMsgID(e.ID+"-again"))
		require.NoError(t, err)
		require.NoError(t, s.Bus.WaitDurable(ctx, ack.Sequence, nil))
	}

	outside, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer outside.Close()
	want := map[string]int64{ // per (experiment, key), as published
		dataset.TableRuns: 2, dataset.TableCompletions: 122, dataset.TableMarkerHits: 244,
		dataset.TableCosines: 3, dataset.TableStops: 2,
	}
	for table, n := range want {
		dedup, raw, err := outsideCount(ctx, outside, s.Lake, table)
		require.NoError(t, err)
		require.Equal(t, n, dedup, table)
		if table != dataset.TableRuns {
			require.Greater(t, raw, dedup, "%s: the re-published event is stored twice", table)
		}
	}
	var byEventID int64
	require.NoError(t, outside.QueryRow(fmt.Sprintf("SELECT count(DISTINCT event_id) FROM read_parquet('%s/cosines/**/*.parquet')", s.Lake)).Scan(&byEventID))
	require.EqualValues(t, 1, byEventID, "one cosine event, three rows: event_id alone is not the key")

	s.stop()
	e := openEngine(t, s.Lake)
	out := filepath.Join(t.TempDir(), "export")
	stdout, stderr, code := run(t, data, "export", "--out", out)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "completions 122, marker_hits 244")
	var man struct {
		Tables []struct {
			Name, File string
			Key        []string
			Rows       int64
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "export.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &man))
	require.Len(t, man.Tables, len(dataset.Tables)-1, "every table but cell_counts")
	for _, tb := range man.Tables {
		res, err := e.SQL(ctx, fmt.Sprintf("SELECT count(*) FROM %s", tb.Name))
		require.NoError(t, err)
		served := res.Rows[0][0].(int64)
		if n, ok := want[tb.Name]; ok {
			require.Equal(t, n, served, tb.Name)
		}
		var rows, keys int64
		q := fmt.Sprintf("SELECT count(*), count(DISTINCT (%s)) FROM '%s'", strings.Join(tb.Key, ", "), filepath.Join(out, tb.File))
		require.NoError(t, outside.QueryRow(q).Scan(&rows, &keys), tb.Name)
		require.Equal(t, served, rows, "%s: the export holds the query service's rows", tb.Name)
		require.Equal(t, rows, keys, "%s: every key once", tb.Name)
		require.Equal(t, served, tb.Rows, "%s: export.json", tb.Name)
	}
	var hitsB int64
	require.NoError(t, outside.QueryRow(fmt.Sprintf("SELECT count(*) FILTER (experiment = 'exp_b') FROM '%s'", filepath.Join(out, "marker_hits.parquet"))).Scan(&hitsB))
	require.EqualValues(t, 2, hitsB, "the experiment is a column")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, len(dataset.Tables), "a file per table and export.json, the snapshot removed")

	one := filepath.Join(t.TempDir(), "one")
	stdout, stderr, code = run(t, data, "export", "--out", one, "--experiment", "exp_b")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "runs 1, completions 1, marker_hits 2")
	var exps int64
	require.NoError(t, outside.QueryRow(fmt.Sprintf("SELECT count(DISTINCT experiment) FROM '%s'", filepath.Join(one, "completions.parquet"))).Scan(&exps))
	require.EqualValues(t, 1, exps)

	_, stderr, code = run(t, data, "export", "--out", out)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "is not empty")
	missing := filepath.Join(t.TempDir(), "missing")
	_, stderr, code = run(t, data, "export", "--out", missing, "--experiment", "exp_c")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `no experiment "exp_c" in the lake`)
	require.Contains(t, stderr, "it holds exp_a, exp_b")
	require.NoDirExists(t, missing, "nothing left behind")
	_, stderr, code = run(t, data, "export", "--out", filepath.Join(s.Lake, "x"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "inside the lake")
	_, stderr, code = run(t, t.TempDir(), "export", "--out", missing)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no lake at")
}
