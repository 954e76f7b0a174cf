package importer

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"leakscope/events"
)

// Design adds or overrides design factors at import (leakscope import
// --design FILE.json):
//
//	{"runs": {"<run_id>": {"factor": "value"}}, "personas": {"<persona>": {"factor": "value"}}}
//
// Runs are matched by run ID in every experiment imported; a run ID that no
// imported file produces is an error. Persona factors go to every imported
// cell of that persona (CellAggregate.Factors) and, for runs of completions,
// to the run's plan (one planned cell per persona, expected = its completions).
type Design struct {
	Path     string
	Runs     map[string]events.Factors
	Personas map[string]events.Factors
}

// designSource in a run's design entry (or --factor) sets the run's
// source persona rather than a factor.
const designSource = "source_persona"

// LoadDesign reads and validates a design file; errors are *FileError
// naming the file and the JSON path of the bad field.
func LoadDesign(path string) (*Design, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	d, err := parseDesign(data)
	if err != nil {
		return nil, fileErr(path, err)
	}
	d.Path = path
	return d, nil
}

func parseDesign(data []byte) (*Design, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	top := root(v)
	keys, err := top.keys()
	if err != nil {
		return nil, err
	}
	d := &Design{Runs: map[string]events.Factors{}, Personas: map[string]events.Factors{}}
	for _, k := range keys {
		var dst map[string]events.Factors
		switch k {
		case "runs":
			dst = d.Runs
		case "personas":
			dst = d.Personas
		default:
			return nil, errAt(jpath("$", k), `is not a design member (want "runs" and/or "personas")`)
		}
		sec := top.get(k)
		names, err := sec.keys()
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if name == "" {
				return nil, errAt(jpath(sec.path, name), "is an empty name")
			}
			f, err := readFactors(sec.get(name))
			if err != nil {
				return nil, err
			}
			dst[name] = f
		}
	}
	if len(d.Runs) == 0 && len(d.Personas) == 0 {
		return nil, errAt("$", `names no run and no persona (want {"runs": {"<run_id>": {"factor": "value"}}, "personas": {…}})`)
	}
	return d, nil
}

// readFactors reads {"factor": "value"} and validates every name and value.
func readFactors(n jv) (events.Factors, error) {
	keys, err := n.keys()
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errAt(n.path, "holds no factor")
	}
	f := events.Factors{}
	for _, k := range keys {
		v, err := n.get(k).str()
		if err != nil {
			return nil, err
		}
		if err := checkFactor(k, v); err != nil {
			return nil, errAt(jpath(n.path, k), "%v", err)
		}
		f[k] = v
	}
	if err := f.Validate("factors"); err != nil {
		return nil, errAt(n.path, "%s", reason(err))
	}
	return f, nil
}

// checkFactor validates one factor with events.Factors.Validate and returns
// its reason alone.
func checkFactor(k, v string) error {
	if err := (events.Factors{k: v}).Validate("factors"); err != nil {
		return errors.New(reason(err))
	}
	return nil
}

func reason(err error) string {
	var fe *events.FieldError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return err.Error()
}

// ParseFactorFlags reads repeated --factor key=value flags.
func ParseFactorFlags(kvs []string) (events.Factors, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	f := events.Factors{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("import: --factor %q: want key=value (e.g. --factor lr=1e-04)", kv)
		}
		if err := checkFactor(k, v); err != nil {
			return nil, fmt.Errorf("import: --factor %q: %v", kv, err)
		}
		if old, dup := f[k]; dup && old != v {
			return nil, fmt.Errorf("import: --factor %s is given twice (%q and %q)", k, old, v)
		}
		f[k] = v
	}
	if err := f.Validate("factors"); err != nil {
		return nil, fmt.Errorf("import: --factor: %s", reason(err))
	}
	return f, nil
}

