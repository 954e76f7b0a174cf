package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"leakscope/query/duck"
)

// SQL result formats (/api/sql?format=…).
const (
	FormatJSON    = "json"
	FormatCSV     = "csv"
	FormatParquet = "parquet"
)

// writeSQLResult writes res as JSON, CSV (RFC 4180, a header row, NULL as
// an empty field) or Parquet (one row group; DuckDB's integer, floating,
// boolean and timestamp columns keep their types, every other column is
// text: lists and structs as JSON). The raw driver values are read, before
// duck.Plain.
func writeSQLResult(w http.ResponseWriter, res *duck.Result, format string) {
	switch format {
	case FormatCSV:
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		_ = cw.Write(res.Columns)
		rec := make([]string, len(res.Columns))
		for _, row := range res.Rows {
			for i, v := range row {
				rec[i] = textOf(v)
			}
			_ = cw.Write(rec)
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			writeErr(w, http.StatusInternalServerError, fmt.Errorf("write CSV: %w", err))
			return
		}
		download(w, "text/csv; charset=utf-8", "leakscope-query.csv", buf.Bytes())
	case FormatParquet:
		b, err := parquetOf(res)
		if err != nil {
			writeErr(w, http.StatusInternalServerError, fmt.Errorf("write Parquet: %w", err))
			return
		}
		download(w, "application/vnd.apache.parquet", "leakscope-query.parquet", b)
	default:
		for _, row := range res.Rows {
			for i, v := range row {
				row[i] = duck.Plain(v)
			}
		}
		writeJSON(w, 200, map[string]any{"columns": res.Columns, "types": res.Types, "rows": res.Rows})
	}
}

func download(w http.ResponseWriter, contentType, name string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(200)
	_, _ = w.Write(b)
}

// textOf is a value as one CSV field: NULL empty, numbers in Go's
// shortest round-trip form, lists and structs as JSON.
func textOf(v any) string {
	v = duck.Plain(v)
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// arrowTypeOf maps a DuckDB type name to the Parquet column's Arrow type.
func arrowTypeOf(duckType string) arrow.DataType {
	switch t := strings.ToUpper(duckType); {
	case t == "BIGINT" || t == "INTEGER" || t == "SMALLINT" || t == "TINYINT" || t == "UINTEGER" || t == "USMALLINT" || t == "UTINYINT":
		return arrow.PrimitiveTypes.Int64
	case t == "DOUBLE" || t == "FLOAT" || strings.HasPrefix(t, "DECIMAL"):
		return arrow.PrimitiveTypes.Float64
	case t == "BOOLEAN":
		return arrow.FixedWidthTypes.Boolean
	case t == "TIMESTAMP WITH TIME ZONE" || t == "TIMESTAMP" || t == "TIMESTAMPTZ":
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	}
	return arrow.BinaryTypes.String
}

func parquetOf(res *duck.Result) ([]byte, error) {
	fields := make([]arrow.Field, len(res.Columns))
	seen := map[string]int{}
	for i, c := range res.Columns {
		name := c
		// Parquet readers need distinct names: SELECT 1 AS a, 2 AS a.
		if n := seen[c]; n > 0 {
			name = fmt.Sprintf("%s_%d", c, n+1)
		}
		seen[c]++
		t := arrow.DataType(arrow.BinaryTypes.String)
		if i < len(res.Types) {
			t = arrowTypeOf(res.Types[i])
		}
		fields[i] = arrow.Field{Name: name, Type: t, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for r, row := range res.Rows {
		for i, v := range row {
			if err := appendValue(b.Field(i), v); err != nil {
				return nil, fmt.Errorf("row %d column %s: %w", r+1, res.Columns[i], err)
			}
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	var buf bytes.Buffer
	wp := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithCreatedBy("leakscope"))
	fw, err := pqarrow.NewFileWriter(schema, &buf, wp, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, err
	}
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func appendValue(fb array.Builder, v any) error {
	if v == nil {
		fb.AppendNull()
		return nil
	}
	switch b := fb.(type) {
	case *array.Int64Builder:
		switch n := v.(type) {
		case int64:
			b.Append(n)
		case int32:
			b.Append(int64(n))
		case int16:
			b.Append(int64(n))
		case int8:
			b.Append(int64(n))
		case uint32:
			b.Append(int64(n))
		case uint16:
			b.Append(int64(n))
		case uint8:
			b.Append(int64(n))
		default:
			return fmt.Errorf("integer column holds %T", v)
		}
	case *array.Float64Builder:
		switch p := duck.Plain(v).(type) {
		case nil: // NaN, ±Inf
			b.AppendNull()
		case float64:
			b.Append(p)
		case float32:
			b.Append(float64(p))
		default:
			return fmt.Errorf("floating column holds %T", v)
		}
	case *array.BooleanBuilder:
		x, ok := v.(bool)
		if !ok {
			return fmt.Errorf("boolean column holds %T", v)
		}
		b.Append(x)
	case *array.TimestampBuilder:
		t, ok := v.(time.Time)
		if !ok {
			return fmt.Errorf("timestamp column holds %T", v)
		}
		b.Append(arrow.Timestamp(t.UTC().UnixMicro()))
	case *array.StringBuilder:
		b.Append(textOf(v))
	default:
		return fmt.Errorf("no writer for %T", fb)
	}
	return nil
}
