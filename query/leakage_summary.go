package query

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"leakscope/events/marker"
	"leakscope/ingest/dataset"
	"leakscope/query/duck"
)

// summaryCounts counts the leakage matrix's completion cells from the
// cell_counts summaries (ingest ran every detector on each stored text
// with the run's marker, per file) when they answer the request exactly:
// the run's own marker, the detector version they were counted with,
// every completions file of the experiment summarised, and no event
// stored twice (summaries cannot de-duplicate across files). Otherwise it
// returns nil and the matrix scans the texts. Rows have the scan's
// columns: run_id, persona, prompt, total, found, recorded found/total,
// recorded only, detected only, longest text.
//
// Files are immutable once committed, so the engine keeps a running sum
// per experiment and reads only the summary files committed since the
// last call: a matrix costs the new files, not the lake.
func (e *Engine) summaryCounts(ctx context.Context, req LeakageRequest, det marker.Detector, runs map[string]runInfo) (*duck.Result, error) {
	if req.ScanTexts || req.Marker != "" || !summaryDetector(req.Detector) {
		return nil, nil
	}
	part := filepath.Join(e.DB.Lake(), "%s", "experiment="+req.Experiment, "*.parquet")
	files, err := filepath.Glob(fmt.Sprintf(part, "completions"))
	if err != nil || len(files) == 0 {
		return nil, err
	}
	// Ingest writes a completions file and its summary file under one name
	// in one batch: the names must pair up.
	summaries, err := filepath.Glob(fmt.Sprintf(part, dataset.TableCellCounts))
	if err != nil || len(summaries) != len(files) {
		return nil, err // some files were written before summaries existed
	}
	for i := range files {
		if filepath.Base(files[i]) != filepath.Base(summaries[i]) {
			return nil, nil
		}
	}
	agg, err := e.summaryAggregate(ctx, req.Experiment, summaries)
	if duck.Vanished(err) {
		return nil, nil // compacted meanwhile: the views list the folders again
	}
	if err != nil {
		return nil, err
	}
	res := &duck.Result{}
	for _, k := range agg.order() {
		c := agg.cells[k]
		run, ok := runs[k[0]]
		if !ok || c.minMarker != run.marker || c.maxMarker != run.marker {
			return nil, nil // counted before its run was known, or with another marker
		}
		row := []any{k[0], k[1], c.prompt}
		if req.Detector == marker.Recorded {
			row = append(row, c.recN, c.recTrue, c.recTrue, c.recN, int64(0), int64(0), c.maxChars)
		} else {
			d := c.det[det.Name]
			if d.minVersion != int64(det.Version) || d.maxVersion != int64(det.Version) {
				return nil, nil
			}
			row = append(row, c.n, d.hits, c.recTrue, c.recN, d.recOnly, d.detOnly, c.maxChars)
		}
		res.Rows = append(res.Rows, row)
	}
	if dup, err := e.duplicates(ctx, files); err != nil || dup {
		if duck.Vanished(err) {
			return nil, nil
		}
		return nil, err
	}
	return res, nil
}

func summaryDetector(name string) bool {
	if name == marker.Recorded {
		return true
	}
	_, err := marker.Get(name)
	return err == nil
}

// detSum and cellSum are running sums of cell_counts rows.
type detSum struct{ minVersion, maxVersion, hits, recOnly, detOnly int64 }

type cellSum struct {
	prompt                     string
	n, recN, recTrue, maxChars int64
	minMarker, maxMarker       string
	det                        map[string]*detSum
	seen                       bool
}

// expSummary is one experiment's running sum and the files in it.
type expSummary struct {
	files map[string]bool
	cells map[[2]string]*cellSum
}

func (a *expSummary) order() [][2]string {
	keys := make([][2]string, 0, len(a.cells))
	for k := range a.cells {
		keys = append(keys, k)
	}
	// Compare field by field: concatenating keys allocated two strings
	// per comparison (a third of a warm 100× matrix).
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	return keys
}

var (
	summaryMu  sync.Mutex
	summaryAgg = map[string]*expSummary{} // lake + experiment → running sum
)

