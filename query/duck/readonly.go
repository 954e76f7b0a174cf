package duck

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ErrNotReadOnly is returned by Query for statements that could write.
var ErrNotReadOnly = errors.New("only read-only SQL is allowed (SELECT, WITH … SELECT, DESCRIBE, SHOW, SUMMARIZE): the lake is written only by ingest")

// ErrSQL wraps errors DuckDB reports for a statement (syntax, unknown
// column…): the caller's mistake, not the server's.
var ErrSQL = errors.New("sql")

// Result is a query's columns and rows, values as DuckDB returns them.
type Result struct {
	Columns []string
	// Types are the columns' DuckDB type names (BIGINT, DOUBLE,
	// TIMESTAMP WITH TIME ZONE, VARCHAR[], …), so clients can type them.
	Types []string
	Rows  [][]any
}

// ErrTooManyRows is returned by UserQuery when a result exceeds its row limit.
var ErrTooManyRows = errors.New("the result has too many rows: aggregate it or add a LIMIT (for bulk exports read the lake's Parquet files directly)")

// allowedTableFunctions are the table functions user SQL may call: readers
// (confined to the lake by allowed_directories), generators and catalog
// listings. Anything else — enable_logging, checkpoint, query(…), pragma_* —
// can change the database's state from inside a SELECT, so it is refused.
var allowedTableFunctions = map[string]bool{
	"read_parquet": true, "parquet_scan": true, "parquet_schema": true, "parquet_metadata": true,
	"parquet_file_metadata": true, "parquet_kv_metadata": true, "read_csv": true, "read_csv_auto": true,
	"read_json": true, "read_json_auto": true, "read_ndjson": true, "read_text": true, "read_blob": true,
	"glob": true, "range": true, "generate_series": true, "unnest": true,
	"duckdb_tables": true, "duckdb_views": true, "duckdb_columns": true, "duckdb_functions": true,
	"duckdb_types": true, "duckdb_settings": true, "duckdb_schemas": true,
}

// UserQuery is Query for statements from users (the sql command, /api/sql):
// besides being a single SELECT, the statement may call only the table
// functions in allowedTableFunctions, and a result longer than maxRows is
// refused with ErrTooManyRows (maxRows <= 0: no limit).
func (d *DB) UserQuery(ctx context.Context, query string, maxRows int) (*Result, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, UserQueryTimeout, ErrTimeout)
	defer cancel()
	if err := d.checkTableFunctions(ctx, query); err != nil {
		return nil, err
	}
	res, err := d.query(ctx, query, maxRows)
	if err != nil && errors.Is(context.Cause(ctx), ErrTimeout) {
		return nil, fmt.Errorf("%w (%s)", ErrTimeout, UserQueryTimeout)
	}
	return res, err
}

// UserQueryTimeout bounds one user statement.
var UserQueryTimeout = 60 * time.Second

// ErrTimeout is returned when a user statement runs past UserQueryTimeout.
var ErrTimeout = errors.New("the query ran too long and was cancelled")

