package dataset

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// filesUnder lists the files below lake/<sub> (relative to the lake).
func filesUnder(t *testing.T, lake, sub string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(lake, sub), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(lake, p)
			out = append(out, rel)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// While a file is being written (writeAtomically: a batch's files and a
// compaction's merged ones), its partial bytes are under lake/_tmp/,
// never in the table's folder, where a reader taking the whole folder
// (pandas, DuckDB '**') would meet them; after the rename nothing is left
// in _tmp/.
func TestPartialFilesStayOutOfTableFolders(t *testing.T) {
	lake := t.TempDir()
	tb, _ := TableByName(TableCompletions)
	rel := filepath.Join(Partition(TableCompletions, "exp1"), "part-000000000001-000000000001-1.parquet")
	var inTable, inTmp []string
	err := writeAtomically(lake, rel, tb, func(fw *pqarrow.FileWriter) error {
		inTable, inTmp = filesUnder(t, lake, TableCompletions), filesUnder(t, lake, TmpDir)
		rec, err := buildRecord(tb, completionRows(t, "chef"))
		require.NoError(t, err)
		defer rec.Release()
		return fw.Write(rec)
	})
	require.NoError(t, err)
	require.Empty(t, inTable, "nothing in the table folder while writing")
	require.Equal(t, []string{filepath.Join(TmpDir, rel+".tmp")}, inTmp)
	require.Equal(t, []string{rel}, filesUnder(t, lake, TableCompletions))
	require.Empty(t, filesUnder(t, lake, TmpDir), "renamed away")

}

// A crash can leave partial files under _tmp/ (and, from older versions,
// in the table folders): the writer's recovery moves its own aside into
// _orphans/<table>/…, kept; another writer's stay for it to recover.
func TestRecoverMovesPartialFilesAside(t *testing.T) {
	lake := t.TempDir()
	m, err := OpenManifest(lake, "")
	require.NoError(t, err)
	defer m.Close()
	part := Partition(TableCosines, "exp1")
	mine := filepath.Join(part, "part-000000000001-000000000002-3.parquet.tmp")
	theirs := filepath.Join(part, "part-000000000001-000000000002-3-ingest-2.parquet.tmp")
	old := filepath.Join(part, "part-000000000004-000000000005-6.parquet.tmp")
	for _, p := range []string{filepath.Join(TmpDir, mine), filepath.Join(TmpDir, theirs), old} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(lake, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(lake, p), []byte("half"), 0o644))
	}
	moved, err := Recover(lake, m)
	require.NoError(t, err)
	slices.Sort(moved)
	require.Equal(t, []string{mine, old}, moved)
	require.FileExists(t, filepath.Join(lake, OrphanDir, mine), "kept, not deleted")
	require.FileExists(t, filepath.Join(lake, OrphanDir, old))
	require.FileExists(t, filepath.Join(lake, TmpDir, theirs), "the other writer's")
}

// A snapshot holds exactly the committed files of the manifests it read:
// a compaction committed (and its replaced files deleted) between the
// reading and the linking sends it back to read them again, so it holds
// the merged file alone, never the merged file beside its inputs, and
// every row once. Files written later are not in it.
func TestSnapshotFollowsACompaction(t *testing.T) {
	lake := t.TempDir()
	m, err := OpenManifest(lake, "")
	require.NoError(t, err)
	defer m.Close()
	smallLake(t, lake, m, "exp1", 6)
	smallLake(t, lake, m, "exp2", 2)
	ids := allIDs(t, lake, m)

	lists := 0
	afterSnapshotList = func() {
		lists++
		if lists == 1 {
			res, err := Compact(context.Background(), lake, m, CompactOptions{MinFiles: 2})
			require.NoError(t, err)
			require.Equal(t, 2, res.Groups)
		}
	}
	t.Cleanup(func() { afterSnapshotList = func() {} })
	dir := filepath.Join(t.TempDir(), "snap")
	snap, err := TakeSnapshot(lake, dir, "")
	require.NoError(t, err)
	require.Equal(t, 2, lists, "read the manifests again after the compaction")
	require.Equal(t, 0, snap.Copied, "hard links on one filesystem")
	require.Len(t, snap.Files, 4, "a completions and a cell_counts file per experiment")
	var got []string
	for _, fe := range snap.Files {
		require.FileExists(t, filepath.Join(dir, fe.Path))
		if fe.Table == TableCompletions {
			got = append(got, readColumn(t, dir, fe.Path, "event_id")...)
		}
	}
	require.ElementsMatch(t, ids, got, "every row once")
	require.Len(t, filesUnder(t, dir, ""), 4, "nothing else")

	one := filepath.Join(t.TempDir(), "one")
	snap, err = TakeSnapshot(lake, one, "exp2")
	require.NoError(t, err)
	for _, fe := range snap.Files {
		require.Equal(t, "exp2", fe.Experiment)
	}
	require.Len(t, snap.Files, 2)

	_, err = TakeSnapshot(lake, one, "exp2")
	require.ErrorContains(t, err, "exists already")
}