// summaryAggregate brings the experiment's running sum up to the given
// summary files, reading only those not yet in it; a file that vanished
// (a lake rebuilt) starts the sum afresh.
func (e *Engine) summaryAggregate(ctx context.Context, experiment string, files []string) (*expSummary, error) {
	summaryMu.Lock()
	defer summaryMu.Unlock()
	key := e.DB.Lake() + "\x00" + experiment
	agg := summaryAgg[key]
	present := map[string]bool{}
	for _, f := range files {
		present[f] = true
	}
	if agg != nil {
		for f := range agg.files {
			if !present[f] {
				agg = nil
				break
			}
		}
	}
	if agg == nil {
		agg = &expSummary{files: map[string]bool{}, cells: map[[2]string]*cellSum{}}
	}
	var fresh []string
	for _, f := range files {
		if !agg.files[f] {
			fresh = append(fresh, duck.Quote(f))
		}
	}
	if len(fresh) > 0 {
		names := marker.Names()
		cols := []string{"run_id", "persona", "persona_prompt", "n", "recorded_n", "recorded_true", "max_chars", "marker"}
		for _, n := range names {
			c := dataset.DetectorColumn(n)
			cols = append(cols, c+"_version", c+"_hits", c+"_rec_only", c+"_det_only")
		}
		res, err := e.DB.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM read_parquet(["+strings.Join(fresh, ", ")+"])")
		if err != nil {
			return nil, fmt.Errorf("read cell_counts: %w", err)
		}
		for _, r := range res.Rows {
			k := [2]string{str(r[0]), str(r[1])}
			c := agg.cells[k]
			if c == nil {
				c = &cellSum{det: map[string]*detSum{}}
				agg.cells[k] = c
			}
			c.prompt = max(c.prompt, str(r[2]))
			c.n += i64(r[3])
			c.recN += i64(r[4])
			c.recTrue += i64(r[5])
			c.maxChars = max(c.maxChars, i64(r[6]))
			m := str(r[7])
			if !c.seen || m < c.minMarker {
				c.minMarker = m
			}
			if !c.seen || m > c.maxMarker {
				c.maxMarker = m
			}
			for i, n := range names {
				v := r[8+4*i : 12+4*i]
				d := c.det[n]
				if d == nil {
					d = &detSum{minVersion: i64(v[0]), maxVersion: i64(v[0])}
					c.det[n] = d
				}
				d.minVersion, d.maxVersion = min(d.minVersion, i64(v[0])), max(d.maxVersion, i64(v[0]))
				d.hits += i64(v[1])
				d.recOnly += i64(v[2])
				d.detOnly += i64(v[3])
			}
			c.seen = true
		}
		for _, f := range files {
			agg.files[f] = true
		}
		summaryAgg[key] = agg
	}
	return agg, nil
}

// dupCache remembers, per set of completions files (immutable once
// committed), whether any event ID is stored twice.
var dupCache sync.Map

// duplicates reports whether an event ID occurs twice among the files.
// Ingest does not commit an ID it still indexes, and says so in its
// manifest while the index holds every ID (dataset.VouchedUnique); the
// IDs are read only for the rest (an ID re-published after it left
// ingest's bounded index, two writers, a lake assembled by hand).
func (e *Engine) duplicates(ctx context.Context, files []string) (bool, error) {
	sort.Strings(files)
	key := strings.Join(files, "\x00")
	if v, ok := dupCache.Load(key); ok {
		return v.(bool), nil
	}
	// Ingest vouches for most lakes (one writer whose ID index held every
	// ID it committed): no need to read millions of IDs.
	// A manifest that cannot be read vouches for nothing: read the IDs.
	if ok, err := dataset.VouchedUnique(e.DB.Lake(), files); err == nil && ok {
		dupCache.Store(key, false)
		return false, nil
	}
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = duck.Quote(f)
	}
	// Distinct 64-bit hashes, not the 64-character IDs: a quarter less time
	// and half the memory at 13 M completions. Equal IDs hash equal, so no
	// duplicate is missed; a collision of different IDs (about 1 in 10^5
	// at 13 M) only sends the matrix to the texts.
	res, err := e.DB.Query(ctx, "SELECT count(*) <> count(DISTINCT hash(event_id)) FROM read_parquet(["+strings.Join(quoted, ", ")+"])")
	if err != nil {
		return false, fmt.Errorf("check duplicate events: %w", err)
	}
	dup := res.Rows[0][0] == true
	dupCache.Store(key, dup)
	return dup, nil
}