// checkTableFunctions parses the statement with DuckDB (json_serialize_sql)
// and refuses table functions outside the allowlist. A statement DuckDB
// cannot serialize is not a plain SELECT and is refused too.
func (d *DB) checkTableFunctions(ctx context.Context, query string) error {
	var raw any
	if err := d.SQL.QueryRowContext(ctx, "SELECT json_serialize_sql($1::VARCHAR)", query).Scan(&raw); err != nil {
		return fmt.Errorf("%w: %v", ErrSQL, err)
	}
	tree, ok := raw.(map[string]any)
	if !ok {
		var s string
		if s, ok = raw.(string); !ok || json.Unmarshal([]byte(s), &tree) != nil {
			return fmt.Errorf("%w: cannot inspect the statement", ErrNotReadOnly)
		}
	}
	if tree["error"] == true {
		msg, _ := tree["error_message"].(string)
		if strings.Contains(msg, "Only SELECT") {
			return fmt.Errorf("%w; refused: %s statement", ErrNotReadOnly, stmtName(query))
		}
		return fmt.Errorf("%w: %s", ErrSQL, msg)
	}
	var bad []string
	var walk func(any)
	walk = func(o any) {
		switch v := o.(type) {
		case map[string]any:
			if v["type"] == "TABLE_FUNCTION" {
				if fn, ok := v["function"].(map[string]any); ok {
					if name, _ := fn["function_name"].(string); !allowedTableFunctions[strings.ToLower(name)] {
						bad = append(bad, name)
					}
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(tree)
	if len(bad) > 0 {
		return fmt.Errorf("%w; refused table function %s (allowed: readers of the lake, range, generate_series, unnest, duckdb_* listings)", ErrNotReadOnly, strings.Join(bad, ", "))
	}
	return nil
}

// Query refreshes the views and runs one read-only statement. Anything that
// is not a SELECT (INSERT, COPY, CREATE, ATTACH, SET, several
// statements, EXPLAIN ANALYZE…) is refused with ErrNotReadOnly before it runs.
func (d *DB) Query(ctx context.Context, query string, args ...any) (*Result, error) {
	return d.query(ctx, query, 0, args...)
}

// vanishedRetries: a statement that met a file compaction deleted between
// DuckDB listing a folder and opening the file is run again (it lists the
// folder again) up to this many times.
const vanishedRetries = 6

func (d *DB) query(ctx context.Context, query string, maxRows int, args ...any) (res *Result, err error) {
	err = retryVanished(ctx, func() error {
		res, err = d.queryOnce(ctx, query, maxRows, args...)
		return err
	})
	return res, err
}

// retryVanished runs f again (it lists the folders again) while it fails
// on a file compaction deleted, up to vanishedRetries times.
func retryVanished(ctx context.Context, f func() error) error {
	for try := 0; ; try++ {
		err := f()
		if err == nil || !Vanished(err) || try == vanishedRetries || ctx.Err() != nil {
			return err
		}
		select { // let a merge that is deleting its inputs finish
		case <-ctx.Done():
		case <-time.After(time.Duration(try+1) * 50 * time.Millisecond):
		}
	}
}

// Vanished reports whether err is DuckDB failing to open a lake file that
// was listed a moment before: compaction (ingest/dataset/compact.go)
// deletes the files it merged.
func Vanished(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "No such file or directory") || strings.Contains(s, "No files found that match the pattern")
}

func (d *DB) queryOnce(ctx context.Context, query string, maxRows int, args ...any) (*Result, error) {
	if err := d.Refresh(ctx); err != nil {
		return nil, err
	}
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return errors.New("duckdb connection cannot prepare")
		}
		// Prepare (not PrepareContext): with several statements the driver
		// would execute all but the last while preparing; Prepare refuses.
		st, err := c.Prepare(query)
		if err != nil {
			if strings.Contains(err.Error(), "multi-statement") {
				return fmt.Errorf("%w; give one statement at a time", ErrNotReadOnly)
			}
			return err
		}
		defer st.Close()
		typ, err := st.(*duckdb.Stmt).StatementType()
		if err != nil {
			return err
		}
		// EXPLAIN is refused too: EXPLAIN ANALYZE runs the statement it explains.
		if typ != duckdb.STATEMENT_TYPE_SELECT {
			return fmt.Errorf("%w; refused: %s statement", ErrNotReadOnly, stmtName(query))
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotReadOnly) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrSQL, err)
	}
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSQL, err)
	}
	defer rows.Close()
	res := &Result{}
	if res.Columns, err = rows.Columns(); err != nil {
		return nil, err
	}
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	for _, ct := range cts {
		res.Types = append(res.Types, ct.DatabaseTypeName())
	}
	for rows.Next() {
		if maxRows > 0 && len(res.Rows) >= maxRows {
			return nil, fmt.Errorf("%w (limit %d)", ErrTooManyRows, maxRows)
		}
		vals := make([]any, len(res.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, rows.Err()
}

func stmtName(q string) string {
	f := strings.Fields(q)
	if len(f) == 0 {
		return "empty"
	}
	return strings.ToUpper(f[0])
}
