package duck

import (
	"errors"
	"fmt"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// UserSlots bounds the user statements (UserQuery) that run at once; the
// others wait for a connection (or give up with their context).
var UserSlots = 2

// MaxResultBytes bounds one user statement's result, in bytes of its rows
// rendered as text (CAST(row AS VARCHAR), about what JSON or a table shows).
// DuckDB counts while it produces rows, so a statement stops at the budget
// instead of materialising everything first.
var MaxResultBytes int64 = 32 << 20

// ErrTooLarge is returned by UserQuery when a result exceeds MaxResultBytes.
var ErrTooLarge = errors.New("the result is too large: select fewer or shorter columns, aggregate, or add a LIMIT (for bulk exports read the lake's Parquet files directly)")

// ErrMemoryBusy is returned when DuckDB ran out of its memory (MemoryLimit)
// while it refreshed the views or ran one of the service's own statements:
// the request is not at fault; user statements running at once hold the
// memory (try again), or the limit is too small for the lake. A user
// statement that runs out of memory itself fails with ErrSQL.
var ErrMemoryBusy = errors.New("the query engine is out of memory: statements running at once hold it (try again in a moment), or its limit (--sql-memory-limit) is too small for this lake")

// memoryBusy is err as ErrMemoryBusy when DuckDB ran out of memory.
func memoryBusy(err error) error {
	if err == nil || errors.Is(err, ErrMemoryBusy) || !strings.Contains(err.Error(), "Out of Memory Error") {
		return err
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Errorf("%w (memory limit %s: %s)", ErrMemoryBusy, MemoryLimit, msg)
}

// tooLargeMarker is the text of the error() boundedSQL raises at the budget.
const tooLargeMarker = "leakscope: result byte budget exceeded"

// MaxMapEntries bounds the entries of one MAP value in a user statement's
// result: the driver builds each map with a linear search per key, so a
// map of n entries costs n² in Go, outside the statement's timeout (100,000
// entries took 19 s, a million would take half an hour).
var MaxMapEntries = 1000

// bigMapMarker is the text of the error() boundedSQL raises at a map over
// MaxMapEntries.
const bigMapMarker = "leakscope: map too large"

// ErrBigMap is returned by UserQuery for a result holding a MAP of more
// than MaxMapEntries entries.
var ErrBigMap = errors.New("a MAP in the result has too many entries: select map_entries(m) (a list of key/value structs) or aggregate it")

// innerSQL is a user statement as the subquery boundedSQL reads from: its
// trailing semicolons dropped, on lines of its own (a trailing -- comment
// ends before the closing parenthesis).
func innerSQL(query string) string {
	return "SELECT * FROM (\n" + query[:statementEnd(query)] + "\n) AS leakscope_row"
}

// statementEnd is where query's one statement ends: before the semicolons
// (and the comments and spaces between them) that may follow it. Quoted
// text and comments are skipped; a statement DuckDB would read differently
// only fails to bound (its check in UserQuery), it cannot run unbounded.
func statementEnd(query string) int {
	end := len(query)
	afterSemicolon := false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(query[i+1:], c)
			if j < 0 {
				return len(query)
			}
			i += j + 1
		case strings.HasPrefix(query[i:], "$$"):
			j := strings.Index(query[i+2:], "$$")
			if j < 0 {
				return len(query)
			}
			i += j + 3
		case strings.HasPrefix(query[i:], "--"):
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				return end
			}
			i += j
		case strings.HasPrefix(query[i:], "/*"):
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				return len(query)
			}
			i += j + 3
		case c == ';':
			if !afterSemicolon {
				end, afterSemicolon = i, true
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			end, afterSemicolon = len(query), false
		}
	}
	return end
}

