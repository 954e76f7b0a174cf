package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"leakscope/events"
	"leakscope/events/marker"
)

// totalOriginEval is CellAggregate.TotalOrigin for leakage_experiment cells.
const totalOriginEval = "eval.n_questions × eval.n_completions_per_question in run_result.json"

// rateOnlyDetector is the detector run_result.json rates are filed under:
// the files do not say which detector counted; the authors' scripts of that
// time used the strict substring test (EXPERIMENT.md §2.2).
const rateOnlyDetector = marker.Strict

// parseRunResultLeakage imports leakage_experiment/<condition>/run_result.json
// (EXPERIMENT.md §8.2), an older run-level format with rates only:
//
//	{experiment, condition, seed, base_model, training{…},
//	 data{source_persona, neg_set, prompt_length, control, …},
//	 eval{n_questions, n_completions_per_question, …},
//	 results{marker{source_rate, assistant_rate, all_personas{persona: rate}}, structure{…}, …},
//	 dynamics}
//
// One strict CellAggregate per persona of results.marker.all_personas. The
// file states the eval size, so Total = n_questions × n_completions_per_question
// (TotalOrigin says so) and Found = rate × Total when that is an integer
// within 1e-6; a cell whose rate does not give an integer count stays
// rate-only (no count, no interval). Without the eval size every cell is
// rate-only. Design factors: neg_set, prompt_length and condition (data.control,
// for the generic_sft and shuffled_persona controls) → Run.Factors;
// data.source_persona → Run.SourcePersona; seed → Run.Seed.
func parseRunResultLeakage(c *fileCtx, top jv) error {
	s := c.seg(c.loc.Run)
	if err := optStr(top.get("base_model"), &s.meta.Model); err != nil {
		return err
	}
	if err := s.setSeed(top.get("seed")); err != nil {
		return err
	}
	s.meta.Config = rawMembers(c.data, "training", "data", "eval")
	data := top.get("data")
	if _, err := data.obj(); err != nil {
		return err
	}
	if err := optStr(data.get("source_persona"), &s.meta.SourcePersona); err != nil {
		return err
	}
	f := events.Factors{}
	for _, k := range []struct{ key, factor string }{{"neg_set", "neg_set"}, {"prompt_length", "prompt_length"}, {"control", "condition"}} {
		var v string
		if err := optStr(data.get(k.key), &v); err != nil {
			return err
		}
		if v != "" {
			f[k.factor] = v
		}
	}
	if err := f.Validate("factors"); err != nil {
		return wrapAt(data.path, err)
	}
	if len(f) > 0 {
		s.meta.Factors = f
	}

	// The eval size, when stated.
	total, sizeWhy := 0, ""
	ev := top.get("eval")
	if ev.present() {
		if _, err := ev.obj(); err != nil {
			return err
		}
	}
	nq, nc := ev.get("n_questions"), ev.get("n_completions_per_question")
	switch {
	case nq.present() && nc.present():
		q, err := nq.count()
		if err != nil {
			return err
		}
		k, err := nc.count()
		if err != nil {
			return err
		}
		if q == 0 || k == 0 {
			return errAt(ev.path, "n_questions × n_completions_per_question = %d × %d is no eval", q, k)
		}
		total = q * k
	case nq.present() || nc.present():
		sizeWhy = "eval states only one of n_questions and n_completions_per_question"
	default:
		sizeWhy = "eval does not state n_questions and n_completions_per_question"
	}

	mk := top.get("results").get("marker")
	ap := mk.get("all_personas")
	personas, err := ap.keys()
	if err != nil {
		return err
	}
	rates := map[string]float64{}
	var rateOnly []string
	for _, p := range personas {
		pn := ap.get(p)
		r, err := pn.fraction()
		if err != nil {
			return err
		}
		rates[p] = r
		cell := &events.CellAggregate{Persona: p, Detector: rateOnlyDetector, Rate: ptr(r), Imported: true, OriginFile: c.loc.Rel}
		if found, ok := integerCount(r, total); total > 0 && ok {
			cell.Found, cell.Total, cell.TotalOrigin = ptr(found), ptr(total), totalOriginEval
		} else {
			cell.RateOnly = true
			if total > 0 {
				rateOnly = append(rateOnly, fmt.Sprintf("%s (%v × %d = %v)", p, r, total, r*float64(total)))
			}
		}
		if err := c.add(s, pn.path, cell); err != nil {
			return err
		}
	}
	// source_rate and assistant_rate repeat all_personas; they must agree.
	if err := checkRepeatedRate(mk.get("source_rate"), s.meta.SourcePersona, rates); err != nil {
		return err
	}
	if err := checkRepeatedRate(mk.get("assistant_rate"), "assistant", rates); err != nil {
		return err
	}
	switch {
	case total == 0:
		c.note("%d personas, rate-only cells (detector strict assumed): %s, so no count or interval can be derived", len(personas), sizeWhy)
	case len(rateOnly) > 0:
		c.note("%d personas, detector strict assumed; total %d per cell from %s; rate-only (rate × total is not an integer within 1e-6, so no count is derived): %s",
			len(personas), total, totalOriginEval, strings.Join(rateOnly, ", "))
	default:
		c.note("%d personas, detector strict assumed (the file does not say); found = rate × total, total %d per cell from %s", len(personas), total, totalOriginEval)
	}
	src := fmt.Sprintf("source persona %q from data.source_persona", s.meta.SourcePersona)
	if s.meta.SourcePersona == "" {
		src = "no source persona (data.source_persona is null or absent)"
	}
	c.note("run factors %s, %s, seed from $.seed; results.structure, capability, alignment and dynamics are not imported", factorList(s.meta.Factors), src)
	return nil
}

