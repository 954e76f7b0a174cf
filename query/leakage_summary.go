package query

import (
	"context"
	"fmt"
	"path/filepath"
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
	col := strings.ReplaceAll(det.Name, "-", "_")
	total, found, recOnly, detOnly, version := "sum(n)", "sum("+col+"_hits)", "sum("+col+"_rec_only)", "sum("+col+"_det_only)", col+"_version"
	if req.Detector == marker.Recorded {
		total, found, recOnly, detOnly, version = "sum(recorded_n)", "sum(recorded_true)", "0", "0", "0"
	}
	// One read of the partition's summary files (each row is unique by
	// construction: one file per committed batch), with what the checks
	// need: the markers and detector versions counted with.
	// sum() of BIGINT is HUGEINT in DuckDB: cast back for the row reader.
	q := fmt.Sprintf(`
SELECT run_id, persona, max(persona_prompt), (%s)::BIGINT, (%s)::BIGINT, sum(recorded_true)::BIGINT, sum(recorded_n)::BIGINT,
       (%s)::BIGINT, (%s)::BIGINT, max(max_chars), min(marker), max(marker), min(%s), max(%s)
FROM read_parquet(%s) WHERE $1 <> '' GROUP BY run_id, persona`, total, found, recOnly, detOnly, version, version,
		duck.Quote(fmt.Sprintf(part, dataset.TableCellCounts)))
	res, err := e.DB.Query(ctx, q, req.Experiment)
	if err != nil {
		return nil, fmt.Errorf("read cell_counts: %w", err)
	}
	for _, r := range res.Rows {
		run, ok := runs[str(r[0])]
		switch {
		case !ok || str(r[10]) != run.marker || str(r[11]) != run.marker:
			return nil, nil // counted before its run was known, or with another marker
		case req.Detector != marker.Recorded && (i64(r[12]) != int64(det.Version) || i64(r[13]) != int64(det.Version)):
			return nil, nil
		}
	}
	if dup, err := e.duplicates(ctx, files); err != nil || dup {
		return nil, err
	}
	for i, r := range res.Rows {
		res.Rows[i] = r[:10]
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

// dupCache remembers, per set of completions files (immutable once
// committed), whether any event ID is stored twice.
var dupCache sync.Map

// duplicates reports whether an event ID occurs twice among the files.
// Ingest never commits an ID twice; this guards lakes assembled otherwise.
func (e *Engine) duplicates(ctx context.Context, files []string) (bool, error) {
	sort.Strings(files)
	key := strings.Join(files, "\x00")
	if v, ok := dupCache.Load(key); ok {
		return v.(bool), nil
	}
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = duck.Quote(f)
	}
	res, err := e.DB.Query(ctx, "SELECT count(*) <> count(DISTINCT event_id) FROM read_parquet(["+strings.Join(quoted, ", ")+"])")
	if err != nil {
		return false, fmt.Errorf("check duplicate events: %w", err)
	}
	dup := res.Rows[0][0] == true
	dupCache.Store(key, dup)
	return dup, nil
}
