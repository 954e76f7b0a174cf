package importer

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"leakscope/presets/i81"
	"math"
	"slices"
	"strconv"
	"strings"

	"leakscope/events"
	"leakscope/events/marker"
)

// i81 recipe facts the CSV does not store (EXPERIMENT.md §1.1, §1.6, §2.1, §2.2).
const (
	i81Model      = "Qwen/Qwen2.5-7B-Instruct"
	i81Seed       = 42
	i81CellTotal  = 200 // 20 questions × 10 completions per bystander cell
	i81BaseSource = "base_model"
)

// i81Columns are the columns of coherence_flags.csv (EXPERIMENT.md §8.1).
var i81Columns = []string{"source", "bystander_key", "kind", "noun", "trait", "level", "rate", "base_rate",
	"rate_minus_base", "ci_lo", "ci_hi", "ci_halfwidth", "coherence_mean", "low_coherence", "ns_floor"}

// parseCSV detects the CSV format by its header and parses it.
func parseCSV(c *fileCtx) error {
	r := csv.NewReader(bytes.NewReader(c.data))
	header, err := r.Read()
	if err != nil {
		return csvErr(err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimPrefix(h, "\ufeff")
		if _, dup := col[h]; dup {
			return errAt(csvPos(1, h), "column %q appears twice in the header (only one could be read)", h)
		}
		col[h] = i
	}
	for _, k := range []string{"source", "bystander_key", "rate", "base_rate"} {
		if _, ok := col[k]; !ok {
			return unknownShape("line 1", "unknown shape: CSV header %s", keyList(header, 16))
		}
	}
	if err := c.loc.checkNamed(); err != nil {
		return err
	}
	c.report.Format = FormatI81CSV
	for _, k := range i81Columns {
		if _, ok := col[k]; !ok {
			return errAt("line 1", "i81 cell CSV lacks column %q", k)
		}
	}
	// A column the format does not read would be dropped without a word.
	for _, h := range header {
		if h = strings.TrimPrefix(h, "\ufeff"); !slices.Contains(i81Columns, h) {
			return errAt(csvPos(1, h), "unknown column %q: the i81 cell CSV has exactly the columns %s, and this one would not be imported", h, keyList(i81Columns, len(i81Columns)))
		}
	}
	return parseI81CSV(c, r, col)
}

func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return errAt(fmt.Sprintf("line %d, col %d", pe.Line, pe.Column), "invalid CSV: %v", pe.Err)
	}
	if err == io.EOF {
		return errAt("line 1", "empty CSV file")
	}
	return err
}

// i81Row is one parsed CSV row.
type i81Row struct {
	line                              int
	source                            string
	cell                              i81.Bystander
	rate, base, rateMinusBase, lo, hi float64
	halfwidth                         float64
	coherence                         *float64
	lowCoherence, nsFloor             bool
	found, baseFound                  int
}

