// Package duck is leakscope's only DuckDB user: it opens an in-memory
// database whose views (runs, completions, marker_hits, cells, coherence,
// cosines, dead_letters, run_finished) read the Parquet lake, de-duplicated
// by event ID, and runs read-only SQL over them.
package duck

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"leakscope/ingest/dataset"
)

// MemoryLimit bounds DuckDB's memory (a DuckDB size string: "512MiB",
// "4GB"; read by Open, the leakscope command's --sql-memory-limit); spilling
// to disk is off, so a statement that needs more fails with an Out of Memory
// error instead of growing the process.
var MemoryLimit = "4GB"

// Threads bounds DuckDB's worker threads (its buffers grow per thread).
var Threads = min(runtime.NumCPU(), 4)

// MaxConns bounds the DuckDB connections queries run on concurrently.
var MaxConns = 4

// DB is a DuckDB database over one lake. Views are refreshed before every
// query, so files committed by a running ingest are seen at once.
type DB struct {
	// SQL runs the service's own statements. Its connections are not
	// reused: each statement gets a fresh one, so no connection-local
	// object (a temp table named like a view) outlives the statement that
	// made it.
	SQL *sql.DB
	// user runs user statements (UserQuery), at most UserSlots at a time,
	// each on a fresh connection too.
	user *sql.DB
	lake string
	// shown is what lake is shown as in values and errors ("" = lakeShown).
	shown string
	// files is the list of committed files the views were last made over;
	// files are immutable once committed, so an equal list means the views
	// are current and need not be rebuilt (binding a view reads every
	// file's footer: ~35 ms per query at the #81 size).
	mu    sync.Mutex
	files string
	gen   uint64 // views rebuilt (Generation)
}

// Open opens an in-memory DuckDB over the lake directory (which may not
// exist yet: every view is then empty).
func Open(lake string) (*DB, error) {
	abs, err := filepath.Abs(lake)
	if err != nil {
		return nil, err
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	// Bounded pools over one database: database/sql hands each connection
	// to one goroutine at a time (sharing one DuckDB connection across
	// goroutines crashes the process: go-duckdb #479). Views and the
	// settings below are the database's, so every connection sees and
	// obeys them. No idle connections: DuckDB temp tables and views live in
	// a connection's own "temp" catalog and shadow the views of the same
	// name, so a connection is closed after each use (opening one costs
	// microseconds) rather than handed, with whatever a statement left in
	// it, to the next.
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(MaxConns)
	db.SetMaxIdleConns(0)
	user := sql.OpenDB(noClose{connector}) // db closes the connector
	user.SetMaxOpenConns(UserSlots)
	user.SetMaxIdleConns(0)
	// Queries may read the lake and nothing else on this machine: no other
	// files, no extensions, no network; and the setting cannot be undone.
	// temp_directory '' turns spilling off (so nothing can fill the disk
	// either), which also takes ./.tmp out of the directories queries may
	// read. A memory limit and a thread count keep one query from taking
	// the memory of the process that also runs NATS and ingest (README
	// "Hostile input" states the bound).
	if _, err := db.Exec("SET memory_limit = " + Quote(MemoryLimit)); err != nil {
		user.Close()
		db.Close()
		return nil, fmt.Errorf("duckdb memory limit %q (want a size such as 512MiB or 4GB): %w", MemoryLimit, err)
	}
	lock := fmt.Sprintf("SET threads = %d; SET temp_directory = ''; SET allowed_directories = [%s]; SET enable_external_access = false; SET lock_configuration = true",
		Threads, Quote(abs+string(filepath.Separator)))
	if _, err := db.Exec(lock); err != nil {
		user.Close()
		db.Close()
		return nil, fmt.Errorf("restrict duckdb to the lake: %w", err)
	}
	return &DB{SQL: db, user: user, lake: abs}, nil
}

// OpenFolder opens DuckDB in the same jail as Open, with dir as the only
// directory statements may read: the import of declared mappings runs the
// mapping's query (UserQuery) over the import's folder. In values and
// errors dir is shown as "." (read_json's filename column reads
// "./lr_1e-4/seed_1/results.json"). Open's views exist too, over dir,
// empty unless dir holds a lake.
func OpenFolder(dir string) (*DB, error) {
	d, err := Open(dir)
	if err != nil {
		return nil, err
	}
	d.shown = "."
	return d, nil
}

// noClose hides the connector's Close from a second sql.DB over it.
type noClose struct{ driver.Connector }

// Close closes the database.
func (d *DB) Close() error {
	d.user.Close()
	return d.SQL.Close()
}

// Lake is the absolute lake directory.
func (d *DB) Lake() string { return d.lake }

// Refresh (re)creates every view over the files now in the lake, when the
// set of committed files changed since the last refresh. It fails with
// ErrMemoryBusy when DuckDB's memory is used up.
func (d *DB) Refresh(ctx context.Context) error {
	return memoryBusy(d.refresh(ctx))
}

func (d *DB) refresh(ctx context.Context) error {
	var list strings.Builder
	for _, t := range dataset.Tables {
		m, _ := filepath.Glob(tableGlob(d.lake, t))
		list.WriteString(t.Name + "\x00" + strings.Join(m, "\x00") + "\n")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if list.String() == d.files {
		return nil
	}
	for _, t := range dataset.Tables {
		have, err := d.fileColumns(ctx, t)
		if err != nil {
			d.files = ""
			return err
		}
		if _, err := d.SQL.ExecContext(ctx, viewSQL(d.lake, t, have)); err != nil {
			d.files = ""
			return fmt.Errorf("create view %s: %w", t.Name, err)
		}
	}
	d.files = list.String()
	d.gen++
	return nil
}

// Generation refreshes the views and returns a number that changes
// whenever the set of lake files does: results computed from the views
// may be kept while it stays the same.
func (d *DB) Generation(ctx context.Context) (uint64, error) {
	if err := retryVanished(ctx, func() error { return d.Refresh(ctx) }); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen, nil
}

func tableGlob(lake string, t dataset.Table) string {
	return filepath.Join(lake, t.Name, dataset.PartitionColumn+"=*", "*.parquet")
}

// fileColumns lists the columns a table's committed files hold (nil when
// it has none): files written before a column joined the schema lack it.
func (d *DB) fileColumns(ctx context.Context, t dataset.Table) (map[string]bool, error) {
	glob := tableGlob(d.lake, t)
	if m, _ := filepath.Glob(glob); len(m) == 0 {
		return nil, nil
	}
	rows, err := d.SQL.QueryContext(ctx, fmt.Sprintf("DESCRIBE SELECT * FROM read_parquet(%s, union_by_name = true)", Quote(glob)))
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", t.Name, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		if name, ok := vals[0].(string); ok {
			have[name] = true
		}
	}
	return have, rows.Err()
}

