package dataset

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Partition is the folder of one table and experiment, relative to the lake.
func Partition(table, experiment string) string {
	return filepath.Join(table, PartitionColumn+"="+experiment)
}

// TmpDir holds the files being written (lake/_tmp/<rel>.tmp), outside
// every table folder: a reader that takes a table's whole folder (pandas,
// pyarrow, DuckDB's '**') never meets a partial file. It is inside the
// lake, so the rename into place stays on one filesystem.
const TmpDir = "_tmp"

// tmpPath is where the file that will be rel (relative to lake) is written.
func tmpPath(lake, rel string) string { return filepath.Join(lake, TmpDir, rel+".tmp") }

// WriteFile writes rows of one table as one Parquet file at rel (relative to
// lake): first to lake/_tmp/<rel>.tmp, fsynced, then renamed into place and
// the folder fsynced, so readers never see a partial file. The rows must
// match the table's columns.
func WriteFile(lake, rel string, t Table, rows []Row) error {
	rec, err := buildRecord(t, rows)
	if err != nil {
		return err
	}
	defer rec.Release()
	return writeAtomically(lake, rel, t, func(fw *pqarrow.FileWriter) error { return fw.Write(rec) })
}

// writeAtomically creates a Parquet file of the table's schema at rel
// through lake/_tmp/<rel>.tmp: write fills it; the file is then closed,
// fsynced, renamed into place and its folder fsynced. On error nothing is
// left.
func writeAtomically(lake, rel string, t Table, write func(*pqarrow.FileWriter) error, props ...parquet.WriterProperty) error {
	path := filepath.Join(lake, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create partition: %w", err)
	}
	tmp := tmpPath(lake, rel)
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", TmpDir, err)
	}
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	wp := parquet.NewWriterProperties(append([]parquet.WriterProperty{parquet.WithCompression(compress.Codecs.Zstd), parquet.WithCreatedBy("leakscope")}, props...)...)
	fw, err := pqarrow.NewFileWriter(t.Schema(), f, wp, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err == nil {
		err = write(fw)
		if cerr := fw.Close(); err == nil {
			err = cerr // Close also closes f
		}
	} else {
		f.Close()
	}
	if err == nil {
		err = syncPath(tmp)
	}
	renamed := false
	if err == nil {
		err = os.Rename(tmp, path)
		renamed = err == nil
	}
	if err == nil {
		err = syncPath(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		if renamed { // the caller will not commit it: leave nothing
			os.Remove(path)
		}
		return fmt.Errorf("write %s: %w", rel, err)
	}
	return nil
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func buildRecord(t Table, rows []Row) (arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, t.Schema())
	defer b.Release()
	for ri, row := range rows {
		if len(row) != len(t.Columns) {
			return nil, fmt.Errorf("dataset: %s row %d has %d values for %d columns", t.Name, ri, len(row), len(t.Columns))
		}
		for ci, v := range row {
			if err := appendValue(b.Field(ci), v); err != nil {
				return nil, fmt.Errorf("dataset: %s row %d column %s: %w", t.Name, ri, t.Columns[ci].Name, err)
			}
		}
	}
	return b.NewRecordBatch(), nil
}

func appendValue(fb array.Builder, v any) error {
	if v == nil {
		fb.AppendNull()
		return nil
	}
	switch bb := fb.(type) {
	case *array.StringBuilder:
		if s, ok := v.(string); ok {
			bb.Append(s)
			return nil
		}
	case *array.Int64Builder:
		if n, ok := v.(int64); ok {
			bb.Append(n)
			return nil
		}
	case *array.Float64Builder:
		if x, ok := v.(float64); ok {
			bb.Append(x)
			return nil
		}
	case *array.BooleanBuilder:
		if x, ok := v.(bool); ok {
			bb.Append(x)
			return nil
		}
	case *array.TimestampBuilder:
		if x, ok := v.(time.Time); ok {
			bb.Append(arrow.Timestamp(x.UnixMicro()))
			return nil
		}
	}
	return fmt.Errorf("value %T does not fit %s", v, fb.Type())
}
