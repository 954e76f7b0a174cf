package duck

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/ingest/dataset"
)

var eventTime = time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)

func writeCompletion(t *testing.T, lake string, seq uint64, text string) {
	t.Helper()
	e, err := events.New("exp1", "run1", eventTime,
		&events.Completion{Persona: "villain", Question: "q", Text: text})
	require.NoError(t, err)
	rows, err := dataset.Rows(e, dataset.Meta{StreamSeq: seq, IngestedAt: time.Now()})
	require.NoError(t, err)
	tb, _ := dataset.TableByName(dataset.TableCompletions)
	rel := filepath.Join(dataset.Partition(dataset.TableCompletions, "exp1"), dataset.FileName(seq, seq, time.Now(), ""))
	require.NoError(t, dataset.WriteFile(lake, rel, tb, rows[dataset.TableCompletions]))
}

func TestViewsOnEmptyAndFilledLake(t *testing.T) {
	lake := t.TempDir()
	db, err := Open(lake)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	for _, tb := range dataset.Tables {
		res, err := db.Query(ctx, "SELECT count(*) FROM "+tb.Name)
		require.NoError(t, err, tb.Name)
		require.Equal(t, int64(0), res.Rows[0][0], tb.Name)
	}
	// The same event written twice (a redelivered batch) is one row.
	writeCompletion(t, lake, 1, "first [ZLT]")
	writeCompletion(t, lake, 2, "redelivered copy")
	res, err := db.Query(ctx, "SELECT experiment, text, typeof(event_time), event_time FROM completions")
	require.NoError(t, err)
	require.Len(t, res.Rows, 1)
	require.Equal(t, "exp1", res.Rows[0][0])
	require.Equal(t, "first [ZLT]", res.Rows[0][1], "the first stored copy wins")
	require.Equal(t, "TIMESTAMP WITH TIME ZONE", res.Rows[0][2])
	require.Equal(t, eventTime.UnixMicro(), res.Rows[0][3].(time.Time).UnixMicro(), "microsecond precision kept")
	// The Parquet logical type is microseconds, which pandas and polars read unchanged.
	res, err = db.Query(ctx, "SELECT DISTINCT logical_type FROM parquet_schema('"+filepath.Join(lake, "completions", "*", "*.parquet")+"') WHERE name = 'event_time'")
	require.NoError(t, err)
	require.Contains(t, res.Rows[0][0], "MICROS")
}

func TestOnlyReadOnlySQL(t *testing.T) {
	db := oneCompletionLake(t)
	lake := db.Lake()
	ctx := context.Background()
	for _, q := range []string{
		"SELECT count(*) FROM completions",
		"WITH c AS (SELECT * FROM completions) SELECT persona FROM c",
		"DESCRIBE completions",
		"SUMMARIZE cells",
	} {
		_, err := db.Query(ctx, q)
		require.NoError(t, err, q)
	}
	for _, q := range []string{
		"INSERT INTO completions SELECT * FROM completions",
		"CREATE TABLE x AS SELECT 1",
		"DROP VIEW completions",
		"COPY (SELECT 1) TO '" + filepath.Join(lake, "out.csv") + "'",
		"ATTACH '" + filepath.Join(lake, "x.db") + "' AS x",
		"SET threads = 1",
		"SELECT 1; DROP VIEW completions",
		"CREATE OR REPLACE VIEW runs AS SELECT 1",
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELECT * FROM read_text('/etc/hostname')",
		"SELECT * FROM read_parquet('/tmp/*.parquet')",
		"INSTALL httpfs",
		"LOAD httpfs",
		"PRAGMA enable_external_access",
		"CREATE TABLE x AS SELECT 42 AS v; SELECT 1",
		"SELECT 1; SELECT 2",
		"EXPLAIN ANALYZE COPY (SELECT 42) TO '" + filepath.Join(lake, "pwn.csv") + "'",
		"EXPLAIN SELECT 1",
	} {
		_, err := db.Query(ctx, q)
		require.Error(t, err, q)
	}
	_, err := db.Query(ctx, "CREATE TABLE x AS SELECT 1")
	require.ErrorIs(t, err, ErrNotReadOnly)
	_, err = db.Query(ctx, "SELECT count(*) FROM x")
	require.ErrorIs(t, err, ErrSQL, "the multi-statement CREATE never ran")
	_, err = db.Query(ctx, "SELEKT 1")
	require.ErrorIs(t, err, ErrSQL)
	res, err := db.Query(ctx, "SELECT count(*) FROM completions")
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Rows[0][0], "nothing was changed")
	require.NoFileExists(t, filepath.Join(lake, "out.csv"))
	require.NoFileExists(t, filepath.Join(lake, "pwn.csv"))
}

