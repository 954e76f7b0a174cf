package query

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"leakscope/events"
	"leakscope/events/marker"
	"leakscope/query/duck"
	"leakscope/query/stats"
)

// Origins of a cell's numbers.
const (
	OriginCompletions = "completions" // recomputed from stored completion text (or recorded flags)
	OriginImported    = "imported"    // an aggregate as counted by the origin file
)

// LeakageRequest selects the matrix and how hits are counted.
type LeakageRequest struct {
	Experiment string `json:"experiment"`
	// Detector is strict (default), case-sensitive, loose, or recorded (the
	// origin's stored flag). It is applied to the stored text: at query time,
	// or — for each run's own marker and the current detector versions — by
	// ingest when it wrote the text (the per-file cell_counts summaries; the
	// same detector code, so the same counts without reading the texts).
	Detector string `json:"detector"`
	// ScanTexts reads the completion texts even where summaries would answer.
	ScanTexts bool `json:"scan_texts,omitempty"`
	// Marker overrides every run's own marker ("" = each run's).
	Marker string `json:"marker,omitempty"`
	// Run restricts to one run ("" = all).
	Run string `json:"run,omitempty"`
	// IncludeBase keeps base-model runs as rows (they are always used for
	// base subtraction).
	IncludeBase bool `json:"include_base,omitempty"`
	// Scope selects runs and cells (sweeps, runs, seeds, sources, factor
	// filters); retracted runs are left out unless Scope.IncludeRetracted.
	Scope Scope `json:"scope,omitempty"`
}

// Cell is one (run, bystander) entry of the leakage matrix. Rates are
// fractions in [0,1]; CIs are 95 % Wilson intervals (stats.Wilson, z=1.96)
// on found/total.
type Cell struct {
	RunID         string   `json:"run_id"`
	SourcePersona string   `json:"source_persona"`
	Persona       string   `json:"persona"`
	PersonaPrompt string   `json:"persona_prompt,omitempty"`
	Category      string   `json:"category,omitempty"`
	Origin        string   `json:"origin"`
	Detector      string   `json:"detector"`
	Marker        string   `json:"marker"`
	Found         *int64   `json:"found"`
	Total         *int64   `json:"total"`
	Rate          *float64 `json:"rate"`
	CILow         *float64 `json:"ci_low"`
	CIHigh        *float64 `json:"ci_high"`
	BaseRun       string   `json:"base_run,omitempty"`
	BaseRate      *float64 `json:"base_rate,omitempty"`
	RateMinusBase *float64 `json:"rate_minus_base,omitempty"`
	// RecordedFound counts the origin's stored flags beside the detector's count.
	RecordedFound *int64 `json:"recorded_found,omitempty"`
	// ImportedFound is the origin's own aggregate for the same cell and detector.
	ImportedFound *int64   `json:"imported_found,omitempty"`
	CoherenceMean *float64 `json:"coherence_mean,omitempty"`
	LowCoherence  *bool    `json:"low_coherence,omitempty"`
	Missing       bool     `json:"missing,omitempty"`
	MissingReason string   `json:"missing_reason,omitempty"`
	// Interval names how CILow/CIHigh were computed: IntervalWilson, or —
	// for a cell of an adaptive run, whose n was chosen by peeking —
	// events.MethodBetaBinomial, the run's anytime-valid sequence at its n.
	Interval string `json:"interval,omitempty"`
	// StopReason is why a cell of an adaptive run stopped at its n
	// (events.StopHalfWidth, StopBelow, StopAbove, StopMaxN, StopNoDecision),
	// from its run_finished; empty for fixed-n cells and unfinished runs.
	StopReason string `json:"stop_reason,omitempty"`
	// Seed and Sweep are the run's; RunFactors its design factors (lr,
	// epochs, …); Factors the bystander's (any the experiment declares, and
	// category: from the origin's factors and category, and the run's plan).
	Seed       *int64         `json:"seed,omitempty"`
	Sweep      string         `json:"sweep,omitempty"`
	RunFactors events.Factors `json:"run_factors,omitempty"`
	Factors    events.Factors `json:"factors,omitempty"`
	// RateOnly marks a cell whose origin gave a rate without a count:
	// Found, Total and the interval are null, and estimands that need counts
	// refuse it. TotalOrigin says where a count not listed per cell came from.
	RateOnly    bool   `json:"rate_only,omitempty"`
	TotalOrigin string `json:"total_origin,omitempty"`
}

