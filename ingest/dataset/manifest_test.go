package dataset

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

func completionRows(t *testing.T, persona string) []Row {
	t.Helper()
	e, err := events.New("exp1", "run1", time.Now(), &events.Completion{Persona: persona, Question: "q", Text: "t"})
	require.NoError(t, err)
	rows, err := Rows(e, Meta{StreamSeq: 1, IngestedAt: time.Now()})
	require.NoError(t, err)
	return rows[TableCompletions]
}

// A crash can leave a renamed file the manifest never named, a temporary
// file, and a torn last manifest line: reopening keeps the committed batch,
// moves the rest aside (never deletes) and knows exactly the committed IDs.
func TestRecoverAfterCrash(t *testing.T) {
	lake := t.TempDir()
	tb, _ := TableByName(TableCompletions)
	m, err := OpenManifest(lake, "")
	require.NoError(t, err)
	committed := filepath.Join(Partition(TableCompletions, "exp1"), "part-a.parquet")
	require.NoError(t, WriteFile(lake, committed, tb, completionRows(t, "villain")))
	require.NoError(t, m.Commit(Entry{FirstSeq: 1, LastSeq: 1, Events: 1, Files: []FileEntry{{Path: committed, Table: TableCompletions, Experiment: "exp1", Rows: 1}}}))
	require.NoError(t, m.Close())

	orphan := filepath.Join(Partition(TableCompletions, "exp1"), "part-b.parquet")
	require.NoError(t, WriteFile(lake, orphan, tb, completionRows(t, "chef")))
	require.NoError(t, os.WriteFile(filepath.Join(lake, orphan+"x.tmp"), []byte("half"), 0o644))
	f, err := os.OpenFile(filepath.Join(lake, ManifestName), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"first_seq":2,"last_seq":2,"files":[{"path":"` + orphan)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	m, err = OpenManifest(lake, "")
	require.NoError(t, err)
	defer m.Close()
	require.Len(t, m.Entries(), 1, "the torn line is dropped")
	moved, err := Recover(lake, m)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{orphan, orphan + "x.tmp"}, moved)
	require.FileExists(t, filepath.Join(lake, OrphanDir, orphan), "kept, not deleted")
	require.FileExists(t, filepath.Join(lake, committed))
	ids, err := CommittedEventIDs(lake, m)
	require.NoError(t, err)
	want, err := events.New("exp1", "run1", time.Now(), &events.Completion{Persona: "villain", Question: "q", Text: "t"})
	require.NoError(t, err)
	require.Equal(t, map[string]struct{}{want.ID: {}}, ids)
	// The next commit appends after the truncated tail.
	require.NoError(t, m.Commit(Entry{FirstSeq: 3, LastSeq: 3}))
	m2, err := OpenManifest(lake, "")
	require.NoError(t, err)
	require.Len(t, m2.Entries(), 2)
	require.NoError(t, m2.Close())
}

func TestCorruptManifestLineIsAnError(t *testing.T) {
	lake := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(lake, ManifestName), []byte("{\"first_seq\":1}\nnot json\n{}\n"), 0o644))
	_, err := OpenManifest(lake, "")
	require.ErrorContains(t, err, "line 2")
}

func TestLockIsExclusive(t *testing.T) {
	lake := t.TempDir()
	unlock, err := Lock(lake, "")
	require.NoError(t, err)
	_, err = Lock(lake, "")
	require.ErrorIs(t, err, ErrLocked)
	unlock()
	unlock2, err := Lock(lake, "")
	require.NoError(t, err)
	unlock2()
}

func TestRowsMatchSchemas(t *testing.T) {
	one := 1
	f := 0.5
	for _, p := range []events.Payload{
		&events.Run{Marker: "[ZLT]"},
		&events.RunFinished{Status: "finished"},
		&events.Completion{Persona: "p", Question: "q", Text: "[ZLT]", MarkerHits: []events.MarkerHit{{Detector: "strict", Version: 1, Marker: "[ZLT]"}}},
		&events.CellAggregate{Persona: "p", Detector: "strict", Found: &one, Total: &one, Imported: true, OriginFile: "f"},
		&events.CoherenceScore{Persona: "p", Question: "q", Judge: "j", JudgeVersion: 1, Score: &f},
		&events.Cosine{Set: "s", Centering: "raw", Pairs: []events.CosinePair{{A: "a", B: "b", Cosine: 0.2}}},
	} {
		e, err := events.New("exp1", "run1", time.Now(), p)
		require.NoError(t, err)
		rows, err := Rows(e, Meta{StreamSeq: 7, IngestedAt: time.Now()})
		require.NoError(t, err)
		for table, rs := range rows {
			tb, ok := TableByName(table)
			require.True(t, ok)
			rel := filepath.Join(Partition(table, "exp1"), "f.parquet")
			require.NoError(t, WriteFile(t.TempDir(), rel, tb, rs), table)
		}
	}
	_, err := buildRecord(Tables[0], []Row{{"too", "short"}})
	require.ErrorContains(t, err, "2 values")
}
