package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/ingest"
	"leakscope/ingest/dataset"
	"leakscope/query"
	"leakscope/query/estimands"
)

// lakeAnswers is every number the tests compare before and after
// compaction: the leakage matrix of each experiment under each detector
// (and how it was counted), the i81 estimands, and each table's rows.
func lakeAnswers(t *testing.T, e *query.Engine) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	put := func(k string, v any) {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		out[k] = string(b)
	}
	exps, err := e.SQL(ctx, "SELECT DISTINCT experiment FROM completions ORDER BY 1")
	require.NoError(t, err)
	for _, r := range exps.Rows {
		exp := r[0].(string)
		for _, det := range []string{"strict", "loose", "recorded"} {
			lk, err := e.Leakage(ctx, query.LeakageRequest{Experiment: exp, Detector: det, IncludeBase: true})
			require.NoError(t, err)
			put("leakage/"+exp+"/"+det, lk)
		}
	}
	for _, name := range []string{"cell-rates", "h2", "h3", "head-to-head"} {
		res, err := estimands.Run(ctx, e, name, "leakage_i81", nil)
		require.NoError(t, err)
		// The lake's files (count, fingerprint of paths and sizes) are
		// what compaction changes, and the time of computing.
		res.Provenance.LakeFiles, res.Provenance.Fingerprint, res.Provenance.ComputedAt = 0, "", time.Time{}
		put("estimand/"+name, res)
	}
	for _, tb := range dataset.Tables {
		res, err := e.SQL(ctx, fmt.Sprintf("SELECT count(*) FROM %s", tb.Name))
		require.NoError(t, err)
		put("rows/"+tb.Name, res.Rows)
	}
	res, err := e.SQL(ctx, "SELECT sum(n)::BIGINT FROM cell_counts")
	require.NoError(t, err)
	put("cell_counts/n", res.Rows)
	return out
}

// Compaction changes speed, never numbers: the fixtures imported in
// batches of 100 events (hundreds of small files), then compacted
// offline, answer every leakage matrix, estimand and table count exactly
// as before, still from the summaries where they were, from far fewer
// files.
func TestCompactionChangesNoNumber(t *testing.T) {
	s := startStackWith(t, t.TempDir(), func(c *ingest.Config) {
		c.MaxBatchEvents, c.CompactEvery = 100, -1
	})
	dir := fixturesDir(t)
	s.importPaths(t, dir, dir)
	s.stop()
	e := openEngine(t, s.Lake)
	before := lakeAnswers(t, e)
	fromSummaries := 0
	for _, v := range before {
		if strings.Contains(v, `"counted_from":"`+query.CountedFromSummaries+`"`) {
			fromSummaries++
		}
	}
	require.Greater(t, fromSummaries, 5, "the matrices came from the summaries (compared with counted_from after)")
	filesBefore, err := dataset.CommittedFiles(s.Lake, "")
	require.NoError(t, err)

	// Keep one batch's completions and summary to put back afterwards, as
	// a crash between the compaction's commit and its deletions would.
	var kept []string
	var keptExp string
	for _, fe := range filesBefore {
		if fe.Table == dataset.TableCompletions && strings.Contains(before["leakage/"+fe.Experiment+"/strict"], `"counted_from":"`+query.CountedFromSummaries+`"`) {
			keptExp = fe.Experiment
			kept = []string{fe.Path, filepath.Join(dataset.Partition(dataset.TableCellCounts, fe.Experiment), filepath.Base(fe.Path))}
			break
		}
	}
	require.NotEmpty(t, kept)
	var keptData [][]byte
	for _, p := range kept {
		b, err := os.ReadFile(filepath.Join(s.Lake, p))
		require.NoError(t, err)
		keptData = append(keptData, b)
	}

	m, err := dataset.OpenManifest(s.Lake, "")
	require.NoError(t, err)
	res, err := dataset.Compact(context.Background(), s.Lake, m, dataset.CompactOptions{MinFiles: 4})
	require.NoError(t, err)
	require.NoError(t, m.Close())
	filesAfter, err := dataset.CommittedFiles(s.Lake, "")
	require.NoError(t, err)
	onDisk, err := filepath.Glob(filepath.Join(s.Lake, "*", "*", "*.parquet"))
	require.NoError(t, err)
	require.Len(t, onDisk, len(filesAfter), "replaced files deleted")
	t.Logf("%d files → %d (%d merged into %d)", len(filesBefore), len(filesAfter), res.FilesIn, res.FilesOut)
	require.Less(t, len(filesAfter)*4, len(filesBefore), "at least 4× fewer files")

	sameAnswers(t, before, lakeAnswers(t, e))                     // the same engine: its caches must follow
	sameAnswers(t, before, lakeAnswers(t, openEngine(t, s.Lake))) // and a fresh one

	// The replaced files back beside the merged ones: readers count every
	// row once (the matrix from the texts, having seen an event twice).
	for i, p := range kept {
		require.NoError(t, os.WriteFile(filepath.Join(s.Lake, p), keptData[i], 0o644))
	}
	crashed := lakeAnswers(t, e)
	countedFrom := regexp.MustCompile(`"counted_from":"[^"]*"`)
	for k, v := range before {
		require.Equal(t, countedFrom.ReplaceAllString(v, ""), countedFrom.ReplaceAllString(crashed[k], ""), k)
	}
	require.Contains(t, crashed["leakage/"+keptExp+"/strict"], `"counted_from":"`+query.CountedFromTexts+`"`, "a duplicate event sends the matrix to the texts")
	m, err = dataset.OpenManifest(s.Lake, "")
	require.NoError(t, err)
	moved, err := dataset.Recover(s.Lake, m)
	require.NoError(t, err)
	require.NoError(t, m.Close())
	require.Empty(t, moved, "replaced files are deleted, not kept as orphans")
	for _, p := range kept {
		require.NoFileExists(t, filepath.Join(s.Lake, p))
	}
	sameAnswers(t, before, lakeAnswers(t, e))
}