// IntervalWilson marks a fixed-n cell's 95 % Wilson interval.
const IntervalWilson = "wilson"

// Leakage is the matrix with the notes a reader needs to trust it.
type Leakage struct {
	Request LeakageRequest `json:"request"`
	// DetectorRule says what counted as a hit.
	DetectorRule string   `json:"detector_rule"`
	Cells        []Cell   `json:"cells"`
	Notes        []string `json:"notes"`
	// CountedFrom says how the completion cells were counted:
	// CountedFromSummaries or CountedFromTexts (same numbers, see Detector).
	CountedFrom string `json:"counted_from,omitempty"`
}

// How the completion cells of a leakage matrix were counted.
const (
	CountedFromSummaries = "cell_counts summaries"
	CountedFromTexts     = "completion texts"
)

type runInfo struct {
	id, source, marker, baseRun string
	isBase, finished            bool
	sweep                       string
	seed                        *int64
	factors                     events.Factors
	planFactors                 map[string]events.Factors // persona → factors declared in the run's plan
	marks                                                 // retraction and tags, from run_marks
	// stopping is an adaptive run's rule (issue 11), nil for fixed n;
	// stopped its cells' stop reasons once the run finished.
	stopping *events.StoppingRule
	stopped  map[string]string
}

type cellKey struct{ run, persona string }

// Leakage computes the source × bystander matrix of one experiment.
// Completion-level data wins over imported aggregates for the same cell;
// both are kept side by side (ImportedFound, RecordedFound) so a
// disagreement is visible, and explained in Notes.
func (e *Engine) Leakage(ctx context.Context, req LeakageRequest) (*Leakage, error) {
	if req.Detector == "" {
		req.Detector = marker.Strict
	}
	out := &Leakage{Request: req, Cells: []Cell{}, Notes: []string{}}
	if req.Marker != "" {
		if err := events.CheckMarker(req.Marker); err != nil {
			return nil, fmt.Errorf("%w: marker %v", ErrBadRequest, err)
		}
		if req.Detector == marker.Recorded {
			return nil, fmt.Errorf("%w: a marker cannot be chosen with detector %q: the recorded flag was computed by the origin for its own marker", ErrBadRequest, marker.Recorded)
		}
	}
	var det marker.Detector
	if req.Detector == marker.Recorded {
		out.DetectorRule = "recorded: the marker flag stored in the origin data (completions); the origin's own count (imported aggregates)"
	} else {
		var err error
		if det, err = marker.Get(req.Detector); err != nil {
			return nil, err
		}
		out.DetectorRule = fmt.Sprintf("%s v%d: %s", det.Name, det.Version, det.Rule)
	}
	runs, err := e.runInfos(ctx, req.Experiment)
	if err != nil {
		return nil, err
	}
	cells := map[cellKey]*Cell{}
	if err := e.completionCells(ctx, req, det, runs, cells, out); err != nil {
		return nil, err
	}
	if err := e.importedCells(ctx, req, runs, cells, out); err != nil {
		return nil, err
	}
	for _, c := range cells {
		finishCell(c, runs, cells)
		describeCell(c, runs[c.RunID])
	}
	if err := checkScope(req, runs); err != nil {
		return nil, err
	}
	left := map[string]string{}
	picked := make([]*Cell, 0, len(cells))
	for _, c := range cells {
		run := runs[c.RunID]
		keep, why := req.Scope.keepRun(run)
		if why != "" {
			left[run.id] = run.retractReason
		}
		if keep && req.Scope.keepCell(run, c) && (req.Run == "" || c.RunID == req.Run) && (req.IncludeBase || !run.isBase) {
			picked = append(picked, c)
		}
	}
	out.Notes = append(out.Notes, retractedNotes(left)...)
	// Sorting pointers: a Cell is large, and 65,000 of them are a 100× sweep.
	slices.SortFunc(picked, func(a, b *Cell) int {
		return cmp.Or(cmp.Compare(a.RunID, b.RunID), cmp.Compare(a.Persona, b.Persona))
	})
	for _, c := range picked {
		out.Cells = append(out.Cells, *c)
	}
	adaptive := 0
	for _, c := range out.Cells {
		if c.Interval == events.MethodBetaBinomial {
			adaptive++
		}
	}
	if adaptive > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("%d cells come from adaptive runs: each stopped at its own n, so their intervals are the run's anytime-valid 95%% confidence sequence (%s, Howard et al. 2021), not Wilson; their rates hits/n carry a small optional-stopping bias; stop reasons: half_width = the sequence was within the rule's ±half-width, above/below = it lay entirely above/below the rule's threshold, max_n = it reached the most samples undecided, no_decision = no live aggregator decided (docs/ADAPTIVE.md)", adaptive, events.MethodBetaBinomial))
	}
	var unfinished []string
	for id, r := range runs {
		if keep, _ := req.Scope.keepRun(r); keep && !r.finished && (req.Run == "" || req.Run == id) {
			unfinished = append(unfinished, id)
		}
	}
	sort.Strings(unfinished)
	for _, id := range unfinished {
		out.Notes = append(out.Notes, fmt.Sprintf("run %s has no run_finished event: it is still running, or its worker or import died — its counts may be partial (re-run the import to complete it)", id))
	}
	missing := 0
	for _, c := range out.Cells {
		if c.Missing {
			missing++
		}
	}
	if missing > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("%d cells are listed by their origin but were never measured (shown as missing, not as zero); e.g. %s", missing, firstMissingReason(out.Cells)))
	}
	if len(out.Cells) > 0 && !hasBase(runs) {
		out.Notes = append(out.Notes, NoBaseNote)
	}
	if r, ok := runs[req.Run]; ok && r.isBase && !req.IncludeBase {
		return nil, fmt.Errorf("%w: run %q is the base-model reference: pass --include-base (include_base=true) to list it", ErrBadRequest, req.Run)
	}
	if req.Run != "" && len(out.Cells) == 0 {
		return nil, fmt.Errorf("%w: run %q has no cells in experiment %q (see `leakscope runs --experiment %s`)", ErrBadRequest, req.Run, req.Experiment, req.Experiment)
	}
	return out, nil
}

