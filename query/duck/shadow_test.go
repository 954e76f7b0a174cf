package duck

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// read_csv's store_rejects wrote temp tables named like the views from
// inside a read-only SELECT (issue 18: afterwards completions answered 439
// rows instead of 9310, until a restart). The options are refused.
func TestCatalogWritingReaderOptionsRefused(t *testing.T) {
	lake := t.TempDir()
	writeCompletion(t, lake, 1, "x")
	csv := filepath.Join(lake, "rejects.csv")
	require.NoError(t, os.WriteFile(csv, []byte("a,b\n1,2\nx,y,z\n"), 0o644))
	db, err := Open(lake)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	for _, q := range []string{
		"SELECT * FROM read_csv(" + Quote(csv) + ", store_rejects = true, rejects_table = 'completions', rejects_scan = 'runs')",
		"SELECT * FROM read_csv(" + Quote(csv) + ", STORE_REJECTS = true)",
		"SELECT count(*) FROM (SELECT * FROM read_csv_auto(" + Quote(csv) + ", \"rejects_table\" = 'cells'))",
		"WITH r AS (SELECT * FROM read_csv(" + Quote(csv) + ", rejects_scan = 'runs', store_rejects = true)) SELECT * FROM r",
	} {
		_, err := db.UserQuery(ctx, q, 0)
		require.ErrorIs(t, err, ErrNotReadOnly, q)
		require.ErrorContains(t, err, "writes tables into the database", q)
	}
	res, err := db.UserQuery(ctx, "SELECT count(*) FROM completions", 0)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Rows[0][0])
	res, err = db.UserQuery(ctx, "SELECT * FROM read_csv("+Quote(csv)+", ignore_errors = true)", 0)
	require.NoError(t, err, "reading a CSV without storing rejects still works")
	require.Len(t, res.Rows, 1)
}

// Even if a temp table named like a view existed on a connection (a
// reader option not yet known to write one), no later statement reads it:
// every statement runs on a fresh connection, whose temp catalog is empty.
func TestTempTablesCannotShadowViews(t *testing.T) {
	lake := t.TempDir()
	writeCompletion(t, lake, 1, "x")
	writeCompletion(t, lake, 2, "redelivered")
	db, err := Open(lake)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	require.NoError(t, db.Refresh(ctx))
	// Shadow the view on MaxConns connections of each pool at once, then
	// hand them back.
	var conns []interface{ Close() error }
	for range MaxConns {
		c, err := db.SQL.Conn(ctx)
		require.NoError(t, err)
		_, err = c.ExecContext(ctx, "CREATE TEMP TABLE completions AS SELECT * FROM range(439)")
		require.NoError(t, err)
		var n int64
		require.NoError(t, c.QueryRowContext(ctx, "SELECT count(*) FROM completions").Scan(&n))
		require.Equal(t, int64(439), n, "the temp table shadows the view on its own connection")
		conns = append(conns, c)
	}
	for range UserSlots {
		c, err := db.user.Conn(ctx)
		require.NoError(t, err)
		_, err = c.ExecContext(ctx, "CREATE TEMP TABLE completions AS SELECT * FROM range(439)")
		require.NoError(t, err)
		conns = append(conns, c)
	}
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	var wg sync.WaitGroup
	for range 4 * MaxConns {
		wg.Add(2)
		go func() {
			defer wg.Done()
			res, err := db.Query(ctx, "SELECT count(*), any_value(text) FROM completions")
			if assert.NoError(t, err) {
				assert.Equal(t, []any{int64(1), "x"}, res.Rows[0], "the service's own query reads the view")
			}
		}()
		go func() {
			defer wg.Done()
			res, err := db.UserQuery(ctx, "SELECT count(*) FROM completions", 0)
			if assert.NoError(t, err) {
				assert.Equal(t, int64(1), res.Rows[0][0], "a user's query reads the view")
			}
		}()
	}
	wg.Wait()
}
