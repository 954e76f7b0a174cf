package query

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"leakscope/events"
)

// ScopeArgs is a scope as the CLI flags and the HTTP query parameters give
// it: each list item may itself be comma-separated (--seed 1,2 or --seed 1
// --seed 2); Where holds factor=value filters (alternatives with '|').
type ScopeArgs struct {
	Runs, Seeds, Sweeps, Sources, Where []string
	IncludeRetracted                    bool
}

// Scope parses the arguments (ErrBadRequest, naming the flag, when one
// does not parse).
func (a ScopeArgs) Scope() (Scope, error) {
	var s Scope
	split := func(list []string) []string {
		var out []string
		for _, x := range list {
			out = append(out, SplitList(x)...)
		}
		return out
	}
	// A flag given with nothing in it (--seed "$UNSET") would select every
	// run: refused.
	for _, f := range []struct {
		name string
		list []string
	}{{"--run", a.Runs}, {"--seed", a.Seeds}, {"--sweep", a.Sweeps}, {"--source", a.Sources}} {
		if len(f.list) > 0 && len(split(f.list)) == 0 {
			return s, EmptyScopeFlag(f.name)
		}
	}
	s.Runs, s.Sweeps, s.Sources = split(a.Runs), split(a.Sweeps), split(a.Sources)
	seeds, err := ParseSeeds(strings.Join(split(a.Seeds), ","))
	if err != nil {
		return s, fmt.Errorf("--seed: %w", err)
	}
	s.Seeds = seeds
	if s.Where, err = ParseWhere(a.Where); err != nil {
		return s, err
	}
	s.IncludeRetracted = a.IncludeRetracted
	return s, nil
}

// EmptyScopeFlag is the error for a scope flag given with no value.
func EmptyScopeFlag(flag string) error {
	return fmt.Errorf("%w: %s is given but empty: name at least one (or leave %s out to keep every run)", ErrBadRequest, flag, flag)
}

// EstimandParams renders the scope as the estimands' scope parameters
// (runs, seeds, sweeps, sources, where joined with ';', include_retracted);
// only the parts the scope sets are present.
func (s Scope) EstimandParams() map[string]string {
	p := map[string]string{}
	if len(s.Runs) > 0 {
		p["runs"] = strings.Join(s.Runs, ",")
	}
	if len(s.Seeds) > 0 {
		var v []string
		for _, sd := range s.Seeds {
			v = append(v, strconv.FormatInt(sd, 10))
		}
		p["seeds"] = strings.Join(v, ",")
	}
	if len(s.Sweeps) > 0 {
		p["sweeps"] = strings.Join(s.Sweeps, ",")
	}
	if len(s.Sources) > 0 {
		p["sources"] = strings.Join(s.Sources, ",")
	}
	if len(s.Where) > 0 {
		keys := make([]string, 0, len(s.Where))
		for k := range s.Where {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+strings.Join(s.Where[k], "|"))
		}
		p["where"] = strings.Join(parts, ";")
	}
	if s.IncludeRetracted {
		p["include_retracted"] = "true"
	}
	return p
}

// DesignFactors lists every factor of the experiment with the values it
// takes: the run-level ones (source, seed, sweep and the runs' declared
// factors) and the bystanders' (category, the cells' factors and the
// plans' factors), retracted runs included.
func (e *Engine) DesignFactors(ctx context.Context, experiment string) (map[string][]string, error) {
	runs, err := e.runInfos(ctx, experiment)
	if err != nil {
		return nil, err
	}
	seen := map[string]map[string]bool{}
	add := func(k, v string) {
		if v == "" {
			return
		}
		if seen[k] == nil {
			seen[k] = map[string]bool{}
		}
		seen[k][v] = true
	}
	for _, r := range runs {
		if r.isBase {
			continue
		}
		for _, k := range []string{"source", "seed", "sweep"} {
			v, _ := r.factor(k)
			add(k, v)
		}
		for k, v := range r.factors {
			add(k, v)
		}
	}
	for _, r := range runs {
		for _, pf := range r.planFactors {
			for k, v := range pf {
				add(k, v)
			}
		}
	}
	res, err := e.DB.Query(ctx, `SELECT DISTINCT category, factors_json FROM cells WHERE experiment = $1`, experiment)
	if err != nil {
		return nil, fmt.Errorf("read cell factors: %w", err)
	}
	for _, row := range res.Rows {
		add("category", str(row[0]))
		if js := str(row[1]); js != "" {
			var f events.Factors
			if err := json.Unmarshal([]byte(js), &f); err != nil {
				return nil, fmt.Errorf("cells.factors_json: %w", err)
			}
			for k, v := range f {
				add(k, v)
			}
		}
	}
	out := make(map[string][]string, len(seen))
	for k, vs := range seen {
		for v := range vs {
			out[k] = append(out[k], v)
		}
		sort.Strings(out[k])
	}
	return out, nil
}

// CheckWhere refuses factor filters the experiment cannot satisfy: a
// factor no run or bystander has (naming the factors there are), or a
// value the factor never takes (naming its values).
func (e *Engine) CheckWhere(ctx context.Context, experiment string, where map[string][]string) error {
	if len(where) == 0 {
		return nil
	}
	have, err := e.DesignFactors(ctx, experiment)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(have))
	for k := range have {
		names = append(names, k)
	}
	sort.Strings(names)
	keys := make([]string, 0, len(where))
	for k := range where {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals, ok := have[k]
		if !ok {
			return fmt.Errorf("%w: --where %s=…: experiment %q has no factor %q (factors: %s)", ErrBadRequest, k, experiment, k, orNone(names))
		}
		for _, v := range where[k] {
			if !contains(vals, v) {
				return fmt.Errorf("%w: --where %s=%s: factor %q of experiment %q never takes %q (values: %s)", ErrBadRequest, k, v, k, experiment, v, short(vals))
			}
		}
	}
	return nil
}

// FilterRuns keeps the runs a scope selects, by their run-level fields:
// runs, sweeps, seeds, sources and run-level factors. Retracted runs are
// kept (the listing marks them) unless keepRetracted is false and the
// scope does not include them. A Where on a factor no run has is an
// ErrBadRequest naming the run-level factors.
func FilterRuns(runs []RunSummary, s Scope, keepRetracted bool) ([]RunSummary, error) {
	runLevel := map[string]bool{"source": true, "seed": true, "sweep": true}
	for _, r := range runs {
		for k := range r.Factors {
			runLevel[k] = true
		}
	}
	for k := range s.Where {
		if !runLevel[k] {
			names := make([]string, 0, len(runLevel))
			for n := range runLevel {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("%w: --where %s=…: runs are listed by run-level factors (%s); %q is not one of them", ErrBadRequest, k, strings.Join(names, ", "), k)
		}
	}
	out := []RunSummary{}
	for _, r := range runs {
		ri := runInfo{id: r.RunID, source: r.SourcePersona, isBase: r.IsBase, sweep: r.Sweep, seed: r.Seed, factors: r.Factors}
		ri.retracted = r.Retracted && !keepRetracted
		keep, _ := s.keepRun(ri)
		for k, vals := range s.Where { // a listing keeps only runs that have the factor
			v, ok := ri.factor(k)
			keep = keep && ok && contains(vals, v)
		}
		if keep {
			out = append(out, r)
		}
	}
	return out, nil
}