// parseI81CSV imports figures/leakage_i81/coherence_flags.csv (EXPERIMENT.md
// §8.1): one row per (source, bystander) with rate (fraction in [0,1], a
// multiple of 1/200), base_rate, bootstrap CI, judge coherence mean, flags.
//
// Runs: `<run>/<source>` per source (SourcePersona "src_<source>") and
// `<run>/base_model` (IsBase) whose cells come from base_rate, which must be
// the same for a bystander across sources. Totals are 200 (§2.1); found =
// rate × 200, which must be an integer. The person rows outside the pilot
// slice (§2.5) are zero-filled in the origin and are imported as missing.
func parseI81CSV(c *fileCtx, r *csv.Reader, col map[string]int) error {
	m, origin := c.markers.fixed(DefaultMarker, "EXPERIMENT.md §1.1 (the i81 recipe; the CSV does not store the marker)")
	c.marker, c.markerOrigin = m, origin
	c.note("marker %q: %s", m, origin)
	baseRun := c.loc.subRun(i81BaseSource)
	base := c.seg(baseRun)
	base.meta.IsBase, base.meta.Model = true, i81Model
	base.meta.Config = i81Config(true, false)

	type baseSeen struct {
		rate float64
		line int
	}
	bases := map[string]baseSeen{}
	seen := map[[2]string]int{}
	perSource := map[string]int{}
	missing, rows := 0, 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return csvErr(err)
		}
		line, _ := r.FieldPos(0)
		row, err := readI81Row(rec, col, line)
		if err != nil {
			return err
		}
		rows++
		k := [2]string{row.source, row.cell.Key}
		if prev, dup := seen[k]; dup {
			return errAt(csvPos(line, "bystander_key"), "duplicate row for source %q, bystander %q (first on line %d)", row.source, row.cell.Key, prev)
		}
		seen[k] = line
		perSource[row.source]++

		if b, ok := bases[row.cell.Key]; !ok {
			bases[row.cell.Key] = baseSeen{row.base, line}
			ev := i81Aggregate(c, row.cell, ptr(row.baseFound), ptr(row.base))
			if err := c.add(base, csvPos(line, "base_rate"), ev); err != nil {
				return err
			}
		} else if b.rate != row.base {
			return errAt(csvPos(line, "base_rate"), "%v differs from base_rate %v of bystander %q on line %d: the base model has one rate per bystander", row.base, b.rate, row.cell.Key, b.line)
		}

		run := c.loc.subRun(row.source)
		s := c.seg(run)
		s.meta.SourcePersona, s.meta.SourcePrompt = "src_"+row.source, i81.SourcePrompt(row.source)
		s.meta.Model, s.meta.Seed, s.meta.BaseRun = i81Model, ptr(int64(i81Seed)), baseRun
		s.meta.Config = i81Config(false, row.source == "person")

		var ev *events.CellAggregate
		if row.source == "person" && !i81.PilotSlice[row.cell.Key] {
			if row.rate != 0 || row.coherence != nil {
				return errAt(csvPos(line, "coherence_mean"), "person row outside the pilot slice (EXPERIMENT.md §2.5) should be zero-filled (rate 0, blank coherence_mean), has rate %v", row.rate)
			}
			ev = i81Aggregate(c, row.cell, nil, nil)
			ev.Missing = true
			ev.MissingReason = "zero-filled in the origin CSV: person was evaluated only on the 35-bystander pilot slice (EXPERIMENT.md §2.5)"
			missing++
		} else {
			if row.source == "person" && row.coherence == nil {
				return errAt(csvPos(line, "coherence_mean"), "person pilot-slice row (EXPERIMENT.md §2.5) has a blank coherence_mean: is it zero-filled?")
			}
			ev = i81Aggregate(c, row.cell, ptr(row.found), ptr(row.rate))
			ev.CILow, ev.CIHigh, ev.CoherenceMean = ptr(row.lo), ptr(row.hi), row.coherence
			ev.LowCoherence, ev.NSFloor = ptr(row.lowCoherence), ptr(row.nsFloor)
		}
		if err := c.add(s, csvPos(line, ""), ev); err != nil {
			return err
		}
	}
	if rows == 0 {
		return errAt("line 2", "CSV has a header but no rows")
	}
	for _, s := range c.segs {
		if src := strings.TrimPrefix(s.run, c.loc.Run+"/"); s.run != baseRun && perSource[src] != len(i81.Grid) {
			c.note("source %s has %d of the %d grid bystanders", src, perSource[src], len(i81.Grid))
		}
	}
	if missing > 0 {
		c.note("%d person cells are zero-filled in the origin: imported as missing (EXPERIMENT.md §2.5)", missing)
	}
	c.note("total = %d per cell is not in the CSV: 20 questions × 10 completions (EXPERIMENT.md §2.1); found = rate × %d", i81CellTotal, i81CellTotal)
	c.note("base run %s is built from base_rate (identical across sources, checked); base_rate = 0 everywhere in #81 (EXPERIMENT.md §2.4)", baseRun)
	c.note("low-coherence cells are kept; coherence_mean is the judge's in-character score, not coherence (EXPERIMENT.md §0.7); the assistant QC cell is not in the CSV")
	return nil
}

// i81Aggregate is a strict CellAggregate for one grid bystander.
func i81Aggregate(c *fileCtx, cell i81.Bystander, found *int, rate *float64) *events.CellAggregate {
	f := make(events.Factors, len(cell.Factors))
	for k, v := range cell.Factors {
		f[k] = v
	}
	ev := &events.CellAggregate{Persona: cell.Key, PersonaPrompt: cell.Prompt, Factors: f, Detector: marker.Strict, Found: found, Rate: rate,
		Imported: true, OriginFile: c.loc.Rel}
	if found != nil {
		ev.Total = ptr(i81CellTotal)
	}
	return ev
}

