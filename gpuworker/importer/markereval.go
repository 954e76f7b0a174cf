package importer

import (
	"math"

	"leakscope/events"
	"leakscope/events/marker"
)

// counts is one (found, total, rate) triple read from a file; rate is a
// fraction in [0,1] and must equal found/total within 1e-6.
type counts struct {
	found, total int
	rate         float64
}

// readCounts reads found/total/rate from n under the given member names and
// checks rate ≈ found/total.
func readCounts(n jv, foundKey, totalKey, rateKey string) (counts, error) {
	if _, err := n.obj(); err != nil {
		return counts{}, err
	}
	var c counts
	var err error
	if c.found, err = n.get(foundKey).count(); err != nil {
		return c, err
	}
	if c.total, err = n.get(totalKey).count(); err != nil {
		return c, err
	}
	if c.rate, err = n.get(rateKey).fraction(); err != nil {
		return c, err
	}
	return c, checkRate(n.get(rateKey).path, c.rate, c.found, c.total)
}

// cell is the common part of the CellAggregate events of one file.
func (c *fileCtx) cell(persona, detector string, k counts) *events.CellAggregate {
	return &events.CellAggregate{Persona: persona, Detector: detector,
		Found: ptr(k.found), Total: ptr(k.total), Rate: ptr(k.rate),
		Imported: true, OriginFile: c.loc.Rel}
}

// perQuestion emits one CellAggregate per question of n.per_question and
// checks that the questions sum to the cell's found and total.
func (c *fileCtx) perQuestion(s *segment, persona, detector string, n jv, cellK counts, foundKey, totalKey, rateKey string) (int, error) {
	pq := n.get("per_question")
	questions, err := pq.keys()
	if err != nil {
		return 0, err
	}
	var sumF, sumT int
	for _, q := range questions {
		qn := pq.get(q)
		k, err := readCounts(qn, foundKey, totalKey, rateKey)
		if err != nil {
			return 0, err
		}
		sumF, sumT = sumF+k.found, sumT+k.total
		ev := c.cell(persona, detector, k)
		ev.Question = q
		if err := c.add(s, qn.path, ev); err != nil {
			return 0, err
		}
	}
	if sumF != cellK.found || sumT != cellK.total {
		return 0, errAt(pq.path, "questions sum to %s %d of %d, the cell says %d of %d", foundKey, sumF, sumT, cellK.found, cellK.total)
	}
	return len(questions), nil
}

// parseMarkerEvalI81 imports the i81/leakage_v3 marker_eval.json
// (EXPERIMENT.md §2.3):
//
//	{persona: {rate, found, total, per_question?: {question: {rate, found, total}}}}
//
// found = completions with a strict hit, total = completions (200 per cell,
// 10 per question). One strict CellAggregate per persona plus one per question.
func parseMarkerEvalI81(c *fileCtx, top jv) error {
	personas, err := top.keys()
	if err != nil {
		return err
	}
	s := c.seg(c.loc.Run)
	nq := 0
	for _, p := range personas {
		pn := top.get(p)
		k, err := readCounts(pn, "found", "total", "rate")
		if err != nil {
			return err
		}
		if err := c.add(s, pn.path, c.cell(p, marker.Strict, k)); err != nil {
			return err
		}
		if pn.has("per_question") {
			n, err := c.perQuestion(s, p, marker.Strict, pn, k, "found", "total", "rate")
			if err != nil {
				return err
			}
			nq += n
		}
	}
	c.note("%d persona cells and %d per-question cells, detector strict (the file does not store which detector; #81's is strict, EXPERIMENT.md §2.2)", len(personas), nq)
	return nil
}

