package figures

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"leakscope/query"
	"leakscope/query/stats"
)

// The generic figures read the experiment's design from its leakage
// matrix: runs with their source persona, seed and run factors (lr,
// epochs, …), and cells with their persona factors (noun, level, category,
// …). They name no experiment; presets.go holds what an experiment's
// events leave implicit.

// runDesign is one run of the matrix with what the figures need of it.
type runDesign struct {
	id, source, prompt string
	sourceFrom         string // "" when the run declares its source; else where it came from
	seed               *int64
	sweep              string
	factors            map[string]string
	label              string
	sourceCell         string // key of the bystander that is the run's own source persona ("" = none found)
}

// design is the experiment's design as the matrix in scope shows it.
type design struct {
	experiment string
	cells      []query.Cell // measured cells (missing ones left out)
	missing    int
	runs       []*runDesign // in label order
	byRun      map[string]*runDesign
	runVals    map[string][]string // declared run factor → its values
	personaVal map[string][]string // persona factor → its values
	personas   []string            // bystander keys in factor order
	seedsVary  bool
	notes      []string
}

// design loads the matrix in scope (once) and reads its design.
func (b *Builder) design(ctx context.Context) (*design, error) {
	if b.des != nil {
		return b.des, nil
	}
	lk, err := b.leakage(ctx)
	if err != nil {
		return nil, err
	}
	d := &design{experiment: b.Experiment, byRun: map[string]*runDesign{}, runVals: map[string][]string{}, personaVal: map[string][]string{}}
	prompts, err := b.sourcePrompts(ctx)
	if err != nil {
		return nil, err
	}
	pre := presets[b.Experiment]
	seeds := map[string]bool{}
	personaFactors := map[string]map[string]string{}
	for _, c := range lk.Cells {
		if c.Missing || c.Rate == nil {
			d.missing++
			continue
		}
		d.cells = append(d.cells, c)
		r := d.byRun[c.RunID]
		if r == nil {
			r = &runDesign{id: c.RunID, source: c.SourcePersona, prompt: prompts[c.RunID], seed: c.Seed, sweep: c.Sweep, factors: c.RunFactors}
			switch src := b.Params["source_persona"]; {
			case r.source != "":
			case r.factors[sourceFactor] != "":
				r.source, r.sourceFrom = r.factors[sourceFactor], "its run factor "+sourceFactor+"="+r.factors[sourceFactor]
			case src != "":
				r.source, r.sourceFrom = src, "the source_persona parameter"
			case pre.source != "":
				r.source, r.sourceFrom = pre.source, pre.sourceFrom
			}
			d.byRun[c.RunID] = r
			d.runs = append(d.runs, r)
			seeds[seedString(r.seed)] = true
			for k, v := range r.factors {
				addValue(d.runVals, k, v)
			}
		}
		if personaFactors[c.Persona] == nil {
			personaFactors[c.Persona] = map[string]string{}
			d.personas = append(d.personas, c.Persona)
		}
		for k, v := range c.Factors {
			personaFactors[c.Persona][k] = v
			addValue(d.personaVal, k, v)
		}
	}
	for _, vals := range []map[string][]string{d.runVals, d.personaVal} {
		for k := range vals {
			vals[k] = ordered(vals[k]).values
		}
	}
	d.seedsVary = len(seeds) > 1
	names := sortedKeys(d.personaVal)
	sort.SliceStable(d.personas, func(i, j int) bool {
		a, b := personaFactors[d.personas[i]], personaFactors[d.personas[j]]
		for _, n := range names {
			if a[n] != b[n] {
				return query.NaturalLess(a[n], b[n])
			}
		}
		return query.NaturalLess(d.personas[i], d.personas[j])
	})
	measured := map[string]map[string]query.Cell{}
	for _, c := range d.cells {
		if measured[c.RunID] == nil {
			measured[c.RunID] = map[string]query.Cell{}
		}
		measured[c.RunID][c.Persona] = c
	}
	for _, r := range d.runs {
		r.sourceCell = findSourceCell(r, measured[r.id])
	}
	d.labelRuns()
	if d.missing > 0 {
		d.notes = append(d.notes, fmt.Sprintf("%d cells the origin lists as never measured are left out (not zero)", d.missing))
	}
	for _, r := range d.runs {
		if strings.HasPrefix(r.sourceFrom, "its run factor") {
			d.notes = append(d.notes, fmt.Sprintf("run %s: source persona %s from %s", r.id, r.source, r.sourceFrom))
		} else if r.sourceFrom != "" {
			d.notes = append(d.notes, fmt.Sprintf("run %s: source persona %s from %s (its events declare none)", r.id, r.source, r.sourceFrom))
		}
	}
	d.notes = append(d.notes, lk.Notes...)
	b.des = d
	return d, nil
}