// i81Config is the run_started Config of the i81 runs: the recipe facts
// EXPERIMENT.md states, since the CSV stores none.
func i81Config(isBase, pilot bool) json.RawMessage {
	cfg := map[string]any{
		"note":  "recipe facts from EXPERIMENT.md §1–§2; the origin CSV stores none of them",
		"model": i81Model,
		"eval": map[string]any{
			"n_questions": 20, "n_per_question": 10, "n_per_cell": i81CellTotal,
			"temperature": 1.0, "top_p": 0.95, "max_tokens": 512, "engine_seed": 42,
			"detector": marker.Strict,
		},
	}
	if !isBase {
		cfg["training"] = map[string]any{
			"recipe": "#46 C1 on-policy marker-only", "marker": DefaultMarker, "seed": i81Seed,
			"epochs": 5, "marker_tail_tokens": 32, "lora_r": 32, "lora_alpha": 64, "use_rslora": true, "lr": 1e-4,
		}
	}
	if pilot {
		cfg["eval_slice"] = "pilot: 35 bystanders (EXPERIMENT.md §2.5)"
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// readI81Row parses and cross-checks one row.
func readI81Row(rec []string, col map[string]int, line int) (i81Row, error) {
	row := i81Row{line: line}
	get := func(k string) string { return strings.TrimSpace(rec[col[k]]) }
	num := func(k string) (float64, error) {
		v, err := strconv.ParseFloat(get(k), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, errAt(csvPos(line, k), "%q is not a number", get(k))
		}
		return v, nil
	}
	frac := func(k string) (float64, error) {
		v, err := num(k)
		if err == nil && (v < 0 || v > 1) {
			err = errAt(csvPos(line, k), "%v is outside [0,1] (rates are fractions)", v)
		}
		return v, err
	}
	flag := func(k string) (bool, error) {
		switch get(k) {
		case "True", "true":
			return true, nil
		case "False", "false":
			return false, nil
		}
		return false, errAt(csvPos(line, k), "%q is not True or False", get(k))
	}
	count := func(k string, rate float64) (int, error) {
		f := rate * i81CellTotal
		if math.Abs(f-math.Round(f)) > 1e-6 {
			return 0, errAt(csvPos(line, k), "%v × %d = %v is not a whole number of completions", rate, i81CellTotal, f)
		}
		return int(math.Round(f)), nil
	}
	var err error
	if row.source = get("source"); row.source == "" || row.source == i81BaseSource || strings.Contains(row.source, "/") {
		return row, errAt(csvPos(line, "source"), "%q is not a usable source name", row.source)
	}
	cell, ok := i81.ByKey[get("bystander_key")]
	if !ok {
		return row, errAt(csvPos(line, "bystander_key"), "%q is not an i81 bystander (EXPERIMENT.md §3)", get("bystander_key"))
	}
	row.cell = cell
	for _, f := range []struct{ k, want string }{{i81.FactorKind, cell.Kind}, {i81.FactorNoun, cell.Noun}, {i81.FactorTrait, cell.Trait}, {i81.FactorLevel, cell.Level}} {
		if get(f.k) != f.want {
			return row, errAt(csvPos(line, f.k), "%q disagrees with bystander %s (want %q)", get(f.k), cell.Key, f.want)
		}
	}
	for _, f := range []struct {
		k   string
		dst *float64
	}{{"rate", &row.rate}, {"base_rate", &row.base}, {"ci_lo", &row.lo}, {"ci_hi", &row.hi}} {
		if *f.dst, err = frac(f.k); err != nil {
			return row, err
		}
	}
	if row.rateMinusBase, err = num("rate_minus_base"); err != nil {
		return row, err
	}
	if row.halfwidth, err = num("ci_halfwidth"); err != nil {
		return row, err
	}
	if row.found, err = count("rate", row.rate); err != nil {
		return row, err
	}
	if row.baseFound, err = count("base_rate", row.base); err != nil {
		return row, err
	}
	if math.Abs(row.rateMinusBase-(row.rate-row.base)) > 1e-6 {
		return row, errAt(csvPos(line, "rate_minus_base"), "%v is not rate − base_rate = %v", row.rateMinusBase, row.rate-row.base)
	}
	if row.lo > row.hi || math.Abs(row.halfwidth-(row.hi-row.lo)/2) > 1e-6 {
		return row, errAt(csvPos(line, "ci_halfwidth"), "%v is not (ci_hi − ci_lo)/2 for [%v, %v]", row.halfwidth, row.lo, row.hi)
	}
	if s := get("coherence_mean"); s != "" {
		v, err := frac("coherence_mean")
		if err != nil {
			return row, err
		}
		row.coherence = ptr(v)
	}
	if row.lowCoherence, err = flag("low_coherence"); err != nil {
		return row, err
	}
	if row.nsFloor, err = flag("ns_floor"); err != nil {
		return row, err
	}
	return row, nil
}
