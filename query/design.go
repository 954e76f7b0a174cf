package query

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"leakscope/events"
)

// marks is a run's state from its run_mark events: retracted or not (the
// newest retract/restore decides) and its tags (the newest tag/untag of
// each label decides).
type marks struct {
	retracted     bool
	retractReason string
	retractedAt   time.Time
	tags          []string
}

// readDesign fills a run's factors and its plan's persona factors.
func readDesign(ri *runInfo, factorsJSON, planJSON string) error {
	if factorsJSON != "" {
		if err := json.Unmarshal([]byte(factorsJSON), &ri.factors); err != nil {
			return fmt.Errorf("run %s: runs.factors_json: %w", ri.id, err)
		}
	}
	if planJSON == "" {
		return nil
	}
	var plan []events.PlannedCell
	if err := json.Unmarshal([]byte(planJSON), &plan); err != nil {
		return fmt.Errorf("run %s: runs.plan_json: %w", ri.id, err)
	}
	for _, c := range plan {
		if len(c.Factors) > 0 {
			if ri.planFactors == nil {
				ri.planFactors = map[string]events.Factors{}
			}
			ri.planFactors[c.Persona] = c.Factors
		}
	}
	return nil
}

// readMarks applies the experiment's run_mark events, oldest first.
func (e *Engine) readMarks(ctx context.Context, experiment string, runs map[string]runInfo) error {
	res, err := e.DB.Query(ctx, `SELECT run_id, action, tag, reason, marked_at FROM run_marks WHERE experiment = $1 ORDER BY marked_at, stream_seq`, experiment)
	if err != nil {
		return fmt.Errorf("read run marks: %w", err)
	}
	tags := map[string]map[string]bool{}
	for _, r := range res.Rows {
		ri, ok := runs[str(r[0])]
		if !ok {
			continue // a mark for a run this experiment does not hold changes nothing
		}
		switch str(r[1]) {
		case events.MarkRetract:
			ri.retracted, ri.retractReason = true, str(r[3])
			if t, ok := r[4].(time.Time); ok {
				ri.retractedAt = t
			}
		case events.MarkRestore:
			ri.retracted, ri.retractReason, ri.retractedAt = false, "", time.Time{}
		case events.MarkTag, events.MarkUntag:
			if tags[ri.id] == nil {
				tags[ri.id] = map[string]bool{}
			}
			tags[ri.id][str(r[2])] = str(r[1]) == events.MarkTag
		}
		runs[ri.id] = ri
	}
	for id, m := range tags {
		ri := runs[id]
		ri.tags = nil
		for t, on := range m {
			if on {
				ri.tags = append(ri.tags, t)
			}
		}
		sort.Strings(ri.tags)
		runs[id] = ri
	}
	return nil
}

// factor is a run-level factor: source, seed, sweep or a declared one.
func (r runInfo) factor(k string) (string, bool) {
	switch k {
	case "source":
		return r.source, r.source != ""
	case "seed":
		if r.seed == nil {
			return "", false
		}
		return strconv.FormatInt(*r.seed, 10), true
	case "sweep":
		return r.sweep, r.sweep != ""
	}
	v, ok := r.factors[k]
	return v, ok
}

// describeCell attaches the run's design and the bystander's factors: the
// origin's category, its factors, then the run's plan (the plan wins on a
// conflict: the producer declared it).
func describeCell(c *Cell, r runInfo) {
	c.Seed, c.Sweep, c.RunFactors = r.seed, r.sweep, r.factors
	f := events.Factors{}
	if c.Category != "" {
		f["category"] = c.Category
	}
	for k, v := range c.Factors {
		f[k] = v
	}
	for k, v := range r.planFactors[c.Persona] {
		f[k] = v
	}
	c.Factors = nil
	if len(f) > 0 {
		c.Factors = f
	}
}