// sourceFactor is the run factor that declares a run's source persona when
// its events name none (leakscope import --design
// {"runs": {"<run>": {"source_persona": "…"}}}).
const sourceFactor = "source_persona"

// sourcePrompts reads each run's source prompt (the events' source_prompt).
func (b *Builder) sourcePrompts(ctx context.Context) (map[string]string, error) {
	res, err := b.Engine.SQL(ctx, `SELECT run_id, coalesce(any_value(source_prompt), '') FROM runs WHERE experiment = $1 GROUP BY run_id`, b.Experiment)
	if err != nil {
		return nil, fmt.Errorf("figures: read source prompts: %w", err)
	}
	out := map[string]string{}
	for _, r := range res.Rows {
		id, _ := r[0].(string)
		p, _ := r[1].(string)
		out[id] = p
	}
	return out, nil
}

// findSourceCell is the bystander that is the run's own source persona: the
// one whose key is the source's (with or without "src_"), or that a preset
// rule names, or whose prompt is the run's source prompt.
func findSourceCell(r *runDesign, cells map[string]query.Cell) string {
	if r.source != "" {
		for _, k := range []string{r.source, query.SourceName(r.source)} {
			if _, ok := cells[k]; ok {
				return k
			}
		}
		for _, rule := range sourceCellRules {
			if k := rule(r.source); k != "" {
				if _, ok := cells[k]; ok {
					return k
				}
			}
		}
	}
	if r.prompt != "" {
		var match []string
		for k, c := range cells {
			if c.PersonaPrompt == r.prompt {
				match = append(match, k)
			}
		}
		if len(match) == 1 {
			return match[0]
		}
	}
	return ""
}

// labelRuns names each run by its source, the run factors that vary and
// its seed where seeds vary ("villain lr=1e-4 epochs=5"), adding the run ID
// where that does not tell runs apart; runs are ordered by label.
func (d *design) labelRuns() {
	vary := d.varyingRunFactors()
	for _, r := range d.runs {
		var parts []string
		if r.source != "" {
			parts = append(parts, query.SourceName(r.source))
		} else {
			parts = append(parts, r.id)
		}
		for _, k := range vary {
			parts = append(parts, k+"="+r.factors[k])
		}
		if d.seedsVary {
			parts = append(parts, "seed="+seedString(r.seed))
		}
		r.label = strings.Join(parts, " ")
	}
	count := map[string]int{}
	for _, r := range d.runs {
		count[r.label]++
	}
	for _, r := range d.runs {
		if count[r.label] > 1 {
			r.label += " (" + r.id + ")"
		}
	}
	sort.SliceStable(d.runs, func(i, j int) bool { return d.runLess(d.runs[i], d.runs[j], vary) })
}

func (d *design) runLess(a, b *runDesign, vary []string) bool {
	for _, k := range vary {
		if a.factors[k] != b.factors[k] {
			return valueLess(d.runVals[k], a.factors[k], b.factors[k])
		}
	}
	if a.source != b.source {
		return a.source < b.source
	}
	if sa, sb := seedString(a.seed), seedString(b.seed); sa != sb {
		return query.NaturalLess(sa, sb)
	}
	return a.label < b.label
}

