package query

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"leakscope/events"
	"leakscope/events/marker"
)

// ErrNotFound is wrapped by errors naming a run or bystander the
// experiment does not hold.
var ErrNotFound = errors.New("query: not found")

// Filters of SamplesRequest.Hits.
const (
	HitsAll    = ""       // every completion of the cell
	HitsOnly   = "only"   // completions the detector counts as hits
	HitsMisses = "misses" // completions it does not
)

// DefaultSamplesLimit and MaxSamplesLimit bound one page of samples.
const (
	DefaultSamplesLimit = 50
	MaxSamplesLimit     = 1000
)

// MaxSamplesBytes bounds the texts of one page of samples: a page ends
// early past it (a note says so), at least one text long. A text may be
// 8 MiB (the bus's payload), so 1,000 of them were 8 GB in one answer.
var MaxSamplesBytes = 32 << 20

// SamplesRequest selects the completions of one cell (run × bystander).
type SamplesRequest struct {
	Experiment string `json:"experiment"`
	Run        string `json:"run"`
	Bystander  string `json:"bystander"`
	// Detector counts hits as in LeakageRequest (strict by default;
	// recorded: the origin's flag).
	Detector string `json:"detector"`
	// Marker overrides the run's marker ("" = the run's).
	Marker string `json:"marker,omitempty"`
	// Hits is HitsAll, HitsOnly or HitsMisses.
	Hits string `json:"hits,omitempty"`
	// Limit (1…MaxSamplesLimit; 0 = DefaultSamplesLimit) and Offset page the list.
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// Sample is one completion of the cell, with where each detector fires.
type Sample struct {
	Question         string `json:"question"`
	QuestionSet      string `json:"question_set,omitempty"`
	SampleIndex      int64  `json:"sample_index"`
	Text             string `json:"text"`
	FinishReason     string `json:"finish_reason,omitempty"`
	PromptTokens     *int64 `json:"prompt_tokens,omitempty"`
	CompletionTokens *int64 `json:"completion_tokens,omitempty"`
	// RecordedMarker is the origin's stored flag (nil when it had none).
	RecordedMarker *bool `json:"recorded_marker"`
	// Hit is whether the request's detector counts the completion.
	Hit bool `json:"hit"`
	// Spans are each detector's hits in Text, as UTF-8 byte ranges
	// (strict, case-sensitive, loose; nil where it finds none).
	Spans map[string][]marker.Span `json:"spans"`
	// Judgements are the judge verdicts (coherence_score events, attempt 0).
	Judgements []Judgement `json:"judgements,omitempty"`
}

// Judgement is one judge's verdict on a completion: Score in [0,1], or
// Failed with a Reason.
type Judgement struct {
	Judge        string   `json:"judge"`
	JudgeVersion int64    `json:"judge_version"`
	Score        *float64 `json:"score"`
	Failed       bool     `json:"failed,omitempty"`
	Reason       string   `json:"reason,omitempty"`
}

// Samples is one page of a cell's completions with the cell's counts.
type Samples struct {
	Request SamplesRequest `json:"request"`
	Marker  string         `json:"marker"`
	// DetectorRule says what counted as a hit (as Leakage.DetectorRule).
	DetectorRule string `json:"detector_rule"`
	// Total and Found count the cell's stored completions (recorded: those
	// with a flag, and the flagged ones): the leakage matrix's found/total
	// for a cell counted from completions. Matching counts those the Hits
	// filter keeps, which Samples pages through.
	Total    int64    `json:"total"`
	Found    int64    `json:"found"`
	Matching int64    `json:"matching"`
	Samples  []Sample `json:"samples"`
	// Cell is the cell as the leakage matrix shows it (nil when the matrix
	// has none for it, e.g. a detector its imported aggregate cannot answer).
	Cell  *Cell    `json:"cell"`
	Notes []string `json:"notes"`
}

// Samples lists the completions of one cell, with each detector's hits
// computed by the detector code (events/marker) on the stored text. Errors:
// ErrUnknownExperiment; ErrNotFound for a run the experiment lacks or a
// bystander with neither completions nor a cell in the run; ErrBadRequest
// (or marker.ErrUnknownDetector) for bad parameters.
func (e *Engine) Samples(ctx context.Context, req SamplesRequest) (*Samples, error) {
	if req.Detector == "" {
		req.Detector = marker.Strict
	}
	switch {
	case req.Experiment == "":
		return nil, fmt.Errorf("%w: experiment is required", ErrBadRequest)
	case req.Run == "":
		return nil, fmt.Errorf("%w: run is required", ErrBadRequest)
	case req.Bystander == "":
		return nil, fmt.Errorf("%w: bystander is required", ErrBadRequest)
	case req.Hits != HitsAll && req.Hits != HitsOnly && req.Hits != HitsMisses:
		return nil, fmt.Errorf("%w: hits=%q: want only or misses (or nothing for all)", ErrBadRequest, req.Hits)
	case req.Limit < 0 || req.Limit > MaxSamplesLimit:
		return nil, fmt.Errorf("%w: limit=%d: want 1 to %d", ErrBadRequest, req.Limit, MaxSamplesLimit)
	case req.Offset < 0:
		return nil, fmt.Errorf("%w: offset=%d: want 0 or more", ErrBadRequest, req.Offset)
	}
	if req.Limit == 0 {
		req.Limit = DefaultSamplesLimit
	}
	if req.Marker != "" {
		if err := events.CheckMarker(req.Marker); err != nil {
			return nil, fmt.Errorf("%w: marker %v", ErrBadRequest, err)
		}
		if req.Detector == marker.Recorded {
			return nil, fmt.Errorf("%w: a marker cannot be chosen with detector %q: the recorded flag was computed by the origin for its own marker", ErrBadRequest, marker.Recorded)
		}
	}
	out := &Samples{Request: req, Samples: []Sample{}, Notes: []string{}}
	var det marker.Detector
	if req.Detector == marker.Recorded {
		out.DetectorRule = "recorded: the marker flag stored in the origin data"
	} else {
		var err error
		if det, err = marker.Get(req.Detector); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		out.DetectorRule = fmt.Sprintf("%s v%d: %s", det.Name, det.Version, det.Rule)
	}
	runs, err := e.runInfos(ctx, req.Experiment)
	if err != nil {
		return nil, err
	}
	run, ok := runs[req.Run]
	if !ok {
		return nil, fmt.Errorf("%w: run %q is not in experiment %q (see /api/runs?experiment=%s)", ErrNotFound, req.Run, req.Experiment, req.Experiment)
	}
	out.Marker = run.marker
	if req.Marker != "" {
		out.Marker = req.Marker
	}
	if out.Cell, err = e.matrixCell(ctx, req); err != nil {
		return nil, err
	}

	// The hit predicate is the leakage matrix's (query/leakage.go), so the
	// counts here are its counts.
	hit, counted := "coalesce(recorded_marker, false)", "recorded_marker IS NOT NULL"
	args := []any{req.Experiment, req.Run, req.Bystander}
	if req.Detector != marker.Recorded {
		hit, counted = "regexp_matches(text, $4)", "true"
		args = append(args, det.Pattern(out.Marker))
	}
	res, err := e.DB.Query(ctx, fmt.Sprintf(`SELECT count(*) FILTER (WHERE %s), count(*) FILTER (WHERE %s AND %s), count(*)
FROM completions WHERE experiment = $1 AND run_id = $2 AND persona = $3`, counted, counted, hit), args...)
	if err != nil {
		return nil, fmt.Errorf("count the cell's completions: %w", err)
	}
	out.Total, out.Found = i64(res.Rows[0][0]), i64(res.Rows[0][1])
	stored := i64(res.Rows[0][2])
	if stored == 0 {
		if out.Cell == nil {
			return nil, fmt.Errorf("%w: bystander %q has no completions and no cell in run %q of experiment %q", ErrNotFound, req.Bystander, req.Run, req.Experiment)
		}
		out.Notes = append(out.Notes, fmt.Sprintf("this cell is an aggregate imported from %s: the origin gave counts, not completions, so there are no texts to read", originOf(out.Cell)))
		return out, nil
	}
	if stored > out.Total {
		out.Notes = append(out.Notes, fmt.Sprintf("%d of the %d completions carry no recorded flag: the recorded detector counts only the others", stored-out.Total, stored))
	}
	filter := ""
	switch req.Hits {
	case HitsOnly:
		filter = fmt.Sprintf("AND %s AND %s", counted, hit)
	case HitsMisses:
		filter = fmt.Sprintf("AND %s AND NOT (%s)", counted, hit)
	}
	// The page ends early once its texts pass MaxSamplesBytes (the first
	// text always comes): lengths are read first, texts only of the rows
	// kept, so 1,000 texts of 8 MiB are never read at once.
	res, err = e.DB.Query(ctx, fmt.Sprintf(`WITH page AS (
  SELECT count(*) OVER () AS matching, event_id, strlen(text) AS n,
         row_number() OVER (ORDER BY question_set, question, sample_index, event_id) AS rn
  FROM completions WHERE experiment = $1 AND run_id = $2 AND persona = $3 %[3]s
  ORDER BY rn LIMIT %[4]d OFFSET %[5]d
), kept AS (
  SELECT * FROM (SELECT *, coalesce(sum(n) OVER (ORDER BY rn ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before FROM page)
  WHERE before < %[6]d
)
SELECT k.matching, c.question, c.question_set, c.sample_index, c.text, c.finish_reason,
       c.prompt_tokens, c.completion_tokens, c.recorded_marker, %[1]s AND %[2]s, (SELECT count(*) FROM page)
FROM kept k JOIN completions c ON c.event_id = k.event_id
WHERE c.experiment = $1 AND c.run_id = $2 AND c.persona = $3
ORDER BY k.rn`, counted, hit, filter, req.Limit, req.Offset, MaxSamplesBytes), args...)
	if err != nil {
		return nil, fmt.Errorf("read the cell's completions: %w", err)
	}
	if len(res.Rows) > 0 {
		if onPage := i64(res.Rows[0][10]); onPage > int64(len(res.Rows)) {
			out.Notes = append(out.Notes, fmt.Sprintf("this page ends after %d of %d completions: their texts pass %d MiB; the next page goes on from there",
				len(res.Rows), onPage, MaxSamplesBytes>>20))
		}
	}
	detectors := marker.Names()
	for _, r := range res.Rows {
		out.Matching = i64(r[0])
		s := Sample{Question: str(r[1]), QuestionSet: str(r[2]), SampleIndex: i64(r[3]), Text: str(r[4]), FinishReason: str(r[5]),
			PromptTokens: i64p(r[6]), CompletionTokens: i64p(r[7]), RecordedMarker: boolp(r[8]), Hit: r[9] == true,
			Spans: map[string][]marker.Span{}}
		for _, name := range detectors {
			d, _ := marker.Get(name)
			s.Spans[name] = d.Spans(out.Marker, s.Text)
		}
		out.Samples = append(out.Samples, s)
	}
	if len(res.Rows) == 0 {
		// An offset past the end still says how many match.
		c, err := e.DB.Query(ctx, fmt.Sprintf(`SELECT count(*) FROM completions WHERE experiment = $1 AND run_id = $2 AND persona = $3 %s`, filter), args...)
		if err != nil {
			return nil, fmt.Errorf("count the cell's completions: %w", err)
		}
		out.Matching = i64(c.Rows[0][0])
	}
	if err := e.addJudgements(ctx, req, out.Samples); err != nil {
		return nil, err
	}
	return out, nil
}

// matrixCell is the cell as the leakage matrix shows it for the request's
// detector and marker (base and retracted runs included), or nil.
func (e *Engine) matrixCell(ctx context.Context, req SamplesRequest) (*Cell, error) {
	lk, err := e.Leakage(ctx, LeakageRequest{Experiment: req.Experiment, Detector: req.Detector, Marker: req.Marker,
		IncludeBase: true, Scope: Scope{Runs: []string{req.Run}, IncludeRetracted: true}})
	if err != nil {
		return nil, err
	}
	for i := range lk.Cells {
		if lk.Cells[i].Persona == req.Bystander {
			return &lk.Cells[i], nil
		}
	}
	return nil, nil
}

func originOf(c *Cell) string {
	if c.Origin == OriginImported {
		return "the origin file"
	}
	return c.Origin
}

// addJudgements attaches the judge verdicts (attempt 0) of the listed
// completions, matched on the completion's natural key.
func (e *Engine) addJudgements(ctx context.Context, req SamplesRequest, samples []Sample) error {
	if len(samples) == 0 {
		return nil
	}
	res, err := e.DB.Query(ctx, `SELECT question, question_set, sample_index, judge, judge_version, score, failed, reason
FROM coherence WHERE experiment = $1 AND run_id = $2 AND persona = $3 AND attempt = 0
ORDER BY judge, judge_version`, req.Experiment, req.Run, req.Bystander)
	if err != nil {
		return fmt.Errorf("read judge scores: %w", err)
	}
	type key struct {
		q, set string
		i      int64
	}
	idx := map[key]int{}
	for i, s := range samples {
		idx[key{s.Question, s.QuestionSet, s.SampleIndex}] = i
	}
	for _, r := range res.Rows {
		i, ok := idx[key{str(r[0]), str(r[1]), i64(r[2])}]
		if !ok {
			continue
		}
		samples[i].Judgements = append(samples[i].Judgements, Judgement{Judge: str(r[3]), JudgeVersion: i64(r[4]), Score: f64p(r[5]),
			Failed: r[6] == true, Reason: str(r[7])})
	}
	for i := range samples {
		sort.SliceStable(samples[i].Judgements, func(a, b int) bool { return samples[i].Judgements[a].Judge < samples[i].Judgements[b].Judge })
	}
	return nil
}

func i64p(v any) *int64 {
	if v == nil {
		return nil
	}
	n := i64(v)
	return &n
}