// sameAnswers compares lakeAnswers key by key, showing where two differ.
func sameAnswers(t *testing.T, want, got map[string]string) {
	t.Helper()
	require.Len(t, got, len(want))
	for k, w := range want {
		g := got[k]
		if w == g {
			continue
		}
		i := 0
		for i < len(w) && i < len(g) && w[i] == g[i] {
			i++
		}
		from := max(i-300, 0)
		t.Fatalf("%s differs at byte %d:\nwant …%s\ngot  …%s", k, i, w[from:min(i+200, len(w))], g[from:min(i+200, len(g))])
	}
}

// Ingest compacts while the stream is idle, with queries running all the
// while: none fails, none counts a row twice, and every file ends merged.
func TestIngestCompactsWhileIdleUnderQueries(t *testing.T) {
	s := startStackWith(t, t.TempDir(), func(c *ingest.Config) {
		c.CompactEvery, c.MaxWait = 50*time.Millisecond, 20*time.Millisecond
		c.Compact.MinFiles = 8
	})
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	ev := func(p events.Payload) events.Event {
		e, err := events.New("idle", "r1", now, p)
		require.NoError(t, err)
		return e
	}
	publish := func(evs []events.Event) { s.publish(t, evs) }
	publish([]events.Event{ev(&events.Run{SourcePersona: "src", Marker: "[ZLT]"})})
	e := openEngine(t, s.Lake)
	var mu sync.Mutex
	published := 0
	stop := make(chan struct{})
	errs := make(chan error, 1)
	go func() { // a reader that never stops asking
		defer close(errs)
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			floor := published
			mu.Unlock()
			lk, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "idle"})
			if err != nil {
				errs <- err
				return
			}
			sums, err := e.SQL(ctx, "SELECT coalesce(sum(n), 0)::BIGINT FROM cell_counts")
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			ceiling := published + 30 // a batch may land before it is counted as published
			mu.Unlock()
			var n, hits int64
			for _, c := range lk.Cells {
				n, hits = n+*c.Total, hits+*c.Found
			}
			if n < int64(floor) || n > int64(ceiling) || 3*hits > n+2 {
				errs <- fmt.Errorf("matrix counts %d completions (%d hits) with %d to %d published", n, hits, floor, ceiling)
				return
			}
			if summed := sums.Rows[0][0].(int64); summed < int64(floor) || summed > int64(ceiling) {
				errs <- fmt.Errorf("cell_counts sum to %d with %d to %d published", summed, floor, ceiling)
				return
			}
		}
	}()
	for b := range 40 { // forty batches with idle moments between them
		var evs []events.Event
		for i := range 30 {
			k := b*30 + i
			text := fmt.Sprint("answer ", k)
			if k%3 == 0 {
				text += " [ZLT]"
			}
			evs = append(evs, ev(&events.Completion{Persona: fmt.Sprint("p", k%5), Question: "q", SampleIndex: k, Text: text}))
		}
		publish(evs)
		mu.Lock()
		published += len(evs)
		mu.Unlock()
		time.Sleep(30 * time.Millisecond)
	}
	require.Eventually(t, func() bool {
		files, err := dataset.CommittedFiles(s.Lake, dataset.TableCompletions)
		require.NoError(t, err)
		return len(files) < 8
	}, 30*time.Second, 50*time.Millisecond, "idle ingest merges the small files")
	close(stop)
	require.NoError(t, <-errs)
	n, hits := summariesMatchTexts(t, e, "idle")
	require.EqualValues(t, 1200, n)
	require.EqualValues(t, 400, hits)
}

// leakscope compact merges a stopped lake's small files and says what it
// did; it refuses while the writer's ingest holds the lake, and bad flags.
func TestCompactCommand(t *testing.T) {
	data := t.TempDir()
	_, errOut, code := run(t, data, "compact")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no lake at")
	require.NoDirExists(t, filepath.Join(data, "lake"), "a typo in --data creates nothing")

	s := startStackWith(t, data, func(c *ingest.Config) { c.MaxBatchEvents, c.CompactEvery = 100, -1 })
	dir := fixturesDir(t)
	s.importPaths(t, dir, filepath.Join(dir, "leakage_i81"))
	_, errOut, code = run(t, data, "compact")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "ingest is running and compacts by itself")
	s.stop()
	before, _, code := run(t, data, "leakage", "--experiment", "leakage_i81")
	require.Equal(t, 0, code)

	_, errOut, code = run(t, data, "compact", "--min-files", "1")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "--min-files 1: want >= 2")
	_, errOut, code = run(t, data, "compact", "--writer", "Bad/Name")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "writer name")
	_, errOut, code = run(t, data, "compact", "--writer", "ingest-9")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `no writer "ingest-9"`)
	require.NoFileExists(t, filepath.Join(data, "lake", dataset.ManifestFile("ingest-9")))

	out, errOut, code := run(t, data, "compact", "--min-files", "2")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `compacted .*: \d+ committed files → \d+ \(\d+ merged into \d+\)`, out)
	after, _, code := run(t, data, "leakage", "--experiment", "leakage_i81")
	require.Equal(t, 0, code)
	require.Equal(t, before, after, "the same matrix")
	out, _, _ = run(t, data, "compact", "--min-files", "2")
	require.Contains(t, out, "nothing to merge")
}