// varyingRunFactors are the declared run factors with more than one value.
func (d *design) varyingRunFactors() []string {
	var out []string
	for _, k := range sortedKeys(d.runVals) {
		if len(d.runVals[k]) > 1 {
			out = append(out, k)
		}
	}
	return out
}

// sources are the distinct source personas of the runs.
func (d *design) sources() []string {
	set := map[string]bool{}
	for _, r := range d.runs {
		if r.source != "" {
			set[query.SourceName(r.source)] = true
		}
	}
	return sortedKeys(set)
}

// describe lists the design for a message: run factors and persona factors.
func (d *design) describe() string {
	rf := "none"
	if len(d.runVals) > 0 {
		var parts []string
		for _, k := range sortedKeys(d.runVals) {
			parts = append(parts, fmt.Sprintf("%s (%d values)", k, len(d.runVals[k])))
		}
		rf = strings.Join(parts, ", ")
	}
	return fmt.Sprintf("this experiment's run factors: %s; persona factors: %s", rf, orNone(sortedKeys(d.personaVal)))
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

func seedString(s *int64) string {
	if s == nil {
		return "none"
	}
	return strconv.FormatInt(*s, 10)
}

func addValue(m map[string][]string, k, v string) {
	for _, x := range m[k] {
		if x == v {
			return
		}
	}
	m[k] = append(m[k], v)
}

// order is a factor's values in their order: numeric when every value
// parses as a number (log when they span two decades or more, all > 0),
// else natural order (L1 < L2 < L10).
type order struct {
	values  []string
	numeric bool
	log     bool
	num     map[string]float64
}

func ordered(vals []string) order {
	o := query.OrderValues(vals, nil)
	return order{values: o.Values, numeric: o.Numeric, log: o.Log, num: o.Num}
}

// ordinal reports values like L1..L5: one shared non-digit prefix and a number.
func (o order) ordinal() bool {
	if o.numeric || len(o.values) < 2 {
		return o.numeric
	}
	prefix := ""
	for i, v := range o.values {
		p := strings.TrimRight(v, "0123456789")
		if p == v {
			return false
		}
		if i == 0 {
			prefix = p
		} else if p != prefix {
			return false
		}
	}
	return true
}

func valueLess(list []string, a, b string) bool {
	ia, ib := index(list, a), index(list, b)
	if ia != ib {
		return ia < ib
	}
	return query.NaturalLess(a, b)
}

// agg is a group of cells drawn as one value.
type agg struct {
	Rate     *float64 `json:"rate"`
	CILow    *float64 `json:"ci_low"`
	CIHigh   *float64 `json:"ci_high"`
	Found    *int64   `json:"found"`
	Total    *int64   `json:"total"`
	Cells    int      `json:"cells"`
	RateOnly int      `json:"rate_only_cells,omitempty"`
	Runs     []string `json:"runs"`
}

// aggregate is one cell's rate and interval; for several cells with
// counts, their pooled found/total with a 95 % Wilson interval; where any
// cell is rate only, the mean of the rates without an interval.
func aggregate(cells []query.Cell) agg {
	a := agg{Cells: len(cells)}
	if len(cells) == 0 {
		return a
	}
	runs := map[string]bool{}
	var found, total int64
	sum := 0.0
	for _, c := range cells {
		runs[c.RunID] = true
		sum += *c.Rate
		if c.RateOnly || c.Found == nil || c.Total == nil {
			a.RateOnly++
			continue
		}
		found, total = found+*c.Found, total+*c.Total
	}
	a.Runs = sortedKeys(runs)
	if a.RateOnly > 0 {
		m := sum / float64(len(cells))
		a.Rate = &m
		return a
	}
	a.Found, a.Total = &found, &total
	if len(cells) == 1 {
		a.Rate, a.CILow, a.CIHigh = cells[0].Rate, cells[0].CILow, cells[0].CIHigh
		return a
	}
	r := float64(found) / float64(total)
	a.Rate = &r
	if lo, hi, err := stats.Wilson(int(found), int(total), stats.Z95); err == nil {
		a.CILow, a.CIHigh = &lo, &hi
	}
	return a
}