// Table functions that change the database's state from inside a SELECT
// (found by the attack rounds: enable_logging wrote into the lake and could
// abort the process) are refused for user SQL; results are bounded.
func TestUserQueryGuards(t *testing.T) {
	db := oneCompletionLake(t)
	lake := db.Lake()
	ctx := context.Background()
	for _, q := range []string{
		"SELECT * FROM enable_logging(storage='file', storage_path='" + filepath.Join(lake, "logs") + "')",
		"SELECT * FROM checkpoint()",
		"WITH x AS (SELECT * FROM force_checkpoint()) SELECT * FROM x",
		"SELECT (SELECT count(*) FROM truncate_duckdb_logs())",
		"SELECT * FROM query('SELECT 1')",
		"SELECT * FROM pragma_version()",
		"PRAGMA version",
		"SELECT 1; SELECT 2",
	} {
		_, err := db.UserQuery(ctx, q, 0)
		require.ErrorIs(t, err, ErrNotReadOnly, q)
	}
	require.NoDirExists(t, filepath.Join(lake, "logs"))
	for _, q := range []string{
		"SELECT count(*) FROM completions",
		"SELECT * FROM read_parquet('" + filepath.Join(lake, "completions", "*", "*.parquet") + "')",
		"SELECT * FROM range(3) r, unnest([1, 2]) u",
		"DESCRIBE completions",
		"SUMMARIZE completions",
		"SELECT name FROM duckdb_settings() LIMIT 1",
	} {
		_, err := db.UserQuery(ctx, q, 0)
		require.NoError(t, err, q)
	}
	_, err := db.UserQuery(ctx, "SELECT * FROM range(11)", 10)
	require.ErrorIs(t, err, ErrTooManyRows)
	res, err := db.UserQuery(ctx, "SELECT * FROM range(10)", 10)
	require.NoError(t, err)
	require.Len(t, res.Rows, 10)
}

func TestPlainValues(t *testing.T) {
	lake := t.TempDir()
	db, err := Open(lake)
	require.NoError(t, err)
	defer db.Close()
	res, err := db.UserQuery(context.Background(), "SELECT 'nan'::DOUBLE, 'inf'::DOUBLE, 1.25::DECIMAL(10,2), INTERVAL 3 DAY, 2.5::DOUBLE", 0)
	require.NoError(t, err)
	got := make([]any, len(res.Rows[0]))
	for i, v := range res.Rows[0] {
		got[i] = Plain(v)
	}
	require.Equal(t, []any{nil, nil, 1.25, "0 months 3 days 0 µs", 2.5}, got)
}

// Queries run concurrently on the bounded pool, every connection jailed:
// a setting cannot be changed and no file outside the lake can be read,
// whichever connection a query lands on.
func TestConcurrentQueriesOnThePool(t *testing.T) {
	db, err := Open(t.TempDir())
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := db.Query(ctx, "SELECT sum(range) FROM range($1::BIGINT)", int64(100000+i))
			if err != nil {
				errs <- err
				return
			}
			if res.Rows[0][0] == nil {
				errs <- fmt.Errorf("no sum")
			}
			if _, err := db.SQL.ExecContext(ctx, "SET enable_external_access = true"); err == nil {
				errs <- fmt.Errorf("a pooled connection changed a locked setting")
			}
			if _, err := db.Query(ctx, "SELECT * FROM read_csv('/etc/passwd')"); err == nil {
				errs <- fmt.Errorf("a pooled connection read outside the lake")
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// oneCompletionLake opens a lake holding one completion, closed with the test.
func oneCompletionLake(t *testing.T) *DB {
	t.Helper()
	lake := t.TempDir()
	writeCompletion(t, lake, 1, "x")
	db, err := Open(lake)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}
