package dataset

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Compaction merges a writer's small committed files of one table and
// experiment into larger ones (issue 9): every batch writes a file per
// table and experiment, so a lake of hundreds of sweeps holds thousands of
// files of a few hundred kB, and a query pays per file (footer, open,
// schema) before it reads a row. A compacted file holds exactly the rows
// of the files it replaces, in their order; it is committed to the
// writer's manifest as an entry naming the files it replaces (Entry.
// Replaces), and only then are those files deleted. A crash in between
// leaves either the old files committed and the new one uncommitted
// (Recover moves it aside) or the new one committed and the replaced ones
// still on disk (Recover deletes them).
//
// A reader that lists the folders itself may see the merged file beside
// the files it replaces for that moment (one rename and many deletions
// cannot be one atomic step for a path-based reader): it must keep the
// first row per row key (Table.Key, as the query views do; the leakage
// matrix's duplicate check then reads the texts), or read a snapshot
// (Snapshot; `leakscope export`). A plain count(*) over the glob may
// double then.

// CompactOptions bound one compaction pass. Zero values take
// DefaultCompactOptions'.
type CompactOptions struct {
	// SmallBytes: files smaller than this (on disk) are merged.
	SmallBytes int64
	// TargetBytes bounds the summed on-disk size of one group's inputs.
	TargetBytes int64
	// MinFiles: a partition is compacted once it holds this many small
	// files of the writer, so a live sweep is not rewritten batch by batch.
	MinFiles int
	// RowGroupBytes closes a row group of the merged file once its
	// encoded columns reach this size (byte-bounded row groups: arrow-go
	// otherwise writes one row group per Write, arrow-go #506).
	RowGroupBytes int64
	// MaxGroups stops the pass after this many merged files (0: no bound).
	MaxGroups int
	// Budget stops the pass from starting another group once it has run
	// this long (0: no bound), so ingest compacts a little at a time
	// while the stream is idle.
	Budget time.Duration
	// Progress, when not nil, is called after each merged file with the
	// pass's totals so far.
	Progress func(CompactResult)
}

// DefaultCompactOptions: merge files under 16 MiB into files of up to
// 128 MiB of input, once a partition holds 16 of them; 32 MiB row groups.
func DefaultCompactOptions() CompactOptions {
	return CompactOptions{SmallBytes: 16 << 20, TargetBytes: 128 << 20, MinFiles: 16, RowGroupBytes: 32 << 20}
}

func (o CompactOptions) withDefaults() CompactOptions {
	d := DefaultCompactOptions()
	o.SmallBytes = cmp.Or(o.SmallBytes, d.SmallBytes)
	o.TargetBytes = cmp.Or(o.TargetBytes, d.TargetBytes)
	o.MinFiles = max(cmp.Or(o.MinFiles, d.MinFiles), 2)
	o.RowGroupBytes = cmp.Or(o.RowGroupBytes, d.RowGroupBytes)
	return o
}

// CompactResult says what a pass did.
type CompactResult struct {
	// Groups is the number of merged files written (companion cell_counts
	// files not counted); FilesIn the files they replaced (all tables).
	Groups, FilesIn, FilesOut int
	// BytesIn and BytesOut are on-disk sizes before and after.
	BytesIn, BytesOut int64
	// Left lists replaced files that could not be deleted (the next
	// Recover deletes them).
	Left []string
}