// viewSQL reads a table's committed files, keeping the first row (by
// stream sequence) per key; an empty table becomes an empty typed view.
// Schema columns the files lack (have: the files' columns) read as NULL,
// so a lake written before a column was added still answers queries that
// name it.
func viewSQL(lake string, t dataset.Table, have map[string]bool) string {
	glob := tableGlob(lake, t)
	if m, _ := filepath.Glob(glob); len(m) == 0 {
		cols := make([]string, 0, len(t.Columns)+1)
		for _, c := range t.Columns {
			cols = append(cols, fmt.Sprintf("NULL::%s AS %s", sqlType(c.Type), ident(c.Name)))
		}
		cols = append(cols, "NULL::VARCHAR AS experiment")
		return fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT %s WHERE false", ident(t.Name), strings.Join(cols, ", "))
	}
	keys := make([]string, 0, len(t.Key)+1)
	keys = append(keys, "experiment")
	for _, k := range t.Key {
		keys = append(keys, ident(k))
	}
	exclude, replace, folds := []string{"leakscope_rn"}, []string{}, foldedColumns(t, have)
	for _, d := range t.Dropped {
		if have[d.Name] {
			exclude = append(exclude, ident(d.Name))
		}
	}
	added := ""
	for _, c := range t.Columns {
		fold, folded := folds[c.Name]
		switch {
		case folded && have[c.Name]:
			replace = append(replace, fold+" AS "+ident(c.Name))
		case folded:
			added += ", " + fold + " AS " + ident(c.Name)
		case !have[c.Name]:
			added += fmt.Sprintf(", NULL::%s AS %s", sqlType(c.Type), ident(c.Name))
		}
	}
	modifiers := "EXCLUDE (" + strings.Join(exclude, ", ") + ")"
	if len(replace) > 0 {
		modifiers += " REPLACE (" + strings.Join(replace, ", ") + ")"
	}
	return fmt.Sprintf(`CREATE OR REPLACE VIEW %s AS
SELECT * %s%s FROM (
  SELECT *, row_number() OVER (PARTITION BY %s ORDER BY stream_seq) AS leakscope_rn
  FROM read_parquet(%s, hive_partitioning = true, hive_types = {'experiment': VARCHAR}, union_by_name = true)
) WHERE leakscope_rn = 1`, ident(t.Name), modifiers, added, strings.Join(keys, ", "), Quote(glob))
}

// foldedColumns returns, per JSON object column, the expression that
// folds the table's dropped columns the files still hold (have) into it
// (dataset.Dropped): a non-empty dropped value fills its key where the
// stored object lacks it; an object left empty reads as NULL, as the
// writer stores "none". Files of the current schema read NULL in the
// dropped columns (union_by_name), so their objects pass unchanged.
func foldedColumns(t dataset.Table, have map[string]bool) map[string]string {
	pairs := map[string][]string{} // into → json_object arguments
	for _, d := range t.Dropped {
		if !have[d.Name] {
			continue
		}
		v := ident(d.Name)
		if d.Type.ID() == arrow.STRING {
			v = "nullif(" + v + ", '')"
		}
		pairs[d.Into] = append(pairs[d.Into], Quote(d.Name), v)
	}
	out := make(map[string]string, len(pairs))
	for into, args := range pairs {
		stored := "NULL::VARCHAR"
		if have[into] {
			stored = ident(into)
		}
		// json_merge_patch (RFC 7396) drops null members of the patch: the
		// first merge keeps the non-empty dropped values, the second lets
		// the stored object win on a key both give.
		out[into] = fmt.Sprintf("nullif(json_merge_patch(json_merge_patch('{}', json_object(%s)), coalesce(%s, '{}'))::VARCHAR, '{}')",
			strings.Join(args, ", "), stored)
	}
	return out
}

func sqlType(t arrow.DataType) string {
	switch t.ID() {
	case arrow.STRING:
		return "VARCHAR"
	case arrow.INT64:
		return "BIGINT"
	case arrow.FLOAT64:
		return "DOUBLE"
	case arrow.BOOL:
		return "BOOLEAN"
	case arrow.TIMESTAMP:
		return "TIMESTAMPTZ"
	}
	return "VARCHAR"
}

// Quote is a SQL string literal.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
