package query

import (
	"context"
	"fmt"
	"time"

	"leakscope/events"
)

// RunSummary is one run with what the lake holds for it.
type RunSummary struct {
	Experiment    string `json:"experiment"`
	RunID         string `json:"run_id"`
	SourcePersona string `json:"source_persona"`
	Marker        string `json:"marker"`
	IsBase        bool   `json:"is_base"`
	Imported      bool   `json:"imported"`
	OriginFile    string `json:"origin_file"`
	// OriginSHA256 is the SHA-256 of the origin file the run was imported
	// from: the one its run_finished names when the import completed (it
	// may have completed a failed import of an older version), else the
	// one its run_started names.
	OriginSHA256 string `json:"origin_sha256"`
	// Finished is false while no run_finished event exists (running, or an
	// import or worker that died; its numbers may be partial).
	Finished    bool  `json:"finished"`
	Completions int64 `json:"completions"`
	Cells       int64 `json:"cells"`
	CosinePairs int64 `json:"cosine_pairs"`
	// MatrixCells counts the run's cells in the leakage matrix: the
	// bystanders it has completions for plus its imported cells.
	MatrixCells int64 `json:"matrix_cells"`
	// Synthetic is true when the run's configuration names the replay
	// engine (engine.engine_version "replay"): its completions come from
	// the replay engine's synthetic leakage model, not from a model.
	Synthetic bool `json:"synthetic,omitempty"`
	// StartedAt is the run_started event's time (for imports: the import
	// time; origin files carry no dates).
	StartedAt time.Time      `json:"started_at"`
	Sweep     string         `json:"sweep,omitempty"`
	Seed      *int64         `json:"seed,omitempty"`
	Factors   events.Factors `json:"factors,omitempty"`
	Tags      []string       `json:"tags,omitempty"`
	// Retracted runs leave every estimand, figure, notebook and live view;
	// RetractReason says why.
	Retracted     bool   `json:"retracted,omitempty"`
	RetractReason string `json:"retract_reason,omitempty"`
}

const runsSQL = `
WITH c AS (SELECT experiment, run_id, count(*) n, count(DISTINCT persona) np FROM completions GROUP BY ALL),
     a AS (SELECT experiment, run_id, count(*) n FROM cells WHERE question = '' GROUP BY ALL),
     k AS (SELECT experiment, run_id, count(*) n FROM cosines GROUP BY ALL),
     f AS (SELECT experiment, run_id, max(origin_sha256) sha FROM run_finished GROUP BY ALL)
SELECT r.experiment, r.run_id, r.source_persona, r.marker, r.is_base, r.imported, r.origin_file,
       coalesce(c.n, 0), coalesce(a.n, 0), coalesce(k.n, 0), coalesce(nullif(f.sha, ''), r.origin_sha256), f.run_id IS NOT NULL, r.event_time,
       coalesce(c.np, 0) + coalesce(a.n, 0),
       coalesce(try(json_extract_string(r.config_json, '$.engine.engine_version')) = 'replay', false)
FROM runs r
LEFT JOIN c USING (experiment, run_id) LEFT JOIN a USING (experiment, run_id) LEFT JOIN k USING (experiment, run_id)
LEFT JOIN f USING (experiment, run_id)
WHERE $1 = '' OR r.experiment = $1
ORDER BY r.experiment, r.run_id`

// Runs lists runs (of one experiment, or all when experiment is "").
func (e *Engine) Runs(ctx context.Context, experiment string) ([]RunSummary, error) {
	res, err := e.DB.Query(ctx, runsSQL, experiment)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out := make([]RunSummary, 0, len(res.Rows))
	designs := map[string]map[string]runInfo{}
	for _, r := range res.Rows {
		rs := RunSummary{Experiment: str(r[0]), RunID: str(r[1]), SourcePersona: str(r[2]), Marker: str(r[3]),
			IsBase: r[4] == true, Imported: r[5] == true, OriginFile: str(r[6]), Completions: i64(r[7]), Cells: i64(r[8]), CosinePairs: i64(r[9]),
			OriginSHA256: str(r[10]), Finished: r[11] == true, MatrixCells: i64(r[13]), Synthetic: r[14] == true}
		if t, ok := r[12].(time.Time); ok {
			rs.StartedAt = t.UTC()
		}
		d, ok := designs[rs.Experiment]
		if !ok {
			if d, err = e.runInfos(ctx, rs.Experiment); err != nil {
				return nil, err
			}
			designs[rs.Experiment] = d
		}
		ri := d[rs.RunID]
		rs.Sweep, rs.Seed, rs.Factors, rs.Tags, rs.Retracted, rs.RetractReason = ri.sweep, ri.seed, ri.factors, ri.tags, ri.retracted, ri.retractReason
		out = append(out, rs)
	}
	return out, nil
}

// RunState is what the run marks of one run say now.
type RunState struct {
	Retracted bool
	Reason    string
	Tags      []string
}

// RunStates returns every run of the experiment with its current marks
// (ErrUnknownExperiment when it has none).
func (e *Engine) RunStates(ctx context.Context, experiment string) (map[string]RunState, error) {
	runs, err := e.runInfos(ctx, experiment)
	if err != nil {
		return nil, err
	}
	out := make(map[string]RunState, len(runs))
	for id, r := range runs {
		out[id] = RunState{Retracted: r.retracted, Reason: r.retractReason, Tags: r.tags}
	}
	return out, nil
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func i64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

func f64p(v any) *float64 {
	if f, ok := v.(float64); ok {
		return &f
	}
	return nil
}

func boolp(v any) *bool {
	if b, ok := v.(bool); ok {
		return &b
	}
	return nil
}
