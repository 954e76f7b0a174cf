package dataset

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFileNamesCarryTheirWriter(t *testing.T) {
	now := time.Unix(0, 1234)
	for _, tc := range []struct {
		name, writer, owner string
		ok                  bool
	}{
		{FileName(1, 2, now, ""), "", "", true},
		{FileName(1, 2, now, "ingest-1"), "ingest-1", "ingest-1", true},
		{FileName(1, 2, now, "b_2") + ".tmp", "b_2", "b_2", true},
		{"part-a.parquet", "", "", false},
		{"notes.txt", "", "", false},
		{"part-000000000001-000000000002-5-BAD.parquet", "", "", false},
	} {
		w, ok := ownerOf(tc.name)
		require.Equal(t, tc.ok, ok, tc.name)
		require.Equal(t, tc.owner, w, tc.name)
		require.True(t, ownedBy(tc.name, tc.writer), tc.name)
		require.False(t, ownedBy(tc.name, "other"), tc.name)
	}
	require.Equal(t, "part-000000000001-000000000002-1234-ingest-1.parquet", FileName(1, 2, now, "ingest-1"))
}

func TestValidWriter(t *testing.T) {
	for _, ok := range []string{"", "a", "ingest-1", "gpu_pod_7"} {
		require.NoError(t, ValidWriter(ok), ok)
	}
	for _, bad := range []string{"1ingest", "Ingest", "a/b", "a.b", "../x", "a b", "-a", string(make([]byte, 41))} {
		require.ErrorContains(t, ValidWriter(bad), "writer name", bad)
	}
	_, err := Lock(t.TempDir(), "../escape")
	require.ErrorContains(t, err, "writer name")
}

// Writers share a lake: each locks, commits and recovers only its own;
// CommittedFiles sees every writer's committed files and nothing else.
func TestWritersShareALake(t *testing.T) {
	lake := t.TempDir()
	tb, _ := TableByName(TableCompletions)
	ua, err := Lock(lake, "a")
	require.NoError(t, err)
	defer ua()
	ub, err := Lock(lake, "b")
	require.NoError(t, err, "another writer's lock is another file")
	defer ub()
	_, err = Lock(lake, "a")
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorContains(t, err, "writer a")

	now := time.Now()
	commit := func(w string, seq uint64) string {
		m, err := OpenManifest(lake, w)
		require.NoError(t, err)
		defer m.Close()
		rel := filepath.Join(Partition(TableCompletions, "exp1"), FileName(seq, seq, now, w))
		require.NoError(t, WriteFile(lake, rel, tb, completionRows(t, w+"p")))
		require.NoError(t, m.Commit(Entry{FirstSeq: seq, LastSeq: seq, Events: 1, Files: []FileEntry{{Path: rel, Table: TableCompletions, Experiment: "exp1", Rows: 1}}}))
		return rel
	}
	ra, rb := commit("a", 1), commit("b", 2)
	// b crashed after renaming a file it never committed, and left a torn line.
	orphanB := filepath.Join(Partition(TableCompletions, "exp1"), FileName(3, 3, now, "b"))
	require.NoError(t, WriteFile(lake, orphanB, tb, completionRows(t, "x")))
	f, err := os.OpenFile(filepath.Join(lake, ManifestFile("b")), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"first_seq":3,"files":[`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	files, err := CommittedFiles(lake, TableCompletions)
	require.NoError(t, err)
	require.Equal(t, []string{ra, rb}, []string{files[0].Path, files[1].Path})
	require.Len(t, files, 2, "the torn line and the uncommitted file are not committed")

	ma, err := OpenManifest(lake, "a")
	require.NoError(t, err)
	moved, err := Recover(lake, ma)
	require.NoError(t, err)
	require.Empty(t, moved, "a leaves b's uncommitted file to b")
	require.NoError(t, ma.Close())
	mb, err := OpenManifest(lake, "b")
	require.NoError(t, err)
	moved, err = Recover(lake, mb)
	require.NoError(t, err)
	require.Equal(t, []string{orphanB}, moved)
	require.NoError(t, mb.Close())
	m0, err := OpenManifest(lake, "")
	require.NoError(t, err)
	moved, err = Recover(lake, m0)
	require.NoError(t, err)
	require.Empty(t, moved, "the default writer leaves named writers' committed files alone")
	require.NoError(t, m0.Close())
	require.FileExists(t, filepath.Join(lake, ra))
	require.FileExists(t, filepath.Join(lake, rb))
}

func TestCommittedFilesNamesABadManifestLine(t *testing.T) {
	lake := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(lake, ManifestFile("w")), []byte("{}\nnot json\n"), 0o644))
	_, err := CommittedFiles(lake, "")
	require.ErrorContains(t, err, "_manifest.w.jsonl line 2")
}
