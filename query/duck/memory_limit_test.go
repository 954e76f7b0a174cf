package duck

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// MemoryLimit is what --sql-memory-limit sets: a size DuckDB takes, or
// Open fails naming the value; a quote cannot carry another statement.
func TestOpenTakesTheMemoryLimit(t *testing.T) {
	old := MemoryLimit
	defer func() { MemoryLimit = old }()
	for _, bad := range []string{"banana", "1GB'; SET threads = 64; --"} {
		MemoryLimit = bad
		db, err := Open(t.TempDir())
		if err == nil {
			db.Close()
		}
		require.ErrorContains(t, err, `duckdb memory limit "`+bad+`"`)
	}
	MemoryLimit = "300MiB"
	db, err := Open(t.TempDir())
	require.NoError(t, err)
	defer db.Close()
	var got string
	require.NoError(t, db.SQL.QueryRowContext(context.Background(), "SELECT current_setting('memory_limit')").Scan(&got))
	require.Equal(t, "300.0 MiB", got)
}