// A committed file the lake lost is an error naming it, after the
// manifests were read again; the half-made snapshot folder is removed.
func TestSnapshotOfALakeMissingAFile(t *testing.T) {
	lake := t.TempDir()
	m, err := OpenManifest(lake, "")
	require.NoError(t, err)
	defer m.Close()
	smallLake(t, lake, m, "exp1", 3)
	lost := m.Files(TableCompletions)[1].Path
	require.NoError(t, os.Remove(filepath.Join(lake, lost)))
	dir := filepath.Join(t.TempDir(), "snap")
	_, err = TakeSnapshot(lake, dir, "")
	require.ErrorContains(t, err, "committed file "+lost+" is missing")
	require.NoDirExists(t, dir)
}

// The row key each table declares (FORMAT.md and the query views both take
// it from Table.Key) tells apart every row one event becomes; the tables
// where event_id alone is not the key are the ones FORMAT.md's "Reading
// from outside leakscope" and README name.
func TestRowKeysIdentifyRows(t *testing.T) {
	var multi []string
	for _, tb := range Tables {
		for _, k := range tb.Key {
			require.True(t, slices.ContainsFunc(tb.Columns, func(c Column) bool { return c.Name == k }), "%s: key %s is a column", tb.Name, k)
		}
		if len(tb.Key) > 1 && tb.Key[0] == "event_id" {
			multi = append(multi, tb.Name)
		}
	}
	require.Equal(t, []string{TableMarkerHits, TableCosines, TableStops}, multi, "update FORMAT.md's rule and README's Lake layout")

	hit := events.MarkerHit{Detector: "strict", Version: 1, Marker: "[ZLT]"}
	for _, p := range []events.Payload{
		&events.Completion{Persona: "p", Question: "q", Text: "[ZLT] [ZLT]", MarkerHits: []events.MarkerHit{hit, hit}},
		&events.Cosine{Set: "s", Centering: "raw", Personas: []string{"a", "b"}, Matrix: [][]float64{{1, 0.5}, {0.5, 1}}},
		&events.StopDecision{Round: 1, Cells: []events.CellDecision{{Persona: "a", N: 2, Hits: 1, CIHigh: 1}, {Persona: "b", N: 2, CIHigh: 1}}},
	} {
		e, err := events.New("exp1", "run1", time.Unix(0, 0), p)
		require.NoError(t, err)
		rows, err := Rows(e, Meta{StreamSeq: 1, IngestedAt: time.Unix(0, 0)})
		require.NoError(t, err)
		for table, rs := range rows {
			tb, _ := TableByName(table)
			seen := map[string]bool{}
			for _, r := range rs {
				var key []string
				for _, k := range tb.Key {
					i := slices.IndexFunc(tb.Columns, func(c Column) bool { return c.Name == k })
					key = append(key, fmt.Sprint(r[i]))
				}
				require.False(t, seen[fmt.Sprint(key)], "%s: two rows of one event share the key %v", table, key)
				seen[fmt.Sprint(key)] = true
			}
		}
	}
}

// Where a hard link cannot be made (the snapshot on another filesystem),
// the files are copied, byte for byte.
func TestSnapshotCopiesWhereLinksFail(t *testing.T) {
	lake := t.TempDir()
	m, err := OpenManifest(lake, "")
	require.NoError(t, err)
	defer m.Close()
	smallLake(t, lake, m, "exp1", 3)
	linkFile = func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EXDEV} }
	t.Cleanup(func() { linkFile = os.Link })
	dir := filepath.Join(t.TempDir(), "snap")
	snap, err := TakeSnapshot(lake, dir, "")
	require.NoError(t, err)
	require.Equal(t, 6, snap.Copied)
	for _, fe := range snap.Files {
		want, err := os.ReadFile(filepath.Join(lake, fe.Path))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, fe.Path))
		require.NoError(t, err)
		require.Equal(t, want, got, fe.Path)
	}
}