// boundedSQL makes DuckDB itself stop inner (innerSQL) at maxRows+1 rows
// (maxRows <= 0: no row limit) and at MaxResultBytes: the driver
// materialises a whole result before the first row reaches Go, so limits
// checked while scanning come too late. cols and types are inner's columns.
// The running byte sum is a streaming window (no PARTITION BY or ORDER BY),
// so rows keep their order and nothing is buffered; each row's size is
// measured without copying its values (a cast of a row to text would copy
// a whole chunk of big values before the filter sees the first). Duplicate
// column names come back suffixed (a, a_1), as DuckDB names a subquery's
// columns.
func boundedSQL(inner string, cols []string, types []duckdb.TypeInfo, maxRows int) string {
	size := make([]string, 0, len(cols)+1)
	size = append(size, "0")
	for i, c := range cols {
		size = append(size, sizeExpr(ident(c), types[i], 0))
	}
	limit := ""
	if maxRows > 0 {
		limit = fmt.Sprintf(" LIMIT %d", maxRows+1)
	}
	return fmt.Sprintf(`SELECT * EXCLUDE (leakscope_result_bytes) FROM (
  SELECT *, sum(%s) OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS leakscope_result_bytes
  FROM (%s)
) WHERE leakscope_result_bytes <= %d OR error(%s)%s`, strings.Join(size, " + "), inner, MaxResultBytes, Quote(tooLargeMarker), limit)
}

// fixedSize is what a value of a fixed-size type counts (a number, a
// timestamp, a UUID…, at most 16 bytes in DuckDB).
const fixedSize = 16

// sizeExpr is a SQL expression for the bytes of e, a value of type t:
// string lengths, summed through lists, structs and maps; NULL counts 0.
func sizeExpr(e string, t duckdb.TypeInfo, depth int) string {
	switch d := t.Details().(type) {
	case *duckdb.ListDetails:
		return listSize(e, d.Child, depth)
	case *duckdb.ArrayDetails:
		return listSize(e, d.Child, depth)
	case *duckdb.StructDetails:
		parts := make([]string, 0, len(d.Entries)+1)
		parts = append(parts, "0")
		for _, f := range d.Entries {
			parts = append(parts, sizeExpr(fmt.Sprintf("struct_extract(%s, %s)", e, Quote(f.Name())), f.Info(), depth+1))
		}
		return "(" + strings.Join(parts, " + ") + ")"
	case *duckdb.MapDetails:
		return fmt.Sprintf("(CASE WHEN cardinality(%s) > %d THEN error(%s)::BIGINT ELSE %s + %s END)", e, MaxMapEntries, Quote(bigMapMarker),
			listSize("map_keys("+e+")", d.Key, depth), listSize("map_values("+e+")", d.Value, depth))
	}
	switch t.InternalType() {
	case duckdb.TYPE_VARCHAR:
		return fmt.Sprintf("coalesce(strlen(%s), 0)", e)
	case duckdb.TYPE_BLOB:
		return fmt.Sprintf("coalesce(octet_length(%s), 0)", e)
	case duckdb.TYPE_BIT:
		return fmt.Sprintf("coalesce(bit_length(%s) // 8, 0)", e)
	case duckdb.TYPE_UNION, duckdb.TYPE_BIGNUM:
		// rare and without a length function: measured as text
		return fmt.Sprintf("coalesce(strlen(CAST(%s AS VARCHAR)), 0)", e)
	}
	return fmt.Sprint(fixedSize)
}

func listSize(e string, child duckdb.TypeInfo, depth int) string {
	x := fmt.Sprintf("leakscope_x%d", depth)
	inner := sizeExpr(x, child, depth+1)
	if inner == fmt.Sprint(fixedSize) {
		return fmt.Sprintf("coalesce(len(%s) * %d, 0)", e, fixedSize)
	}
	return fmt.Sprintf("coalesce(list_sum(list_transform(%s, %s -> %s)), 0)", e, x, inner)
}

// valuesSize is about the bytes Go holds for one row's values.
func valuesSize(vals []any) int64 {
	var n int64
	for _, v := range vals {
		switch x := v.(type) {
		case string:
			n += int64(len(x))
		case []byte:
			n += int64(len(x))
		case []any:
			n += valuesSize(x)
		case map[string]any:
			for k, e := range x {
				n += int64(len(k)) + valuesSize([]any{e})
			}
		default:
			n += 16
		}
	}
	return n
}