// Compact merges the manifest's writer's small files, partition by
// partition, until done or MaxGroups is reached. A completions group and
// the cell_counts files of the same batches are merged together under one
// name, so every completions file keeps its summary (the leakage matrix
// pairs them by name); the summary rows are kept as they were, one per
// original batch, completions_file naming the batch's file (so a replaced
// summary seen beside the merged one has the same row key). Files whose
// schema is not
// the table's current one (written by an older leakscope) are left as
// they are. Run it under the writer's Lock, from the goroutine that
// commits batches (Manifest is not safe for concurrent use). A partition
// that cannot be compacted (a committed file missing or unreadable) is
// left as it is and the pass goes on; the error returned joins every such
// partition's, naming the file, with the result of what was done. Nothing
// committed is lost on error: the old files stay committed until the
// merged one is. The budget and the context are looked at between merged
// files: one merge (at most TargetBytes of input) always completes.
func Compact(ctx context.Context, lake string, m *Manifest, opts CompactOptions) (CompactResult, error) {
	opts = opts.withDefaults()
	start := time.Now()
	var res CompactResult
	var errs []error
	seqs := map[string]batchOf{} // file → its batch
	parts := map[[2]string][]FileEntry{}
	summaries := map[string]FileEntry{} // cell_counts file by path
	for _, e := range m.entries {
		for _, fe := range e.Files {
			if m.replaced[fe.Path] {
				continue
			}
			seqs[fe.Path] = batchOf{e.FirstSeq, e.LastSeq, e.IDsChecked}
			switch fe.Table {
			case TableCellCounts:
				summaries[fe.Path] = fe
			default:
				k := [2]string{fe.Table, fe.Experiment}
				parts[k] = append(parts[k], fe)
			}
		}
	}
	keys := make([][2]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	for _, k := range keys {
		t, ok := TableByName(k[0])
		if !ok {
			continue // a table this version does not know: leave it
		}
		groups, err := compactGroups(lake, m, t, parts[k], opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, g := range groups {
			if opts.MaxGroups > 0 && res.Groups >= opts.MaxGroups || opts.Budget > 0 && res.Groups > 0 && time.Since(start) > opts.Budget {
				return res, errors.Join(errs...)
			}
			if err := ctx.Err(); err != nil {
				return res, errors.Join(append(errs, err)...)
			}
			if err := compactGroup(lake, m, t, g, seqs, summaries, opts, &res); err != nil {
				errs = append(errs, err)
				break // the partition's next groups wait for the next pass
			}
			if opts.Progress != nil {
				opts.Progress(res)
			}
		}
	}
	return res, errors.Join(errs...)
}

// batchOf is what a merged file's entry takes from the entries of the
// files it merges.
type batchOf struct {
	first, last uint64
	idsChecked  bool
}

// sizedFile is a committed file and its size on disk.
type sizedFile struct {
	FileEntry
	size int64
}

// compactGroups picks the partition's small files of the current schema,
// in file-name (stream) order, and cuts them into groups of at least two
// files and at most TargetBytes; none when fewer than MinFiles are small.
func compactGroups(lake string, m *Manifest, t Table, files []FileEntry, opts CompactOptions) ([][]sizedFile, error) {
	var small []sizedFile
	for _, fe := range files {
		st, err := os.Stat(filepath.Join(lake, fe.Path))
		if err != nil {
			return nil, fmt.Errorf("compact: committed file %s: %w", fe.Path, err)
		}
		if st.Size() < opts.SmallBytes {
			small = append(small, sizedFile{fe, st.Size()})
		}
	}
	if len(small) < opts.MinFiles {
		return nil, nil
	}
	slices.SortFunc(small, func(a, b sizedFile) int { return cmp.Compare(a.Path, b.Path) })
	var current []sizedFile
	for _, f := range small {
		ok, err := m.hasSchema(lake, f.Path, t)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		current = append(current, f)
	}
	var groups [][]sizedFile
	var g []sizedFile
	var bytes int64
	for _, f := range current {
		if len(g) > 0 && bytes+f.size > opts.TargetBytes {
			groups, g, bytes = appendGroup(groups, g), nil, 0
		}
		g, bytes = append(g, f), bytes+f.size
	}
	return appendGroup(groups, g), nil
}

func appendGroup(groups [][]sizedFile, g []sizedFile) [][]sizedFile {
	if len(g) < 2 {
		return groups
	}
	return append(groups, g)
}

// hasSchema reports whether a lake file holds exactly the table's current
// columns (older files lacking a column are not merged: the merged file
// would have to invent their values). Files are immutable: the answer is
// kept for the next pass.
func (m *Manifest) hasSchema(lake, rel string, t Table) (bool, error) {
	if ok, known := m.schemaOK[rel]; known {
		return ok, nil
	}
	ok, err := readSchemaMatches(lake, rel, t)
	if err == nil {
		m.schemaOK[rel] = ok
	}
	return ok, err
}

func readSchemaMatches(lake, rel string, t Table) (bool, error) {
	pf, fr, err := openParquet(lake, rel, pqarrow.ArrowReadProperties{})
	if err != nil {
		return false, fmt.Errorf("compact: %w", err)
	}
	defer pf.Close()
	sc, err := fr.Schema()
	if err != nil {
		return false, fmt.Errorf("compact: schema of %s: %w", rel, err)
	}
	return sameColumns(sc, t.Schema()), nil
}

// sameColumns compares names, types and nullability (not metadata).
func sameColumns(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.NumFields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || fa.Nullable != fb.Nullable || !arrow.TypeEqual(fa.Type, fb.Type) {
			return false
		}
	}
	return true
}

// compactGroup writes one merged file (and, for completions, its merged
// summary), commits it in place of the group and deletes the group.
func compactGroup(lake string, m *Manifest, t Table, g []sizedFile, seqs map[string]batchOf, summaries map[string]FileEntry, opts CompactOptions, res *CompactResult) error {
	first, last, checked := seqs[g[0].Path].first, seqs[g[0].Path].last, true
	var in []string
	var bytesIn int64
	for _, f := range g {
		first, last = min(first, seqs[f.Path].first), max(last, seqs[f.Path].last)
		checked = checked && seqs[f.Path].idsChecked
		in = append(in, f.Path)
		bytesIn += f.size
	}
	name := FileName(first, last, time.Now(), m.writer)
	out := []FileEntry{{Path: filepath.Join(Partition(t.Name, g[0].Experiment), name), Table: t.Name, Experiment: g[0].Experiment}}
	var summaryIn []string
	if t.Name == TableCompletions {
		cc, _ := TableByName(TableCellCounts)
		for _, f := range g {
			p := filepath.Join(Partition(TableCellCounts, f.Experiment), filepath.Base(f.Path))
			if _, ok := summaries[p]; ok {
				if ok, err := m.hasSchema(lake, p, cc); err != nil {
					return err
				} else if ok {
					summaryIn = append(summaryIn, p)
				}
			}
		}
		if len(summaryIn) > 0 && len(summaryIn) != len(g) {
			summaryIn = nil // some batches had no summary: the matrix reads texts for them anyway
		}
		if len(summaryIn) > 0 {
			out = append(out, FileEntry{Path: filepath.Join(Partition(TableCellCounts, g[0].Experiment), name), Table: TableCellCounts, Experiment: g[0].Experiment})
		}
	}
	rows, err := mergeFiles(lake, out[0].Path, t, in, opts)
	if err != nil {
		return err // mergeFiles left nothing behind
	}
	out[0].Rows = rows
	if len(summaryIn) > 0 {
		cc, _ := TableByName(TableCellCounts)
		// The rows keep their completions_file (the batch file each
		// summarises): with the row key (completions_file, run_id,
		// persona), a reader that sees a replaced file beside the merged
		// one for a moment keeps one row of each.
		rows, err := mergeFiles(lake, out[1].Path, cc, summaryIn, opts)
		if err != nil {
			os.Remove(filepath.Join(lake, out[0].Path)) // never committed
			return err
		}
		out[1].Rows = rows
	}
	replaces := append(append([]string{}, in...), summaryIn...)
	if err := m.Commit(Entry{FirstSeq: first, LastSeq: last, Files: out, Replaces: replaces, IDsChecked: checked, CommittedAt: time.Now().UTC()}); err != nil {
		if m.Broken() == nil { // the line was taken back: never committed
			for _, fe := range out {
				os.Remove(filepath.Join(lake, fe.Path))
			}
		} // else the line may be on disk: Recover decides, on reopening
		return fmt.Errorf("compact: commit %s: %w", out[0].Path, err)
	}
	res.Groups++
	res.FilesIn += len(replaces)
	res.FilesOut += len(out)
	res.BytesIn += bytesIn
	for _, p := range summaryIn {
		if st, err := os.Stat(filepath.Join(lake, p)); err == nil {
			res.BytesIn += st.Size()
		}
	}
	for _, fe := range out {
		if st, err := os.Stat(filepath.Join(lake, fe.Path)); err == nil {
			res.BytesOut += st.Size()
		}
	}
	for _, p := range replaces {
		if err := os.Remove(filepath.Join(lake, p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			res.Left = append(res.Left, p)
		}
	}
	// The merge is committed: deletions that a crash undoes are redone by
	// Recover, so a failed folder sync is no failure of the compaction.
	_ = syncPath(filepath.Join(lake, filepath.Dir(out[0].Path)))
	return nil
}

// mergeFiles writes the rows of the input files, in order, as one file at
// rel (via lake/_tmp/<rel>.tmp, fsynced, renamed; nothing is left on
// error): each input is streamed a row group at a time into byte-bounded
// row groups of at most mergedRowGroupRows rows. It returns the rows written.
func mergeFiles(lake, rel string, t Table, inputs []string, opts CompactOptions) (int, error) {
	rows := 0
	err := writeAtomically(lake, rel, t, func(fw *pqarrow.FileWriter) error {
		for _, p := range inputs {
			n, err := appendFile(lake, p, t, fw, opts.RowGroupBytes)
			if err != nil {
				return err
			}
			rows += n
		}
		return nil
	}, parquet.WithMaxRowGroupLength(mergedRowGroupRows))
	if err != nil {
		return 0, fmt.Errorf("compact: %w", err)
	}
	return rows, nil
}

// mergedRowGroupRows bounds a merged file's row groups in rows too: DuckDB
// scans row groups in parallel (its own are 122,880 rows), and ingest's
// ID index reads the newest IDs of a merged file a row group at a time.
const mergedRowGroupRows = 128 << 10

// appendFile appends one input file's rows to fw, one record at a time.
func appendFile(lake, rel string, t Table, fw *pqarrow.FileWriter, rowGroupBytes int64) (int, error) {
	pf, fr, err := openParquet(lake, rel, pqarrow.ArrowReadProperties{BatchSize: 64 << 10})
	if err != nil {
		return 0, err
	}
	defer pf.Close()
	if sc, err := fr.Schema(); err != nil || !sameColumns(sc, t.Schema()) {
		return 0, fmt.Errorf("%s: columns changed since the group was chosen (%v)", rel, err)
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", rel, err)
	}
	defer rr.Release()
	rows := 0
	for rr.Next() {
		// The table's schema (same columns) carries its metadata.
		src := rr.RecordBatch()
		rec := array.NewRecordBatch(t.Schema(), src.Columns(), src.NumRows())
		err := fw.WriteBuffered(rec)
		rows += int(rec.NumRows())
		rec.Release()
		if err != nil {
			return 0, fmt.Errorf("append %s: %w", rel, err)
		}
		if fw.RowGroupTotalBytesWritten() >= rowGroupBytes {
			// The checked form: closing a row group writes, and a full
			// disk must be an error, not a panic.
			if err := fw.NewBufferedRowGroupChecked(); err != nil {
				return 0, fmt.Errorf("append %s: %w", rel, err)
			}
		}
	}
	if err := rr.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", rel, err)
	}
	return rows, nil
}