// runInfos returns the experiment's runs, from the cache while the lake's
// files are unchanged. The map is shared: callers only read it.
func (e *Engine) runInfos(ctx context.Context, experiment string) (map[string]runInfo, error) {
	gen, err := e.DB.Generation(ctx)
	if err != nil {
		return nil, err
	}
	e.runsMu.Lock()
	c, ok := e.runsCache[experiment]
	e.runsMu.Unlock()
	if ok && c.gen == gen {
		return c.runs, nil
	}
	runs, err := e.readRunInfos(ctx, experiment)
	if err != nil {
		return nil, err
	}
	e.runsMu.Lock()
	if e.runsCache == nil {
		e.runsCache = map[string]cachedRuns{}
	}
	e.runsCache[experiment] = cachedRuns{gen, runs}
	e.runsMu.Unlock()
	return runs, nil
}

func (e *Engine) readRunInfos(ctx context.Context, experiment string) (map[string]runInfo, error) {
	res, err := e.DB.Query(ctx, `SELECT run_id, source_persona, marker, base_run, is_base,
  run_id IN (SELECT run_id FROM run_finished WHERE experiment = $1), stopping_json, sweep, seed, factors_json, plan_json
FROM runs WHERE experiment = $1`, experiment)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	if len(res.Rows) == 0 {
		return nil, e.unknownExperiment(ctx, experiment)
	}
	runs := map[string]runInfo{}
	for _, r := range res.Rows {
		ri := runInfo{id: str(r[0]), source: str(r[1]), marker: str(r[2]), baseRun: str(r[3]), isBase: r[4] == true, finished: r[5] == true,
			sweep: str(r[7])}
		if r[8] != nil {
			seed := i64(r[8])
			ri.seed = &seed
		}
		if err := readDesign(&ri, str(r[9]), str(r[10])); err != nil {
			return nil, err
		}
		if js := str(r[6]); js != "" {
			ri.stopping = &events.StoppingRule{}
			if err := json.Unmarshal([]byte(js), ri.stopping); err != nil {
				return nil, fmt.Errorf("run %s: stopping_json: %w", ri.id, err)
			}
		}
		runs[ri.id] = ri
	}
	if err := e.readMarks(ctx, experiment, runs); err != nil {
		return nil, err
	}
	res, err = e.DB.Query(ctx, `SELECT run_id, cells_json FROM run_finished WHERE experiment = $1 AND cells_json IS NOT NULL`, experiment)
	if err != nil {
		return nil, fmt.Errorf("read run_finished: %w", err)
	}
	for _, r := range res.Rows {
		ri, ok := runs[str(r[0])]
		if !ok {
			continue
		}
		var cells []events.CellOutcome
		if err := json.Unmarshal([]byte(str(r[1])), &cells); err != nil {
			return nil, fmt.Errorf("run %s: run_finished.cells_json: %w", ri.id, err)
		}
		ri.stopped = map[string]string{}
		for _, c := range cells {
			ri.stopped[c.Persona] = c.Reason
		}
		runs[ri.id] = ri
	}
	return runs, nil
}

