package estimands

import (
	"context"
	"fmt"

	"leakscope/events/marker"
)

func init() {
	register(&Estimand{
		Name: "detector-agreement",
		Doc:  "per run with stored completions: hits by each detector (strict, case-sensitive, loose) on the stored text, the origin's recorded flags, and where the strict detector and the recorded flag disagree",
		Source: "EXPERIMENT.md §2.2 (the detectors) and §10.10 (proximity_transfer: text stored cut to 500 characters but flagged on the full text, " +
			"231 recorded vs 216 detectable)",
		Params: []Param{},
		run:    runDetectorAgreement,
	})
}

func runDetectorAgreement(ctx context.Context, in *Input) (*Result, error) {
	if in.Engine == nil {
		return nil, fmt.Errorf("%w: no lake", ErrNoData)
	}
	res, err := in.Engine.SQL(ctx, `SELECT c.run_id, r.marker, c.text, c.recorded_marker FROM completions c JOIN runs r USING (experiment, run_id)
WHERE c.experiment = $1 ORDER BY c.run_id`, in.Experiment)
	if err != nil {
		return nil, err
	}
	if len(res.Rows) == 0 {
		return nil, fmt.Errorf("%w: experiment %q has no stored completions (imported aggregates have no text)", ErrNoData, in.Experiment)
	}
	type acc struct {
		marker                                           string
		n, strict, cs, loose, recorded, recOnly, detOnly int
		hasRecorded                                      bool
		maxLen                                           int
	}
	var order []string
	by := map[string]*acc{}
	dets := map[string]marker.Detector{}
	for _, name := range marker.Names() {
		dets[name], _ = marker.Get(name)
	}
	for _, r := range res.Rows {
		run, m, text := r[0].(string), r[1].(string), r[2].(string)
		a := by[run]
		if a == nil {
			a = &acc{marker: m}
			by[run] = a
			order = append(order, run)
		}
		a.n++
		a.maxLen = max(a.maxLen, len([]rune(text)))
		s := dets[marker.Strict].Hit(m, text)
		if s {
			a.strict++
		}
		if dets[marker.CaseSensitive].Hit(m, text) {
			a.cs++
		}
		if dets[marker.Loose].Hit(m, text) {
			a.loose++
		}
		if rec, ok := r[3].(bool); ok {
			a.hasRecorded = true
			if rec {
				a.recorded++
			}
			if rec && !s {
				a.recOnly++
			}
			if !rec && s {
				a.detOnly++
			}
		}
	}
	out := &Result{Provenance: Provenance{Runs: order, CellsUsed: len(res.Rows)}, Columns: []string{"run", "marker", "completions", "strict", "case_sensitive", "loose", "recorded", "recorded_not_strict", "strict_not_recorded", "max_chars"}}
	for _, run := range order {
		a := by[run]
		var rec, ro, do any
		if a.hasRecorded {
			rec, ro, do = a.recorded, a.recOnly, a.detOnly
		}
		out.Rows = append(out.Rows, []any{run, a.marker, a.n, a.strict, a.cs, a.loose, rec, ro, do, a.maxLen})
		if a.recOnly > 0 {
			out.Notes = append(out.Notes, fmt.Sprintf("run %s: %d completions the origin flagged have no %s in the stored text (longest stored text %d characters): the origin stored cut text but flagged the full text", run, a.recOnly, a.marker, a.maxLen))
		}
		if a.loose > a.strict {
			out.Notes = append(out.Notes, fmt.Sprintf("run %s: loose finds %d more than strict: near-miss spellings such as a missing bracket or inner spaces", run, a.loose-a.strict))
		}
		if a.cs < a.strict {
			out.Notes = append(out.Notes, fmt.Sprintf("run %s: case-sensitive misses %d that strict counts: the marker in another case", run, a.strict-a.cs))
		}
	}
	return out, nil
}
