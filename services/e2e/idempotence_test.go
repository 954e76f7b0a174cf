package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/ingest/dataset"
	"leakscope/query"
)

// lakeSnapshot is what "the same lake" means: the raw row count of every
// table's files (duplicates included, so a double write shows), a hash of
// the stored event IDs, and the leakage matrix of every experiment.
type lakeSnapshot struct {
	RawRows  map[string]int64
	IDHash   string
	Leakage  map[string]string
	TmpFiles []string
}

func snapshot(t *testing.T, lake string) lakeSnapshot {
	t.Helper()
	e := openEngine(t, lake)
	ctx := context.Background()
	s := lakeSnapshot{RawRows: map[string]int64{}, Leakage: map[string]string{}}
	h := sha256.New()
	for _, tb := range dataset.Tables {
		glob := filepath.Join(lake, tb.Name, "*", "*.parquet")
		if m, _ := filepath.Glob(glob); len(m) == 0 {
			continue
		}
		count := "count(*)"
		if tb.Name == dataset.TableCellCounts {
			// Summary rows follow batch boundaries (which a kill moves); the
			// completions they count must not.
			count = "sum(n)::BIGINT"
		}
		res, err := e.SQL(ctx, fmt.Sprintf("SELECT %s FROM read_parquet('%s')", count, glob))
		require.NoError(t, err)
		s.RawRows[tb.Name] = res.Rows[0][0].(int64)
		if tb.Name == dataset.TableDeadLetters || tb.Name == dataset.TableCellCounts {
			continue
		}
		ids, err := e.SQL(ctx, fmt.Sprintf("SELECT DISTINCT event_id FROM read_parquet('%s') ORDER BY 1", glob))
		require.NoError(t, err)
		for _, r := range ids.Rows {
			h.Write([]byte(r[0].(string)))
		}
	}
	s.IDHash = hex.EncodeToString(h.Sum(nil))
	runs, err := e.Runs(ctx, "")
	require.NoError(t, err)
	for _, r := range runs {
		if _, done := s.Leakage[r.Experiment]; done {
			continue
		}
		res, err := e.Leakage(ctx, query.LeakageRequest{Experiment: r.Experiment, IncludeBase: true})
		require.NoError(t, err)
		b, err := json.Marshal(res.Cells)
		require.NoError(t, err)
		s.Leakage[r.Experiment] = string(b)
	}
	filepath.WalkDir(lake, func(p string, d os.DirEntry, err error) error {
		if err == nil && filepath.Ext(p) == ".tmp" {
			s.TmpFiles = append(s.TmpFiles, p)
		}
		return nil
	})
	return s
}

// Importing twice changes nothing: once inside the server's duplicate
// window (the server drops the copies), once with a fresh event log as if
// the window had long passed (ingest drops them by event ID).
func TestImportTwiceChangesNothing(t *testing.T) {
	dir := fixturesDir(t)
	data := t.TempDir()
	s := startStack(t, data)
	first := s.importPaths(t, dir, dir)
	before := snapshot(t, s.Lake)
	require.Equal(t, 0, first.Duplicates)
	require.NotZero(t, before.RawRows[dataset.TableCompletions])

	again := s.importPaths(t, dir, dir)
	require.Equal(t, again.Published, again.Duplicates, "the server recognised every re-published event")
	requireSameLake(t, before, snapshot(t, s.Lake))

	s.stop()
	require.NoError(t, os.RemoveAll(filepath.Join(data, "jetstream")))
	s2 := startStack(t, data)
	fresh := s2.importPaths(t, dir, dir)
	require.Zero(t, fresh.Duplicates, "a fresh log has no memory of the first import")
	requireSameLake(t, before, snapshot(t, s2.Lake)) // ingest dropped every event already in the lake
}

// requireSameLake compares snapshots piecewise, so a failure names the
// table or experiment instead of printing the whole lake.
func requireSameLake(t *testing.T, want, got lakeSnapshot) {
	t.Helper()
	require.Equal(t, want.RawRows, got.RawRows, "raw row counts per table")
	require.Equal(t, want.IDHash, got.IDHash, "stored event IDs")
	require.Empty(t, got.TmpFiles, "temporary files left in the lake")
	require.Equal(t, len(want.Leakage), len(got.Leakage), "experiments")
	for exp, w := range want.Leakage {
		require.True(t, w == got.Leakage[exp], "leakage matrix of %s differs", exp)
	}
}