// completionCells counts hits per (run, persona) from stored text.
func (e *Engine) completionCells(ctx context.Context, req LeakageRequest, det marker.Detector, runs map[string]runInfo, cells map[cellKey]*Cell, out *Leakage) error {
	markerOf := func(r runInfo) string {
		if req.Marker != "" {
			return req.Marker
		}
		return r.marker
	}
	hit, total := "coalesce(recorded_marker, false)", "count(recorded_marker)"
	if req.Detector != marker.Recorded {
		var cases []string
		for _, r := range runs {
			cases = append(cases, fmt.Sprintf("WHEN %s THEN regexp_matches(text, %s)", duck.Quote(r.id), duck.Quote(det.Pattern(markerOf(r)))))
		}
		sort.Strings(cases)
		hit, total = "CASE run_id "+strings.Join(cases, " ")+" ELSE false END", "count(*)"
	}
	res, err := e.summaryCounts(ctx, req, det, runs)
	if err != nil {
		return err
	}
	out.CountedFrom = CountedFromSummaries
	if res == nil {
		out.CountedFrom = CountedFromTexts
		q := fmt.Sprintf(`
SELECT run_id, persona, max(persona_prompt), %s AS total,
       count(*) FILTER (WHERE %s) AS found,
       count(*) FILTER (WHERE recorded_marker) AS recorded_found, count(recorded_marker) AS recorded_total,
       count(*) FILTER (WHERE recorded_marker AND NOT (%s)) AS recorded_only,
       count(*) FILTER (WHERE NOT recorded_marker AND (%s)) AS detected_only,
       max(length(text)) AS max_chars
FROM completions WHERE experiment = $1 GROUP BY run_id, persona`, total, hit, hit, hit)
		if res, err = e.DB.Query(ctx, q, req.Experiment); err != nil {
			return fmt.Errorf("count completion hits: %w", err)
		}
	}
	type disagreement struct{ recorded, detected, recOnly, detOnly int64 }
	dis := map[string]*disagreement{}
	for _, r := range res.Rows {
		run := runs[str(r[0])]
		n, found, recFound, recTotal := i64(r[3]), i64(r[4]), i64(r[5]), i64(r[6])
		c := &Cell{RunID: run.id, SourcePersona: run.source, Persona: str(r[1]), PersonaPrompt: str(r[2]), Origin: OriginCompletions,
			Detector: req.Detector, Marker: markerOf(run)}
		if n > 0 {
			c.Found, c.Total = &found, &n
		}
		if recTotal > 0 {
			c.RecordedFound = &recFound
			d := dis[run.id]
			if d == nil {
				d = &disagreement{}
				dis[run.id] = d
			}
			d.recorded += recFound
			d.detected += found
			d.recOnly += i64(r[7])
			d.detOnly += i64(r[8])
		}
		cells[cellKey{run.id, c.Persona}] = c
	}
	ids := make([]string, 0, len(dis))
	for id := range dis {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d := dis[id]
		if req.Detector == marker.Recorded || (d.recOnly == 0 && d.detOnly == 0) {
			continue
		}
		why, err := e.disagreementWhy(ctx, req.Experiment, id, markerOf(runs[id]), det, d.recorded, d.recOnly, d.detected, d.detOnly)
		if err != nil {
			return err
		}
		out.Notes = append(out.Notes, fmt.Sprintf("run %s: recorded flags count %d, %s on the stored text counts %d:%s rates above use %s; pass --detector recorded for the origin's flags",
			id, d.recorded, req.Detector, d.detected, why, req.Detector))
	}
	return nil
}

