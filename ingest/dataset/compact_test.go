package dataset

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// smallLake commits n batches of 5 completions each (personas p0..p4, one
// marker hit in five) to experiment exp, each batch as a completions file
// and its cell_counts summary under one name, as ingest writes them.
func smallLake(t *testing.T, lake string, m *Manifest, exp string, n int) {
	t.Helper()
	tb, _ := TableByName(TableCompletions)
	cc, _ := TableByName(TableCellCounts)
	seq := uint64(len(m.Entries())*5 + 1)
	for b := range n {
		first := seq
		var rows []Row
		counter := NewCellCounter()
		for i := range 5 {
			text := fmt.Sprintf("answer %d-%d", b, i)
			if i == 0 {
				text += " [ZLT]"
			}
			c := &events.Completion{Persona: fmt.Sprint("p", i), Question: "q", SampleIndex: b, Text: text}
			e, err := events.New(exp, "run1", time.Unix(0, 0), c)
			require.NoError(t, err)
			r, err := Rows(e, Meta{StreamSeq: seq, IngestedAt: time.Unix(1, 0)})
			require.NoError(t, err)
			rows = append(rows, r[TableCompletions]...)
			counter.Add(e, c, "[ZLT]")
			seq++
		}
		name := FileName(first, seq-1, time.Unix(0, int64(first)), m.writer)
		comp := filepath.Join(Partition(TableCompletions, exp), name)
		sum := filepath.Join(Partition(TableCellCounts, exp), name)
		require.NoError(t, WriteFile(lake, comp, tb, rows))
		sums := counter.Rows(name, seq-1, time.Unix(1, 0))[exp]
		require.NoError(t, WriteFile(lake, sum, cc, sums))
		require.NoError(t, m.Commit(Entry{FirstSeq: first, LastSeq: seq - 1, Events: 5, Files: []FileEntry{
			{Path: comp, Table: TableCompletions, Experiment: exp, Rows: 5},
			{Path: sum, Table: TableCellCounts, Experiment: exp, Rows: len(sums)}}}))
	}
}

func readColumn(t *testing.T, lake, rel, col string) []string {
	t.Helper()
	v, err := ReadStrings(lake, rel, col)
	require.NoError(t, err)
	return v
}

func allIDs(t *testing.T, lake string, m *Manifest) []string {
	t.Helper()
	var ids []string
	for _, fe := range m.Files(TableCompletions) {
		ids = append(ids, readColumn(t, lake, fe.Path, "event_id")...)
	}
	return ids
}

// Twenty small batches become one completions file and one summary file
// under one name, holding exactly their rows in order; the replaced files
// are gone, and a reopened manifest, CommittedFiles, the committed IDs and
// the recent-ID index all see the merged file only.
func TestCompactMergesSmallFilesKeepingEveryRow(t *testing.T) {
	lake := t.TempDir()
	m, err := OpenManifest(lake, "")
	require.NoError(t, err)
	smallLake(t, lake, m, "exp1", 20)
	before := allIDs(t, lake, m)
	var old []string
	for _, fe := range m.Files("") {
		old = append(old, fe.Path)
	}

	res, err := Compact(context.Background(), lake, m, CompactOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, res.Groups)
	require.Equal(t, 40, res.FilesIn)
	require.Equal(t, 2, res.FilesOut)
	require.Empty(t, res.Left)
	require.Less(t, res.BytesOut, res.BytesIn, "one footer instead of twenty")
	for _, p := range old {
		require.NoFileExists(t, filepath.Join(lake, p))
	}
	comp, sums := m.Files(TableCompletions), m.Files(TableCellCounts)
	require.Len(t, comp, 1)
	require.Len(t, sums, 1)
	require.Equal(t, 100, comp[0].Rows)
	require.Equal(t, filepath.Base(comp[0].Path), filepath.Base(sums[0].Path), "the matrix pairs them by name")
	require.Equal(t, "part-000000000001-000000000100", filepath.Base(comp[0].Path)[:30], "spans the merged sequences")
	require.Equal(t, before, allIDs(t, lake, m), "every row, in order")
	files := readColumn(t, lake, sums[0].Path, "completions_file")
	require.Len(t, files, 100, "one summary row per persona per original batch")
	var batches []string
	for _, p := range old {
		if tableOf(p) == TableCompletions {
			batches = append(batches, filepath.Base(p))
		}
	}
	for i, f := range files {
		require.Equal(t, batches[i/5], f, "each row names its batch: the row key stays unique across a replaced file and the merged one")
	}
	require.NoError(t, m.Close())

	m, err = OpenManifest(lake, "")
	require.NoError(t, err)
	defer m.Close()
	require.Equal(t, comp, m.Files(TableCompletions))
	cf, err := CommittedFiles(lake, "")
	require.NoError(t, err)
	require.Len(t, cf, 2)
	ids, err := CommittedEventIDs(lake, m)
	require.NoError(t, err)
	require.Len(t, ids, 100)
	recent, complete, err := RecentEventIDs(lake, m, 1000)
	require.NoError(t, err)
	require.Equal(t, before, slices.Concat(recent...), "read once, from the merged file")
	require.True(t, complete)
	recent, complete, err = RecentEventIDs(lake, m, 30)
	require.NoError(t, err)
	require.False(t, complete, "30 of 100")
	require.Equal(t, before[70:], slices.Concat(recent...), "the newest 30")

	res, err = Compact(context.Background(), lake, m, CompactOptions{})
	require.NoError(t, err)
	require.Zero(t, res.Groups, "nothing left to merge")
}

