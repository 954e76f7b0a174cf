package duck

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The absolute lake path showed in settings, view definitions and errors
// (issue 18 item 7): users see "<lake>" instead.
func TestLakePathNotShown(t *testing.T) {
	db := oneCompletionLake(t)
	ctx := context.Background()
	abs := db.Lake()
	for _, q := range []string{
		"SELECT current_setting('allowed_directories')",
		"SELECT value FROM duckdb_settings() WHERE name = 'allowed_directories'",
		"SELECT sql FROM duckdb_views() WHERE view_name = 'completions'",
		"SELECT [sql] AS l, {'s': sql} AS s FROM duckdb_views() WHERE view_name = 'completions'",
	} {
		res, err := db.UserQuery(ctx, q, 0)
		require.NoError(t, err, q)
		require.Len(t, res.Rows, 1, q)
		shown := fmt.Sprint(res.Rows[0]...)
		require.NotContains(t, shown, abs, q)
		require.Contains(t, shown, lakeShown, q)
	}
	_, err := db.UserQuery(ctx, "SELECT * FROM read_parquet("+Quote(filepath.Join(abs, "missing", "*.parquet"))+")", 0)
	require.ErrorIs(t, err, ErrSQL)
	require.NotContains(t, err.Error(), abs)
	require.True(t, strings.Contains(err.Error(), lakeShown+"/missing"), err.Error())
}
