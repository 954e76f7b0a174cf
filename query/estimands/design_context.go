package estimands

import (
	"fmt"
	"sort"
	"strings"
)

// Shared pieces of the two-factor estimands (factor-interaction,
// factor-head-to-head, near-twin-pairs): which value a cell contributes,
// which factors are persona-level, and what "all else equal" means when
// two factors change.

// Values a two-factor estimand compares.
const (
	ValueRate  = "rate"  // the cell's rate (a fraction in [0,1])
	ValueDelta = "delta" // the base-subtracted rate where a base run exists, else the rate
)

func valueParam(def string) Param {
	return Param{Name: "value", Default: def, Doc: "rate (the cell's rate) or delta (rate − base rate where a base run exists, else the rate)"}
}

// cellValue returns the accessor for the value parameter.
func cellValue(p Params) (func(tidy) float64, error) {
	switch p.Str("value") {
	case ValueRate:
		return func(c tidy) float64 { return c.Rate }, nil
	case ValueDelta:
		return func(c tidy) float64 { return c.V }, nil
	}
	return nil, fmt.Errorf("%w value=%q: want %s or %s", ErrBadParam, p.Str("value"), ValueRate, ValueDelta)
}

// tidyValues lists every factor's values over the cells (what loadTidy
// returns beside them).
func tidyValues(cells []tidy) map[string][]string {
	values := map[string][]string{}
	for _, c := range cells {
		for k, v := range c.F {
			if !contains(values[k], v) {
				values[k] = append(values[k], v)
			}
		}
	}
	return values
}

// personaSet is the set of persona-level factor names of one cell (the
// persona and its declared factors), one map per distinct set of names.
func personaSet(pf map[string]string, interned map[string]map[string]bool) map[string]bool {
	names := make([]string, 0, len(pf))
	for k := range pf {
		names = append(names, k)
	}
	sort.Strings(names)
	key := strings.Join(names, "\x00")
	if m, ok := interned[key]; ok {
		return m
	}
	m := map[string]bool{"persona": true}
	for _, k := range names {
		m[k] = true
	}
	interned[key] = m
	return m
}

// personaLevel names the persona-level factors in scope: the bystander's
// (persona, noun, trait, pair, …), as opposed to the run's (source, seed,
// lr, neg_set, …). A factor that takes two values within one run is
// persona-level whatever its cells say.
func personaLevel(cells []tidy) map[string]bool {
	first := map[string]map[string]string{} // run → factor → first value
	out := map[string]bool{}
	for _, c := range cells {
		for k := range c.Pers {
			out[k] = true
		}
		m := first[c.Run]
		if m == nil {
			m = map[string]string{}
			first[c.Run] = m
		}
		for k, v := range c.F {
			if prev, ok := m[k]; !ok {
				m[k] = v
			} else if prev != v {
				out[k] = true
			}
		}
	}
	return out
}

// pairHolding is the default set of factors held fixed while a and b
// change ("all else equal"): when a and b are both run-level, the persona
// (the bystander is what the runs are compared on); then every other
// factor that varies and is crossed with a × b — each of its values meets
// every (a, b) combination in scope — except the reported (by) ones. A
// factor that is nested in a or b (a condition name, an outcome flag such
// as degeneration) cannot be held and is not; when a or b is
// persona-level, the other persona-level factors change with it and are
// not held either. Cells the default leaves apart are a scope error that
// asks for holding=.
func pairHolding(cells []tidy, values map[string][]string, a, b, by []string) []string {
	pl := personaLevel(cells)
	personaChanges := false
	for _, f := range append(append([]string{}, a...), b...) {
		if pl[f] {
			personaChanges = true
		}
	}
	combos := map[string]bool{}
	with := map[string]map[string]map[string]bool{} // factor → value → (a, b) combinations
	for _, c := range cells {
		av, ok1 := joinKey(c.F, a)
		bv, ok2 := joinKey(c.F, b)
		if !ok1 || !ok2 {
			continue
		}
		ab := av + "\x00" + bv
		combos[ab] = true
		for k, v := range c.F {
			if with[k] == nil {
				with[k] = map[string]map[string]bool{}
			}
			if with[k][v] == nil {
				with[k][v] = map[string]bool{}
			}
			with[k][v][ab] = true
		}
	}
	crossed := func(k string) bool {
		for _, abs := range with[k] {
			if len(abs) != len(combos) {
				return false
			}
		}
		return len(with[k]) > 1
	}
	var out []string
	for k, v := range values {
		switch {
		case len(v) < 2 || contains(a, k) || contains(b, k) || contains(by, k):
		case k == "persona" && !personaChanges:
			out = append(out, k)
		case personaChanges && pl[k]:
		case crossed(k):
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// twoFactorParams parses a and b (each one factor or several joined with
// +), by and holding, and checks them against the design in scope.
func twoFactorParams(p Params, cells []tidy, values map[string][]string) (a, b, by, holding []string, err error) {
	if p.Str("a") == "" || p.Str("b") == "" {
		return nil, nil, nil, nil, fmt.Errorf("%w a, b: name the two factors (factors here: %s)", ErrBadParam, factorList(values))
	}
	a, b = strings.Split(p.Str("a"), "+"), strings.Split(p.Str("b"), "+")
	for _, f := range a {
		if contains(b, f) {
			return nil, nil, nil, nil, fmt.Errorf("%w a=%s b=%s: factor %q is in both", ErrBadParam, p.Str("a"), p.Str("b"), f)
		}
	}
	if err := requireFactors("a", a, values); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := requireFactors("b", b, values); err != nil {
		return nil, nil, nil, nil, err
	}
	by = p.List("by")
	if p.Str("by") == ByDefault {
		by = nil
		if len(values["source"]) > 0 && !contains(a, "source") && !contains(b, "source") {
			by = []string{"source"}
		}
	}
	if err := requireFactors("by", by, values); err != nil {
		return nil, nil, nil, nil, err
	}
	if p.Str("holding") == ByDefault {
		holding = pairHolding(cells, values, a, b, by)
	} else {
		holding = p.List("holding")
	}
	if err := requireFactors("holding", holding, values); err != nil {
		return nil, nil, nil, nil, err
	}
	return a, b, by, holding, nil
}

// ByDefault is the by/holding value that asks for the design's default.
const ByDefault = "auto"

// measuredTwice is the error for two cells at one design point: the scope
// holds a factor that tells them apart and is neither changed nor held.
func measuredTwice(where string, x, y tidy) error {
	return fmt.Errorf("%w: %s is measured twice (persona %s in run %s and persona %s in run %s): add the factor that tells them apart to holding= or by=, or narrow the scope (--run, --seed, --where)",
		ErrScope, where, x.Persona, x.Run, y.Persona, y.Run)
}

// groupsBy says how rows are grouped.
func groupsBy(by []string) string {
	if len(by) == 0 {
		return "nothing (one group, all)"
	}
	return strings.Join(by, ", ")
}