// A partition with fewer small files than MinFiles is left alone (a live
// sweep is not rewritten batch by batch); MaxGroups bounds a pass.
func TestCompactWaitsForMinFilesAndStopsAtMaxGroups(t *testing.T) {
	lake := t.TempDir()
	m, err := OpenManifest(lake, "w1")
	require.NoError(t, err)
	defer m.Close()
	smallLake(t, lake, m, "exp1", 15)
	res, err := Compact(context.Background(), lake, m, CompactOptions{})
	require.NoError(t, err)
	require.Zero(t, res.Groups)
	require.Len(t, m.Files(TableCompletions), 15)

	smallLake(t, lake, m, "exp2", 4)
	res, err = Compact(context.Background(), lake, m, CompactOptions{MinFiles: 4, MaxGroups: 1})
	require.NoError(t, err)
	require.Equal(t, 1, res.Groups)
	require.Len(t, m.Files(TableCompletions), 5, "exp1 merged, exp2 waits for the next pass")
	for _, fe := range m.Files(TableCompletions) {
		w, ok := ownerOf(fe.Path)
		require.True(t, ok)
		require.Equal(t, "w1", w, "a merged file carries its writer's name")
	}
	// Groups are cut at TargetBytes.
	st, err := os.Stat(filepath.Join(lake, m.Files(TableCompletions)[4].Path))
	require.NoError(t, err)
	res, err = Compact(context.Background(), lake, m, CompactOptions{MinFiles: 4, TargetBytes: 2*st.Size() + 1})
	require.NoError(t, err)
	require.Equal(t, 2, res.Groups, "four files of exp2, two per group")
}