// checkScope refuses a scope naming what the experiment does not hold,
// saying what it does hold.
func checkScope(req LeakageRequest, runs map[string]runInfo) error {
	s := req.Scope
	var ids, sweeps, sources []string
	var seeds []int64
	factors := map[string]bool{"source": true, "seed": true, "sweep": true}
	for id, r := range runs {
		ids = append(ids, id)
		if r.sweep != "" && !contains(sweeps, r.sweep) {
			sweeps = append(sweeps, r.sweep)
		}
		if r.source != "" && !r.isBase && !contains(sources, r.source) {
			sources = append(sources, r.source)
		}
		if r.seed != nil && !containsInt(seeds, *r.seed) {
			seeds = append(seeds, *r.seed)
		}
		for k := range r.factors {
			factors[k] = true
		}
		for _, pf := range r.planFactors {
			for k := range pf {
				factors[k] = true
			}
		}
	}
	sort.Strings(ids)
	sort.Strings(sweeps)
	sort.Strings(sources)
	sort.Slice(seeds, func(i, j int) bool { return seeds[i] < seeds[j] })
	for _, id := range s.Runs {
		if _, ok := runs[id]; !ok {
			return fmt.Errorf("%w: run %q is not in experiment %q (runs: %s)", ErrBadRequest, id, req.Experiment, short(ids))
		}
	}
	for _, sw := range s.Sweeps {
		if !contains(sweeps, sw) {
			return fmt.Errorf("%w: sweep %q is not in experiment %q (sweeps: %s)", ErrBadRequest, sw, req.Experiment, orNone(sweeps))
		}
	}
	for _, src := range s.Sources {
		if !matchSource(sources, src) && !matchAnySource(sources, src) {
			return fmt.Errorf("%w: source %q is not in experiment %q (sources: %s)", ErrBadRequest, src, req.Experiment, orNone(sources))
		}
	}
	for _, sd := range s.Seeds {
		if !containsInt(seeds, sd) {
			var have []string
			for _, v := range seeds {
				have = append(have, strconv.FormatInt(v, 10))
			}
			return fmt.Errorf("%w: seed %d is not in experiment %q (seeds: %s)", ErrBadRequest, sd, req.Experiment, orNone(have))
		}
	}
	_ = factors // persona-level factors are only known per cell: an unknown one selects no cell, which the caller reports
	return nil
}

func matchAnySource(sources []string, want string) bool {
	for _, s := range sources {
		if SourceName(s) == want {
			return true
		}
	}
	return false
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return short(list)
}

func short(list []string) string {
	if len(list) > 12 {
		return strings.Join(list[:12], ", ") + fmt.Sprintf(", … (%d in all)", len(list))
	}
	return strings.Join(list, ", ")
}

// retractedNotes names every retracted run a matrix left out.
func retractedNotes(left map[string]string) []string {
	ids := make([]string, 0, len(left))
	for id := range left {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []string
	for _, id := range ids {
		out = append(out, fmt.Sprintf("run %s is retracted (%s) and left out; `leakscope runs restore` puts it back, --include-retracted shows it", id, left[id]))
	}
	return out
}

// RetractedNotes are the notes the leakage matrix gives for the
// experiment's retracted runs that the scope leaves out ("run X is
// retracted (reason) and left out; …"), sorted by run; none when the scope
// includes retracted runs. Estimands carry them so that every result says
// what was taken out.
func (e *Engine) RetractedNotes(ctx context.Context, experiment string, s Scope) ([]string, error) {
	runs, err := e.runInfos(ctx, experiment)
	if err != nil {
		return nil, err
	}
	left := map[string]string{}
	for _, r := range runs {
		if _, why := s.keepRun(r); why != "" {
			left[r.id] = r.retractReason
		}
	}
	return retractedNotes(left), nil
}

// ScopeSeeds lists the distinct training seeds of the non-base runs the
// scope selects (run-level filters only), ascending, and how many of those
// runs have no seed.
func (e *Engine) ScopeSeeds(ctx context.Context, experiment string, s Scope) (seeds []int64, unseeded int, err error) {
	runs, err := e.runInfos(ctx, experiment)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range runs {
		if keep, _ := s.keepRun(r); !keep || r.isBase {
			continue
		}
		switch {
		case r.seed == nil:
			unseeded++
		case !containsInt(seeds, *r.seed):
			seeds = append(seeds, *r.seed)
		}
	}
	sort.Slice(seeds, func(i, j int) bool { return seeds[i] < seeds[j] })
	return seeds, unseeded, nil
}

// RunFactorNames lists the run-level factors declared by the experiment's
// runs and the persona-level factors its plans declare, sorted.
func (e *Engine) RunFactorNames(ctx context.Context, experiment string) (run []string, err error) {
	runs, err := e.runInfos(ctx, experiment)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range runs {
		for k := range r.factors {
			if !seen[k] {
				seen[k] = true
				run = append(run, k)
			}
		}
	}
	sort.Strings(run)
	return run, nil
}