// sweepDirRe is the single_token_sweep folder name: lr<lr>_ep<epochs>.
var sweepDirRe = regexp.MustCompile(`^lr([0-9.eE+-]+)_ep([0-9]+)$`)

// parseRunResultSweep imports single_token_sweep/lr<lr>_ep<epochs>/run_result.json
// (EXPERIMENT.md §8.2):
//
//	{config{lr, epochs, source, seed[, marker_tail_tokens]}, loss,
//	 eval{marker{persona: rate}, structure{…}, capability{…}},
//	 source_marker, assistant_marker, max_bystander_marker, degeneration, success, …}
//
// No denominator appears anywhere in the file, so every cell is rate-only
// (strict, no count, no interval). Run factors: lr (canonical form
// strconv.FormatFloat(lr, 'e', -1, 64): "1e-04", "5e-06", as in the folder
// names; parse them as floats to order them), epochs, marker_tail_tokens
// when present and degeneration when present. config.source →
// Run.SourcePersona, config.seed → Run.Seed. source_marker, assistant_marker
// and max_bystander_marker must agree with eval.marker, and a folder named
// lr<lr>_ep<epochs> with config.
func parseRunResultSweep(c *fileCtx, top jv) error {
	s := c.seg(c.loc.Run)
	cfg := top.get("config")
	if _, err := cfg.obj(); err != nil {
		return err
	}
	s.meta.Config = rawMember(c.data, "config")
	lr, err := cfg.get("lr").num()
	if err != nil {
		return err
	}
	if math.IsNaN(lr) || lr <= 0 {
		return errAt(cfg.get("lr").path, "%v must be a positive learning rate", lr)
	}
	epochs, err := cfg.get("epochs").count()
	if err != nil {
		return err
	}
	if s.meta.SourcePersona, err = cfg.get("source").str(); err != nil {
		return err
	}
	if err := s.setSeed(cfg.get("seed")); err != nil {
		return err
	}
	f := events.Factors{"lr": CanonicalFloat(lr), "epochs": strconv.Itoa(epochs)}
	if n := cfg.get("marker_tail_tokens"); n.present() {
		v, err := n.count()
		if err != nil {
			return err
		}
		f["marker_tail_tokens"] = strconv.Itoa(v)
	}
	if n := top.get("degeneration"); n.present() {
		v, err := n.boolean()
		if err != nil {
			return err
		}
		f["degeneration"] = strconv.FormatBool(v)
	}
	s.meta.Factors = f
	if m := sweepDirRe.FindStringSubmatch(c.loc.DirName); m != nil {
		dirLR, err := strconv.ParseFloat(m[1], 64)
		if err == nil && math.Abs(dirLR-lr) > 1e-12*lr {
			return errAt(cfg.get("lr").path, "%v disagrees with the folder name %s", lr, c.loc.DirName)
		}
		if m[2] != strconv.Itoa(epochs) {
			return errAt(cfg.get("epochs").path, "%d disagrees with the folder name %s", epochs, c.loc.DirName)
		}
	}

	mk := top.get("eval").get("marker")
	personas, err := mk.keys()
	if err != nil {
		return err
	}
	rates := map[string]float64{}
	for _, p := range personas {
		pn := mk.get(p)
		r, err := pn.fraction()
		if err != nil {
			return err
		}
		rates[p] = r
		cell := &events.CellAggregate{Persona: p, Detector: rateOnlyDetector, Rate: ptr(r), RateOnly: true, Imported: true, OriginFile: c.loc.Rel}
		if err := c.add(s, pn.path, cell); err != nil {
			return err
		}
	}
	if _, ok := rates[s.meta.SourcePersona]; !ok {
		return errAt(cfg.get("source").path, "source %q is not a persona of eval.marker", s.meta.SourcePersona)
	}
	if err := checkRepeatedRate(top.get("source_marker"), s.meta.SourcePersona, rates); err != nil {
		return err
	}
	if err := checkRepeatedRate(top.get("assistant_marker"), "assistant", rates); err != nil {
		return err
	}
	if n := top.get("max_bystander_marker"); n.present() {
		v, err := n.fraction()
		if err != nil {
			return err
		}
		mx := 0.0
		for p, r := range rates {
			if p != s.meta.SourcePersona {
				mx = math.Max(mx, r)
			}
		}
		if math.Abs(v-mx) > 1e-9 {
			return errAt(n.path, "%v disagrees with the largest non-source rate of eval.marker, %v", v, mx)
		}
	}
	c.note("%d personas, rate-only cells (the file states no eval size; detector strict assumed): no count or interval is derived", len(personas))
	c.note("run factors %s, source persona %q from config; eval.structure, capability, loss and success are not imported", factorList(f), s.meta.SourcePersona)
	return nil
}

