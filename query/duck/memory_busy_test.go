package duck

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// When DuckDB's memory is used up (by statements running at once; here by
// a limit too small for anything) while the views are refreshed or the
// service's own statement runs, the error is ErrMemoryBusy (HTTP 503, try
// again), not an internal error nor the request's fault (the chaos run met
// "columns of dead_letters: Out of Memory Error" as a 500 while hostile
// statements held the memory).
func TestOutOfMemoryElsewhereIsMemoryBusy(t *testing.T) {
	old := MemoryLimit
	defer func() { MemoryLimit = old }()
	ctx := context.Background()
	for limit, where := range map[string]string{"256KiB": "columns of completions", "2MiB": "sql: Out of Memory Error"} {
		MemoryLimit = limit
		lake := t.TempDir()
		writeCompletion(t, lake, 1, "x")
		db, err := Open(lake)
		require.NoError(t, err)
		_, err = db.Query(ctx, "SELECT count(*) FROM completions")
		require.ErrorIs(t, err, ErrMemoryBusy, limit)
		require.NotErrorIs(t, err, ErrSQL, limit)
		require.ErrorContains(t, err, "memory limit "+limit+": "+where)
		require.NotContains(t, err.Error(), "\n", "the first line of DuckDB's message")
		if limit == "256KiB" { // a user statement meets the refresh first
			_, err = db.UserQuery(ctx, "SELECT count(*) FROM completions", 10)
			require.ErrorIs(t, err, ErrMemoryBusy)
		}
		require.NoError(t, db.Close())
	}
	// A user statement that needs more than the limit itself is its fault.
	MemoryLimit = "64MiB"
	db := oneCompletionLake(t)
	_, err := db.UserQuery(ctx, "SELECT range % 5000000 AS k, count(*) FROM range(10000000) GROUP BY k", 10)
	require.ErrorIs(t, err, ErrSQL)
	require.NotErrorIs(t, err, ErrMemoryBusy)
	require.ErrorContains(t, err, "Out of Memory")
}
