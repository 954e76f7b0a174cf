package dataset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// openParquet opens a lake file (relative path) for Arrow reads; close
// the returned file. Errors name the file.
func openParquet(lake, rel string, props pqarrow.ArrowReadProperties) (*file.Reader, *pqarrow.FileReader, error) {
	pf, err := file.OpenParquetFile(filepath.Join(lake, rel), false)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", rel, err)
	}
	fr, err := pqarrow.NewFileReader(pf, props, memory.DefaultAllocator)
	if err != nil {
		pf.Close()
		return nil, nil, fmt.Errorf("read %s: %w", rel, err)
	}
	return pf, fr, nil
}

// ReadStrings reads one string column of a lake file (relative path).
func ReadStrings(lake, rel, column string) ([]string, error) {
	return readNewestStrings(lake, rel, column, -1)
}

// CommittedEventIDs returns the IDs of every event stored in committed files
// (dead letters excluded): ingest's memory of what the lake already holds,
// so a re-publication beyond the bus's duplicate window is still dropped.
func CommittedEventIDs(lake string, m *Manifest) (map[string]struct{}, error) {
	ids := map[string]struct{}{}
	for _, fe := range m.Files("") {
		if fe.Table == TableDeadLetters || fe.Table == TableMarkerHits || fe.Table == TableCellCounts {
			continue // hits share their completion's ID
		}
		vals, err := ReadStrings(lake, fe.Path, "event_id")
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			ids[v] = struct{}{}
		}
	}
	return ids, nil
}

// RecentEventIDs returns the event IDs of the newest committed batches,
// one slice per batch, oldest first, stopping once about max IDs are read
// (dead letters and marker hits excluded, as in CommittedEventIDs). The
// rows of batches a compaction merged are read from the merged file, once,
// at the place of the newest batch it holds.
//
// complete reports that every committed ID of the writer was read: none
// was left out for max.
func RecentEventIDs(lake string, m *Manifest, max int) (batches [][]string, complete bool, err error) {
	entries := m.Entries()
	replacedBy := map[string]string{}
	merged := map[string]FileEntry{}
	for _, e := range entries {
		for _, fe := range e.Files {
			if e.Compaction() {
				merged[fe.Path] = fe
			}
		}
		for _, r := range e.Replaces {
			for _, fe := range e.Files {
				if fe.Table == tableOf(r) {
					replacedBy[r] = fe.Path
				}
			}
		}
	}
	read := map[string]bool{}
	var out [][]string
	n := 0
	complete = true
	i := len(entries) - 1
	for ; i >= 0 && n < max; i-- {
		if entries[i].Compaction() {
			continue
		}
		var ids []string
		for _, fe := range entries[i].Files {
			if fe.Table == TableDeadLetters || fe.Table == TableMarkerHits || fe.Table == TableCellCounts {
				continue
			}
			p := fe.Path
			for replacedBy[p] != "" {
				p = replacedBy[p] // compactions of compacted files chain
			}
			if read[p] {
				continue
			}
			read[p] = true
			var vals []string
			var err error
			if p == fe.Path {
				vals, err = ReadStrings(lake, p, "event_id")
			} else { // a merged file may hold millions: only the newest needed
				vals, err = readNewestStrings(lake, p, "event_id", max-n-len(ids))
				if len(vals) < merged[p].Rows {
					complete = false
				}
			}
			if err != nil {
				return nil, false, err
			}
			ids = append(ids, vals...)
		}
		out = append(out, ids)
		n += len(ids)
	}
	if i >= 0 { // stopped at max with batches left
		complete = false
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, complete, nil
}

// tableOf is the table folder of a lake path (TABLE/experiment=E/FILE).
func tableOf(rel string) string {
	t, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
	return t
}

// readNewestStrings reads the last want values of a string column (rows
// are in stream order; want < 0: all), a row group at a time from the
// end, so a large merged file costs what is kept.
func readNewestStrings(lake, rel, column string, want int) ([]string, error) {
	if want == 0 {
		return nil, nil
	}
	pf, fr, err := openParquet(lake, rel, pqarrow.ArrowReadProperties{})
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	idx := pf.MetaData().Schema.ColumnIndexByName(column)
	if idx < 0 {
		return nil, fmt.Errorf("read %s: no column %q", rel, column)
	}
	var out []string
	for rg := pf.NumRowGroups() - 1; rg >= 0 && (want < 0 || len(out) < want); rg-- {
		tbl, err := fr.ReadRowGroups(context.Background(), []int{idx}, []int{rg})
		if err != nil {
			return nil, fmt.Errorf("read %s column %s: %w", rel, column, err)
		}
		var group []string
		for _, chunk := range tbl.Column(0).Data().Chunks() {
			s, ok := chunk.(*array.String)
			if !ok {
				tbl.Release()
				return nil, fmt.Errorf("read %s: column %s is %s, not string", rel, column, chunk.DataType())
			}
			for i := 0; i < s.Len(); i++ {
				group = append(group, s.Value(i))
			}
		}
		tbl.Release()
		out = append(group, out...)
	}
	if want < 0 {
		return out, nil
	}
	return out[max(0, len(out)-want):], nil
}

// RunMarkers maps "<experiment>/<run>" to the run's marker, from the
// runs files every writer committed (the earliest file's run_started wins,
// as in the views): ingest's memory of which marker each run searches for,
// used by the cell_counts summaries. Another writer may compact between
// the reading of its manifest and of a file: the manifests are read again
// (a merged file is committed before the files it replaces are deleted).
func RunMarkers(lake string) (map[string]string, error) {
	var err error
	for range 5 {
		var out map[string]string
		if out, err = runMarkers(lake); err == nil || !errors.Is(err, os.ErrNotExist) {
			return out, err
		}
	}
	return nil, err
}

func runMarkers(lake string) (map[string]string, error) {
	out := map[string]string{}
	files, err := CommittedFiles(lake, TableRuns)
	if err != nil {
		return nil, err
	}
	for _, fe := range files {
		runs, err := ReadStrings(lake, fe.Path, "run_id")
		if err != nil {
			return nil, err
		}
		markers, err := ReadStrings(lake, fe.Path, "marker")
		if err != nil {
			return nil, err
		}
		for i, r := range runs {
			if _, ok := out[fe.Experiment+"/"+r]; !ok { // the first run_started wins, as in the views
				out[fe.Experiment+"/"+r] = markers[i]
			}
		}
	}
	return out, nil
}