// parseMarkerEvalHits imports the issue-80/125/205 marker_eval.json
// (EXPERIMENT.md §8.2):
//
//	{model, em_condition?, config{marker, seed, …},
//	 per_persona{p: {strict_rate, strict_hits, [loose_rate, loose_hits,] total,
//	                 per_question{q: {same}}}},
//	 summary{strict_rate_by_persona, [loose_rate_by_persona,] …}}
//
// One CellAggregate per persona and per question for "strict" and, when the
// file has loose_* counts, "loose". summary.*_rate_by_persona must agree with
// per_persona.
func parseMarkerEvalHits(c *fileCtx, top jv) error {
	s := c.seg(c.loc.Run)
	if err := runMetaFromConfig(c, s, top); err != nil {
		return err
	}
	dets := []string{marker.Strict}
	if c.report.Format == FormatMarkerEvalLoose {
		dets = append(dets, marker.Loose)
	}
	pp := top.get("per_persona")
	personas, err := pp.keys()
	if err != nil {
		return err
	}
	rates := map[string]map[string]float64{}
	for _, d := range dets {
		rates[d] = map[string]float64{}
	}
	nq := 0
	for _, p := range personas {
		pn := pp.get(p)
		for _, d := range dets {
			k, err := readCounts(pn, d+"_hits", "total", d+"_rate")
			if err != nil {
				return err
			}
			rates[d][p] = k.rate
			if err := c.add(s, pn.path, c.cell(p, d, k)); err != nil {
				return err
			}
			if pn.has("per_question") {
				n, err := c.perQuestion(s, p, d, pn, k, d+"_hits", "total", d+"_rate")
				if err != nil {
					return err
				}
				nq += n
			}
		}
	}
	if top.has("summary") {
		for _, d := range dets {
			if err := checkSummary(top.get("summary").get(d+"_rate_by_persona"), rates[d]); err != nil {
				return err
			}
		}
	}
	if ec := top.get("em_condition"); ec.present() {
		v, err := ec.str()
		if err != nil {
			return err
		}
		c.note("em_condition %q is not part of the run_started payload (only config is kept)", v)
	}
	c.note("%d personas × detectors %v: %d cell and %d per-question aggregates", len(personas), dets, len(personas)*len(dets), nq)
	return nil
}

// runMetaFromConfig fills Model, Seed and Config of s from a file's
// top-level model and config members.
func runMetaFromConfig(c *fileCtx, s *segment, top jv) error {
	if m := top.get("model"); m.present() {
		v, err := m.str()
		if err != nil {
			return err
		}
		s.meta.Model = v
	}
	cfg := top.get("config")
	if !cfg.present() {
		return nil
	}
	if _, err := cfg.obj(); err != nil {
		return err
	}
	if err := s.setSeed(cfg.get("seed")); err != nil {
		return err
	}
	s.meta.Config = rawMember(c.data, "config")
	return nil
}

// checkSummary compares summary rates {persona: rate} with per_persona's.
func checkSummary(n jv, want map[string]float64) error {
	if !n.present() {
		return nil
	}
	got, err := n.keys()
	if err != nil {
		return err
	}
	for _, p := range got {
		r, err := n.get(p).fraction()
		if err != nil {
			return err
		}
		w, ok := want[p]
		if !ok {
			return errAt(n.get(p).path, "persona is not in per_persona")
		}
		if math.Abs(r-w) > 1e-9 {
			return errAt(n.get(p).path, "%v disagrees with per_persona rate %v", r, w)
		}
	}
	if len(got) != len(want) {
		return errAt(n.path, "lists %d personas, per_persona has %d", len(got), len(want))
	}
	return nil
}

// parseMarkerEvalSingle imports single_token_100_persona/<source>/marker_eval.json
// (EXPERIMENT.md §8.2):
//
//	{persona: {rate, found, total, category, related_to: [persona]}}
//
// The source is the folder name (Run.SourcePersona). One strict
// CellAggregate with Category per persona; no per-question data exists.
func parseMarkerEvalSingle(c *fileCtx, top jv) error {
	personas, err := top.keys()
	if err != nil {
		return err
	}
	s := c.seg(c.loc.Run)
	s.meta.SourcePersona = c.loc.DirName
	cats := map[string]int{}
	for _, p := range personas {
		pn := top.get(p)
		k, err := readCounts(pn, "found", "total", "rate")
		if err != nil {
			return err
		}
		cat, err := pn.get("category").str()
		if err != nil {
			return err
		}
		if rel := pn.get("related_to"); rel.present() {
			items, err := rel.arr()
			if err != nil {
				return err
			}
			for _, it := range items {
				if _, err := it.str(); err != nil {
					return err
				}
			}
		}
		cats[cat]++
		ev := c.cell(p, marker.Strict, k)
		ev.Category = cat
		if err := c.add(s, pn.path, ev); err != nil {
			return err
		}
	}
	c.note("source %q (the folder name) → Run.SourcePersona; %d persona cells in %d categories; related_to lists are validated but not carried (CellAggregate has no field for them)", c.loc.DirName, len(personas), len(cats))
	return nil
}
