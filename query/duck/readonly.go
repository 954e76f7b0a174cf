package duck

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

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
	Rows    [][]any
}

// Query refreshes the views and runs one read-only statement. Anything that
// is not a SELECT (INSERT, COPY, CREATE, ATTACH, SET, several
// statements, EXPLAIN ANALYZE…) is refused with ErrNotReadOnly before it runs.
func (d *DB) Query(ctx context.Context, query string, args ...any) (*Result, error) {
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
	for rows.Next() {
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
