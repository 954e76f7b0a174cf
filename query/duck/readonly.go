package duck

import (
	"context"
	"database/sql"
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

// catalogWritingOptions are reader options that create tables from inside
// a SELECT: read_csv's store_rejects writes the rejected rows into
// temporary tables named by rejects_table and rejects_scan (any name,
// a view's included), so every one of them is refused.
var catalogWritingOptions = map[string]bool{"store_rejects": true, "rejects_table": true, "rejects_scan": true, "rejects_limit": true}

// namedParams lists the named arguments of a table function call as
// json_serialize_sql shows them (name = value parses as a comparison of a
// column named name), in lower case.
func namedParams(fn map[string]any) []string {
	var names []string
	children, _ := fn["children"].([]any)
	for _, c := range children {
		m, ok := c.(map[string]any)
		if !ok || m["class"] != "COMPARISON" {
			continue
		}
		left, _ := m["left"].(map[string]any)
		if left == nil || left["class"] != "COLUMN_REF" {
			continue
		}
		if parts, _ := left["column_names"].([]any); len(parts) > 0 {
			if name, ok := parts[len(parts)-1].(string); ok {
				names = append(names, strings.ToLower(name))
			}
		}
	}
	return names
}

// UserQuery is Query for statements from users (the sql command, /api/sql):
// besides being a single SELECT, the statement may call only the table
// functions in allowedTableFunctions, none with an option that writes to
// the catalog, and its result is bounded while DuckDB produces it: more
// than maxRows rows is refused with ErrTooManyRows (maxRows <= 0: no row
// limit), more than MaxResultBytes with ErrTooLarge. At most UserSlots user
// statements run at once, each on a fresh connection. The absolute lake
// path is shown as "<lake>" in values and errors.
func (d *DB) UserQuery(ctx context.Context, query string, maxRows int) (*Result, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, UserQueryTimeout, ErrTimeout)
	defer cancel()
	res, err := d.userQuery(ctx, query, maxRows)
	if err != nil && errors.Is(context.Cause(ctx), ErrTimeout) {
		return nil, fmt.Errorf("%w (%s)", ErrTimeout, UserQueryTimeout)
	}
	if err != nil {
		return nil, d.redactErr(err)
	}
	for _, row := range res.Rows {
		for i, v := range row {
			row[i] = d.redactValue(v)
		}
	}
	return res, nil
}

func (d *DB) userQuery(ctx context.Context, query string, maxRows int) (*Result, error) {
	if strings.Trim(query, " \t\r\n;") == "" {
		return nil, fmt.Errorf("%w: the statement is empty: give one SELECT (e.g. SELECT count(*) FROM completions)", ErrSQL)
	}
	if err := d.checkTableFunctions(ctx, query); err != nil {
		return nil, err
	}
	// The statement runs inside another (boundedSQL): it must still be the
	// same one statement there, calling nothing more.
	if err := d.checkTableFunctions(ctx, innerSQL(query)); err != nil {
		return nil, fmt.Errorf("%w: the statement cannot be bounded (end it without a dangling comment): %v", ErrSQL, err)
	}
	return d.query(ctx, d.user, query, true, maxRows)
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
	if stmts, _ := tree["statements"].([]any); len(stmts) > 1 {
		return fmt.Errorf("%w; give one statement at a time", ErrNotReadOnly)
	}
	var bad, writes []string
	var walk func(any)
	walk = func(o any) {
		switch v := o.(type) {
		case map[string]any:
			if v["type"] == "TABLE_FUNCTION" {
				if fn, ok := v["function"].(map[string]any); ok {
					name, _ := fn["function_name"].(string)
					if !allowedTableFunctions[strings.ToLower(name)] {
						bad = append(bad, name)
					}
					for _, opt := range namedParams(fn) {
						if catalogWritingOptions[opt] {
							writes = append(writes, name+"("+opt+")")
						}
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
	if len(writes) > 0 {
		return fmt.Errorf("%w; refused option %s: it writes tables into the database (rejected rows can be read with ignore_errors = false, which names the bad line)", ErrNotReadOnly, strings.Join(writes, ", "))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w; refused table function %s (allowed: readers of the lake, range, generate_series, unnest, duckdb_* listings)", ErrNotReadOnly, strings.Join(bad, ", "))
	}
	return nil
}

// Query refreshes the views and runs one read-only statement. Anything that
// is not a SELECT (INSERT, COPY, CREATE, ATTACH, SET, several
// statements, EXPLAIN ANALYZE…) is refused with ErrNotReadOnly before it runs.
func (d *DB) Query(ctx context.Context, query string, args ...any) (*Result, error) {
	res, err := d.query(ctx, d.SQL, query, false, 0, args...)
	return res, d.redactErr(memoryBusy(err))
}

// vanishedRetries: a statement that met a file compaction deleted between
// DuckDB listing a folder and opening the file is run again (it lists the
// folder again) up to this many times.
const vanishedRetries = 6

// query checks that query is one read-only statement and runs it on a
// connection of pool, bounded by boundedSQL when bound is set.
func (d *DB) query(ctx context.Context, pool *sql.DB, query string, bound bool, maxRows int, args ...any) (res *Result, err error) {
	err = retryVanished(ctx, func() error {
		res, err = d.queryOnce(ctx, pool, query, bound, maxRows, args...)
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

func (d *DB) queryOnce(ctx context.Context, pool *sql.DB, query string, bound bool, maxRows int, args ...any) (*Result, error) {
	if err := d.Refresh(ctx); err != nil {
		return nil, err
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	run := query
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
		if bound {
			run, err = boundedStatement(c, query, maxRows)
		}
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotReadOnly) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrSQL, err)
	}
	rows, err := conn.QueryContext(ctx, run, args...)
	if err != nil {
		return nil, resultErr(err)
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
	var size int64
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
		// DuckDB's own count (boundedSQL) measures rows as text; this one,
		// of the values Go holds, backs it up at twice the budget.
		if size += valuesSize(vals); bound && size > 2*MaxResultBytes {
			return nil, fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, MaxResultBytes)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, resultErr(err)
	}
	return res, nil
}

// boundedStatement is query (a SELECT) as boundedSQL bounds it, made from
// the columns the prepared statement will return.
func boundedStatement(c driver.Conn, query string, maxRows int) (string, error) {
	inner := innerSQL(query)
	st, err := c.Prepare(inner)
	if err != nil {
		return "", err
	}
	defer st.Close()
	ds := st.(*duckdb.Stmt)
	n, err := ds.ColumnCount()
	if err != nil {
		return "", err
	}
	cols := make([]string, n)
	types := make([]duckdb.TypeInfo, n)
	for i := range n {
		if cols[i], err = ds.ColumnName(i); err != nil {
			return "", err
		}
		if types[i], err = ds.ColumnTypeInfo(i); err != nil {
			return "", err
		}
	}
	return boundedSQL(inner, cols, types, maxRows), nil
}

// resultErr is ErrTooLarge when DuckDB stopped a bounded statement at its
// byte budget, ErrBigMap at a map over MaxMapEntries, else the
// statement's error as ErrSQL.
func resultErr(err error) error {
	if strings.Contains(err.Error(), tooLargeMarker) {
		return fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, MaxResultBytes)
	}
	if strings.Contains(err.Error(), bigMapMarker) {
		return fmt.Errorf("%w (limit %d entries)", ErrBigMap, MaxMapEntries)
	}
	return fmt.Errorf("%w: %v", ErrSQL, err)
}

func stmtName(q string) string {
	f := strings.Fields(q)
	if len(f) == 0 {
		return "empty"
	}
	return strings.ToUpper(f[0])
}