// importedCells adds the origin's aggregates (cell level, slices summed).
// An aggregate has no text to re-detect, so it answers only for the
// detector the origin counted with and the run's own marker; other requests
// leave it out and say so. With detector "recorded" the origin's own count
// stands in for completions that carry no recorded flag.
func (e *Engine) importedCells(ctx context.Context, req LeakageRequest, runs map[string]runInfo, cells map[cellKey]*Cell, out *Leakage) error {
	res, err := e.DB.Query(ctx, `
SELECT run_id, persona, detector, max(persona_prompt), max(category),
       sum(found)::BIGINT, sum(total)::BIGINT, bool_or(missing), max(missing_reason),
       CASE WHEN count(*) = 1 THEN max(coherence_mean) END, CASE WHEN count(*) = 1 THEN bool_or(low_coherence) END,
       max(factors_json), coalesce(bool_or(rate_only), false), CASE WHEN count(*) = 1 THEN max(rate) END, max(total_origin)
FROM cells WHERE experiment = $1 AND question = '' GROUP BY run_id, persona, detector
ORDER BY run_id, persona, detector <> 'strict', detector`, req.Experiment)
	if err != nil {
		return fmt.Errorf("read imported cells: %w", err)
	}
	left := map[string]map[string]bool{} // run → detectors the origin counted with, for cells left out
	done := map[cellKey]bool{}
	for _, r := range res.Rows {
		run := runs[str(r[0])]
		k, det := cellKey{run.id, str(r[1])}, str(r[2])
		if done[k] {
			continue
		}
		c, fromText := cells[k]
		textCounted := fromText && c.Found != nil
		usable := det == req.Detector || (req.Detector == marker.Recorded && !textCounted)
		if req.Marker != "" && req.Marker != run.marker {
			usable = false
		}
		if !usable {
			if !fromText {
				if left[run.id] == nil {
					left[run.id] = map[string]bool{}
				}
				left[run.id][det] = true
			}
			continue
		}
		done[k] = true
		if !fromText {
			c = &Cell{RunID: run.id, SourcePersona: run.source, Persona: k.persona, Origin: OriginImported, Detector: det, Marker: run.marker}
			cells[k] = c
		}
		if c.PersonaPrompt == "" {
			c.PersonaPrompt = str(r[3])
		}
		c.Category = str(r[4])
		c.CoherenceMean, c.LowCoherence = f64p(r[9]), boolp(r[10])
		if js := str(r[11]); js != "" {
			if err := json.Unmarshal([]byte(js), &c.Factors); err != nil {
				return fmt.Errorf("run %s persona %s: cells.factors_json: %w", run.id, k.persona, err)
			}
		}
		c.TotalOrigin = str(r[14])
		if r[12] == true && !fromText && r[7] != true {
			// A rate without a count: shown and compared, never given an interval.
			c.RateOnly, c.Rate, c.Origin, c.Detector = true, f64p(r[13]), OriginImported, det
			continue
		}
		found, total := r[5], r[6]
		switch {
		case r[7] == true && !fromText:
			c.Missing, c.MissingReason = true, str(r[8])
		case textCounted:
			if found != nil {
				f := i64(found)
				c.ImportedFound = &f
			}
		case found != nil && total != nil:
			f, n := i64(found), i64(total)
			c.Found, c.Total, c.Origin, c.Detector = &f, &n, OriginImported, det
		}
	}
	ids := make([]string, 0, len(left))
	for id := range left {
		if !anyCellOf(cells, id) { // a run some of whose cells answered is not "left out"
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		var dets []string
		for d := range left[id] {
			dets = append(dets, d)
		}
		sort.Strings(dets)
		out.Notes = append(out.Notes, fmt.Sprintf("run %s: its imported aggregates were counted by the origin with detector %s and marker %s; they have no text to re-count with detector %s%s, so they are left out",
			id, strings.Join(dets, "/"), runs[id].marker, req.Detector, markerClause(req.Marker)))
	}
	return nil
}

func anyCellOf(cells map[cellKey]*Cell, run string) bool {
	for k := range cells {
		if k.run == run {
			return true
		}
	}
	return false
}

func markerClause(m string) string {
	if m == "" {
		return ""
	}
	return " and marker " + m
}

// finishCell adds the rate, the interval (Wilson, or an adaptive run's
// confidence sequence) and base subtraction.
func finishCell(c *Cell, runs map[string]runInfo, cells map[cellKey]*Cell) {
	run := runs[c.RunID]
	if c.RateOnly {
		if b, ok := cells[cellKey{run.baseRun, c.Persona}]; run.baseRun != "" && ok && b.Rate != nil {
			d := *c.Rate - *b.Rate
			c.BaseRun, c.BaseRate, c.RateMinusBase = run.baseRun, b.Rate, &d
		}
		return
	}
	if c.Found != nil && c.Total != nil && *c.Total > 0 {
		r := float64(*c.Found) / float64(*c.Total)
		lo, hi, _ := stats.Wilson(int(*c.Found), int(*c.Total), stats.Z95)
		c.Interval = IntervalWilson
		if st := run.stopping; st != nil {
			// A Wilson interval at an n chosen by peeking undercovers.
			if l, h, err := stats.BetaBinomialCS(int(*c.Found), int(*c.Total), st.Alpha, st.PriorA, st.PriorB); err == nil {
				lo, hi, c.Interval = l, h, events.MethodBetaBinomial
			}
		}
		c.Rate, c.CILow, c.CIHigh = &r, &lo, &hi
		c.StopReason = run.stopped[c.Persona]
	}
	if run.baseRun == "" || c.Rate == nil {
		return
	}
	c.BaseRun = run.baseRun
	if b, ok := cells[cellKey{run.baseRun, c.Persona}]; ok && b.Found != nil && b.Total != nil && *b.Total > 0 {
		br := float64(*b.Found) / float64(*b.Total)
		d := *c.Rate - br
		c.BaseRate, c.RateMinusBase = &br, &d
	}
}

func firstMissingReason(cells []Cell) string {
	for _, c := range cells {
		if c.Missing {
			return c.RunID + " " + c.Persona + ": " + c.MissingReason
		}
	}
	return ""
}

// unknownExperiment is ErrUnknownExperiment naming the experiments the lake
// holds, so a mistyped or absent name (a README example on a lake without
// it) says what there is instead.
func (e *Engine) unknownExperiment(ctx context.Context, experiment string) error {
	have := "none yet: import results or run a sweep"
	if res, err := e.DB.Query(ctx, `SELECT string_agg(DISTINCT experiment, ', ' ORDER BY experiment) FROM runs`); err == nil && len(res.Rows) == 1 {
		if s := str(res.Rows[0][0]); s != "" {
			have = s
		}
	}
	return fmt.Errorf("%w %q; the lake holds: %s (leakscope runs)", ErrUnknownExperiment, experiment, have)
}

// NoBaseNote is the leakage matrix's note for an experiment without a
// base run (rate_minus_base is then left out of every cell).
const NoBaseNote = "no base run in this experiment: base-subtracted rates (rate_minus_base) are undefined"

// hasBase is true when a run is the base model's, or names one.
func hasBase(runs map[string]runInfo) bool {
	for _, r := range runs {
		if r.isBase || r.baseRun != "" {
			return true
		}
	}
	return false
}