// applyDesign merges the design overrides into the parsed files before they
// are assembled: run factors = the file's, then --factor, then the design
// file's for that run (the later wins); persona factors = the origin's, then
// the design file's. It fails on run IDs of the design file that no file
// produced, and returns notes for the plan.
func applyDesign(files []*fileCtx, flags events.Factors, d *Design) ([]string, error) {
	if len(flags) == 0 && d == nil {
		return nil, nil
	}
	if d == nil {
		d = &Design{}
	}
	seenRun, seenPersona := map[string]bool{}, map[string]bool{}
	var allRuns []string
	for _, c := range files {
		for _, s := range c.segs {
			if !seenRun[s.run] {
				allRuns = append(allRuns, s.run)
			}
			seenRun[s.run] = true
		}
	}
	var unknown []string
	for id := range d.Runs {
		if !seenRun[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		sort.Strings(allRuns)
		return nil, &FileError{Path: d.Path, Pos: "$.runs", Err: fmt.Errorf("run IDs not among the runs imported: %s (runs imported: %s)", strings.Join(unknown, ", "), keyList(allRuns, 20))}
	}
	// Completions per (experiment, run, persona), over every file, for plans.
	type runKey struct{ exp, run string }
	counts := map[runKey]map[string]int{}
	order := map[runKey][]string{}
	for _, c := range files {
		for _, s := range c.segs {
			k := runKey{c.loc.Experiment, s.run}
			for _, e := range s.events {
				if p, ok := e.Payload.(*events.Completion); ok {
					if counts[k] == nil {
						counts[k] = map[string]int{}
					}
					if counts[k][p.Persona] == 0 {
						order[k] = append(order[k], p.Persona)
					}
					counts[k][p.Persona]++
				}
			}
		}
	}
	for _, c := range files {
		var changed []string
		for _, s := range c.segs {
			f := events.Factors{}
			for k, v := range s.meta.Factors {
				f[k] = v
			}
			for _, src := range []struct {
				what string
				f    events.Factors
			}{{"--factor", flags}, {"--design " + d.Path, d.Runs[s.run]}} {
				for _, k := range src.f.Keys() {
					v := src.f[k]
					if k == designSource { // noted below, as the run's source
						f[k] = v
						continue
					}
					if old, ok := f[k]; ok && old != v {
						changed = append(changed, fmt.Sprintf("run %s: %s=%s (the file says %s) from %s", s.run, k, v, old, src.what))
					} else if !ok {
						changed = append(changed, fmt.Sprintf("run %s: %s=%s from %s", s.run, k, v, src.what))
					}
					f[k] = v
				}
			}
			// source_persona names the run's source persona (a field, not a
			// factor), for files that name none or name it wrongly.
			if v, ok := f[designSource]; ok {
				delete(f, designSource)
				from := "--factor"
				if d.Runs[s.run][designSource] != "" {
					from = "--design " + d.Path
				}
				if old := s.meta.SourcePersona; old != "" && old != v {
					changed = append(changed, fmt.Sprintf("run %s: source persona %s (the file says %s) from %s", s.run, v, old, from))
				} else if old == "" {
					changed = append(changed, fmt.Sprintf("run %s: source persona %s from %s", s.run, v, from))
				}
				s.meta.SourcePersona = v
				if len(f) == 0 {
					s.meta.Factors = nil
				}
			}
			if err := f.Validate("factors"); err != nil {
				return nil, &FileError{Path: c.loc.Path, Err: fmt.Errorf("run %s: %s", s.run, reason(err))}
			}
			if len(f) > 0 {
				s.meta.Factors = f
			}
			npf := 0
			for _, e := range s.events {
				cell, ok := e.Payload.(*events.CellAggregate)
				if !ok || d.Personas[cell.Persona] == nil {
					continue
				}
				seenPersona[cell.Persona] = true
				pf := events.Factors{}
				for k, v := range cell.Factors {
					pf[k] = v
				}
				for k, v := range d.Personas[cell.Persona] {
					pf[k] = v
				}
				if err := pf.Validate("factors"); err != nil {
					return nil, &FileError{Path: c.loc.Path, Err: fmt.Errorf("run %s persona %s: %s", s.run, cell.Persona, reason(err))}
				}
				cell.Factors = pf
				npf++
			}
			k := runKey{c.loc.Experiment, s.run}
			if len(counts[k]) > 0 && len(s.meta.Plan) == 0 {
				var plan []events.PlannedCell
				with := 0
				for _, p := range order[k] {
					pc := events.PlannedCell{Persona: p, Expected: counts[k][p], Factors: d.Personas[p]}
					if pc.Factors != nil {
						seenPersona[p] = true
						with++
					}
					plan = append(plan, pc)
				}
				if with > 0 {
					s.meta.Plan = plan
					changed = append(changed, fmt.Sprintf("run %s: persona factors of %d personas from --design %s, as the run's plan (expected = the completions imported)", s.run, with, d.Path))
				}
			}
			if npf > 0 {
				changed = append(changed, fmt.Sprintf("run %s: persona factors on %d cells from --design %s", s.run, npf, d.Path))
			}
		}
		for _, ch := range changed {
			c.note("design: %s", ch)
		}
	}
	var notes []string
	var unused []string
	for p := range d.Personas {
		if !seenPersona[p] {
			unused = append(unused, p)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		notes = append(notes, fmt.Sprintf("--design %s: personas no imported cell or completion has: %s", d.Path, keyList(unused, 20)))
	}
	return notes, nil
}