// CanonicalFloat renders a design value such as a learning rate the same
// way whatever its JSON spelling (0.0001, 1e-4): shortest 'e' form, two
// exponent digits ("1e-04", "2.5e-05"), as the sweep's folder names.
func CanonicalFloat(v float64) string { return strconv.FormatFloat(v, 'e', -1, 64) }

// integerCount returns rate × total when it is an integer within 1e-6.
func integerCount(rate float64, total int) (int, bool) {
	if total <= 0 {
		return 0, false
	}
	x := rate * float64(total)
	n := math.Round(x)
	if math.Abs(x-n) > 1e-6 || n < 0 || n > float64(total) {
		return 0, false
	}
	return int(n), true
}

// checkRepeatedRate checks a summary member that repeats one persona's rate
// (source_rate, assistant_marker); null or absent passes.
func checkRepeatedRate(n jv, persona string, rates map[string]float64) error {
	if !n.present() || n.v == nil {
		return nil
	}
	v, err := n.fraction()
	if err != nil {
		return err
	}
	if persona == "" {
		return errAt(n.path, "%v given, but the run names no source persona", v)
	}
	r, ok := rates[persona]
	if !ok {
		return errAt(n.path, "persona %q is not among the per-persona rates", persona)
	}
	if math.Abs(v-r) > 1e-9 {
		return errAt(n.path, "%v disagrees with the per-persona rate of %s, %v", v, persona, r)
	}
	return nil
}

// optStr reads an optional string: absent or null leaves dst unchanged.
func optStr(n jv, dst *string) error {
	if !n.present() || n.v == nil {
		return nil
	}
	v, err := n.str()
	if err != nil {
		return err
	}
	*dst = v
	return nil
}

// rawMembers returns the given top-level members of a JSON object document
// as one compact object (absent members left out), or nil when none exist.
func rawMembers(data []byte, keys ...string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	n := 0
	for _, k := range keys {
		raw, ok := m[k]
		if !ok {
			continue
		}
		var c bytes.Buffer
		if json.Compact(&c, raw) != nil {
			return nil
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(c.Bytes())
		n++
	}
	if n == 0 {
		return nil
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// factorList renders factors as "{k=v, …}" in key order.
func factorList(f events.Factors) string {
	parts := make([]string, 0, len(f))
	for _, k := range f.Keys() {
		parts = append(parts, k+"="+f[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