// A crash after the compaction's commit but before the deletions leaves
// replaced files on disk: Recover deletes them (their rows are in the
// merged file) instead of keeping them as orphans. A crash before the
// commit leaves the merged file uncommitted: Recover moves it aside and
// the small files stay committed.
func TestCompactCrashesLoseNothing(t *testing.T) {
	lake := t.TempDir()
	m, err := OpenManifest(lake, "")
	require.NoError(t, err)
	smallLake(t, lake, m, "exp1", 16)
	old := m.Files(TableCompletions)[0].Path
	data, err := os.ReadFile(filepath.Join(lake, old))
	require.NoError(t, err)
	_, err = Compact(context.Background(), lake, m, CompactOptions{})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(lake, old), data, 0o644)) // as if never deleted
	moved, err := Recover(lake, m)
	require.NoError(t, err)
	require.Empty(t, moved)
	require.NoFileExists(t, filepath.Join(lake, old))
	require.NoFileExists(t, filepath.Join(lake, OrphanDir, old))
	require.NoError(t, m.Close())

	lake2 := t.TempDir()
	m2, err := OpenManifest(lake2, "")
	require.NoError(t, err)
	defer m2.Close()
	smallLake(t, lake2, m2, "exp1", 16)
	before := allIDs(t, lake2, m2)
	good := m2.f
	require.NoError(t, good.Close()) // nothing can be written: the commit surely failed
	_, err = Compact(context.Background(), lake2, m2, CompactOptions{})
	require.ErrorContains(t, err, "compact: commit")
	require.NoError(t, m2.Broken())
	require.Len(t, m2.Files(TableCompletions), 16, "the small files stay committed")
	require.Equal(t, before, allIDs(t, lake2, m2))
	left, err := filepath.Glob(filepath.Join(lake2, TableCompletions, "*", "*"))
	require.NoError(t, err)
	require.Len(t, left, 16, "the merged file, surely uncommitted, was removed")

	// A write that fails and cannot be taken back leaves the commit in
	// doubt: the merged files stay, no further commit is taken, and
	// reopening decides (here: not committed, so they are moved aside).
	ro, err := os.Open(filepath.Join(lake2, ManifestName))
	require.NoError(t, err)
	m2.f = ro // writes and truncation fail
	_, err = Compact(context.Background(), lake2, m2, CompactOptions{})
	require.ErrorIs(t, err, ErrManifestUnknown)
	require.ErrorIs(t, m2.Commit(Entry{}), ErrManifestUnknown, "no commit while in doubt")
	left, err = filepath.Glob(filepath.Join(lake2, TableCompletions, "*", "*"))
	require.NoError(t, err)
	require.Len(t, left, 17, "the merged file stays: its line may be on disk")
	m3, err := OpenManifest(lake2, "")
	require.NoError(t, err)
	defer m3.Close()
	moved, err = Recover(lake2, m3)
	require.NoError(t, err)
	require.Len(t, moved, 2, "reopening moves the uncommitted merged files aside")
	require.Equal(t, before, allIDs(t, lake2, m3))
}

// Files of another schema (written by an older leakscope, lacking a
// column) are not merged; a committed file that vanished is an error
// naming it.
func TestCompactLeavesOlderSchemasAndNamesAMissingFile(t *testing.T) {
	lake := t.TempDir()
	m, err := OpenManifest(lake, "")
	require.NoError(t, err)
	defer m.Close()
	smallLake(t, lake, m, "exp1", 16)
	// Rewrite one completions file without its last column.
	tb, _ := TableByName(TableCompletions)
	victim := m.Files(TableCompletions)[3].Path
	f, err := os.Open(filepath.Join(lake, victim))
	require.NoError(t, err)
	tbl, err := pqarrow.ReadTable(context.Background(), f, nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	require.NoError(t, err)
	f.Close()
	n := len(tb.Columns) - 1
	fields := tbl.Schema().Fields()[:n]
	cols := make([]arrow.Array, n)
	for i := range n {
		cols[i] = tbl.Column(i).Data().Chunk(0)
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, tbl.NumRows())
	out, err := os.Create(filepath.Join(lake, victim))
	require.NoError(t, err)
	w, err := pqarrow.NewFileWriter(rec.Schema(), out, nil, pqarrow.DefaultWriterProps())
	require.NoError(t, err)
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())

	res, err := Compact(context.Background(), lake, m, CompactOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, res.Groups)
	files := m.Files(TableCompletions)
	require.Len(t, files, 2)
	require.Contains(t, []string{files[0].Path, files[1].Path}, victim, "left as it was")

	smallLake(t, lake, m, "exp2", 16)
	gone := m.Files(TableCompletions)[5].Path
	require.NoError(t, os.Remove(filepath.Join(lake, gone)))
	_, err = Compact(context.Background(), lake, m, CompactOptions{})
	require.ErrorContains(t, err, gone)
}

