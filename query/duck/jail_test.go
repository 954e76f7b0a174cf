package duck

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The SQL jail: every statement below is refused or bounded, nothing is
// written, and the database still answers afterwards.
func TestSQLJail(t *testing.T) {
	db := oneCompletionLake(t)
	lake := db.Lake()
	ctx := context.Background()
	out := filepath.Join(lake, "out.csv")
	attacks := []string{
		"INSERT INTO completions SELECT * FROM completions",
		"UPDATE completions SET text = 'x'",
		"DELETE FROM completions",
		"DROP VIEW completions",
		"CREATE TABLE t AS SELECT 1",
		"CREATE OR REPLACE VIEW runs AS SELECT 1",
		"CREATE MACRO regexp_matches(a, b) AS true",
		"ALTER VIEW runs RENAME TO r",
		"COPY (SELECT 1) TO '" + out + "'",
		"EXPORT DATABASE '" + filepath.Join(lake, "exp") + "'",
		"ATTACH '" + filepath.Join(lake, "x.db") + "' AS x",
		"DETACH memory",
		"INSTALL httpfs",
		"LOAD httpfs",
		"SET threads = 1",
		"SET lock_configuration = false",
		"RESET memory_limit",
		"PRAGMA version",
		"PRAGMA enable_profiling",
		"CALL pragma_version()",
		"CHECKPOINT",
		"VACUUM",
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELECT * FROM read_text('/etc/hostname')",
		"SELECT * FROM glob('/*')",
		"SELECT * FROM read_parquet('" + lake + "/../**/*.parquet')",
		"SELECT * FROM enable_logging(storage='file', storage_path='" + filepath.Join(lake, "logs") + "')",
		"SELECT * FROM checkpoint()",
		"SELECT * FROM query('SELECT 1')",
		"SELECT 1; DROP VIEW completions",
		"COPY (SELECT 1) TO '" + out + "'; SELECT 1",
		"EXPLAIN ANALYZE COPY (SELECT 1) TO '" + out + "'",
		"/* comment */ EXPLAIN ANALYZE SELECT 1",
		"SELECT * FROM 'https://example.invalid/x.parquet'",
		"SELECT * FROM range(1000000001)",                        // bounded by the row cap
		"SELECT count(*) FROM range(10000000000) a, range(10) b", // bounded by the time limit
		"SELECT " + strings.Repeat("1+", 20000) + "1",            // pathological: refused or answered, never a crash
	}
	old := UserQueryTimeout
	UserQueryTimeout = 2 * time.Second
	defer func() { UserQueryTimeout = old }()
	refused := 0
	for _, q := range attacks {
		start := time.Now()
		res, err := db.UserQuery(ctx, q, 1000)
		if err != nil {
			refused++
		} else {
			require.LessOrEqual(t, len(res.Rows), 1000, q)
		}
		require.Less(t, time.Since(start), 10*time.Second, "bounded in time: %.60s", q)
	}
	require.GreaterOrEqual(t, refused, len(attacks)-1, "all but the pathological-but-harmless arithmetic are refused")
	require.GreaterOrEqual(t, len(attacks), 30)
	require.NoFileExists(t, out)
	require.NoDirExists(t, filepath.Join(lake, "exp"))
	require.NoDirExists(t, filepath.Join(lake, "logs"))
	res, err := db.UserQuery(ctx, "SELECT count(*) FROM completions", 0)
	require.NoError(t, err, "still serving")
	require.Equal(t, int64(1), res.Rows[0][0])
	_, err = db.UserQuery(ctx, "SELECT count(*) FROM range(10000000000) a, range(10) b", 0)
	require.ErrorIs(t, err, ErrTimeout)
}