// Ingest vouches for a set of completions files when one writer committed
// them all in batches it checked against every earlier ID; a merged file
// keeps the vouch only if every batch it merged had it.
func TestVouchedUnique(t *testing.T) {
	lake := t.TempDir()
	m, err := OpenManifest(lake, "")
	require.NoError(t, err)
	defer m.Close()
	smallLake(t, lake, m, "exp1", 4)
	abs := func(lake string, fes []FileEntry) []string {
		var out []string
		for _, fe := range fes {
			out = append(out, filepath.Join(lake, fe.Path))
		}
		return out
	}
	ok, err := VouchedUnique(lake, abs(lake, m.Files(TableCompletions)))
	require.NoError(t, err)
	require.False(t, ok, "smallLake's entries were not checked")

	lake2 := t.TempDir()
	m2, err := OpenManifest(lake2, "")
	require.NoError(t, err)
	defer m2.Close()
	tb, _ := TableByName(TableCompletions)
	commit := func(m *Manifest, lake, name string, checked bool) string {
		rel := filepath.Join(Partition(TableCompletions, "e"), name)
		require.NoError(t, WriteFile(lake, rel, tb, completionRows(t, name)))
		require.NoError(t, m.Commit(Entry{Files: []FileEntry{{Path: rel, Table: TableCompletions, Experiment: "e", Rows: 1}}, IDsChecked: checked}))
		return filepath.Join(lake, rel)
	}
	var files []string
	for i := range 4 {
		files = append(files, commit(m2, lake2, FileName(uint64(i+1), uint64(i+1), time.Unix(0, int64(i)), ""), true))
	}
	vouched := func(files []string) bool {
		ok, err := VouchedUnique(lake2, files)
		require.NoError(t, err)
		return ok
	}
	require.True(t, vouched(files))
	require.False(t, vouched(append(files, filepath.Join(lake2, "completions/experiment=e/by-hand.parquet"))), "a file no manifest names")
	res, err := Compact(context.Background(), lake2, m2, CompactOptions{MinFiles: 2})
	require.NoError(t, err)
	require.Equal(t, 1, res.Groups)
	require.True(t, vouched(abs(lake2, m2.Files(TableCompletions))), "merged from checked batches")

	unchecked := commit(m2, lake2, FileName(9, 9, time.Unix(0, 9), ""), false)
	require.False(t, vouched(append(abs(lake2, m2.Files(TableCompletions))[:1], unchecked)))
	_, err = Compact(context.Background(), lake2, m2, CompactOptions{MinFiles: 2})
	require.NoError(t, err)
	require.Len(t, m2.Files(TableCompletions), 1)
	require.False(t, vouched(abs(lake2, m2.Files(TableCompletions))), "merged with an unchecked batch")

	m3, err := OpenManifest(lake2, "w2")
	require.NoError(t, err)
	defer m3.Close()
	other := commit(m3, lake2, FileName(20, 20, time.Unix(0, 20), "w2"), true)
	fresh := commit(m2, lake2, FileName(21, 21, time.Unix(0, 21), ""), true)
	require.True(t, vouched([]string{fresh}))
	require.False(t, vouched([]string{fresh, other}), "two writers: a redelivered message may be in both")

	// A file merged twice (a compaction committed while its writer
	// believed it had failed) vouches for nothing.
	merged := m2.Files(TableCompletions)[0]
	require.NoError(t, m2.Commit(Entry{Files: []FileEntry{{Path: "completions/experiment=e/again.parquet", Table: TableCompletions, Experiment: "e"}},
		Replaces: []string{m2.entries[len(m2.entries)-2].Replaces[0]}, IDsChecked: true}))
	require.False(t, vouched([]string{filepath.Join(lake2, merged.Path), fresh}))

	// A manifest that cannot be parsed is an error the query treats as
	// "not vouched".
	lake3 := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(lake3, "_manifest.old.jsonl"), []byte("{not json\n"), 0o644))
	_, err = VouchedUnique(lake3, []string{filepath.Join(lake3, "completions/experiment=e/x.parquet")})
	require.ErrorContains(t, err, "_manifest.old.jsonl line 1")
}
