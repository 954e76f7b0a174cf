package query

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Scope selects the runs and cells an analysis reads, within one
// experiment. Empty lists select everything; lists are ORed within a field
// and ANDed across fields. Retracted runs are left out unless
// IncludeRetracted is set (and each one left out is named in the notes).
type Scope struct {
	Sweeps  []string `json:"sweeps,omitempty"`
	Runs    []string `json:"runs,omitempty"`
	Seeds   []int64  `json:"seeds,omitempty"`
	Sources []string `json:"sources,omitempty"` // source persona keys ("src_chef") or their names without "src_" ("chef")
	// Where filters on design factors, run- or persona-level:
	// {"trait": ["Agreeableness"], "lr": ["1e-4", "5e-4"]}.
	Where            map[string][]string `json:"where,omitempty"`
	IncludeRetracted bool                `json:"include_retracted,omitempty"`
}

// Empty reports whether the scope selects everything (retracted runs aside).
func (s Scope) Empty() bool {
	return len(s.Sweeps) == 0 && len(s.Runs) == 0 && len(s.Seeds) == 0 && len(s.Sources) == 0 && len(s.Where) == 0
}

// String renders the scope as the flags that select it ("" when empty).
func (s Scope) String() string {
	var parts []string
	add := func(name string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, "--"+name+" "+strings.Join(vals, ","))
		}
	}
	add("sweep", s.Sweeps)
	add("run", s.Runs)
	var seeds []string
	for _, v := range s.Seeds {
		seeds = append(seeds, strconv.FormatInt(v, 10))
	}
	add("seed", seeds)
	add("source", s.Sources)
	keys := make([]string, 0, len(s.Where))
	for k := range s.Where {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, "--where "+k+"="+strings.Join(s.Where[k], "|"))
	}
	if s.IncludeRetracted {
		parts = append(parts, "--include-retracted")
	}
	return strings.Join(parts, " ")
}

// ParseWhere parses "factor=value" filters; a value may list alternatives
// separated by '|' ("lr=1e-4|5e-4"); repeated factors add alternatives.
func ParseWhere(filters []string) (map[string][]string, error) {
	if len(filters) == 0 {
		return nil, nil
	}
	out := map[string][]string{}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%w: --where %q: want factor=value (e.g. trait=Agreeableness, lr=1e-4|5e-4)", ErrBadRequest, f)
		}
		for _, alt := range strings.Split(v, "|") {
			if alt = strings.TrimSpace(alt); alt == "" {
				return nil, fmt.Errorf("%w: --where %q: an alternative is empty (alternatives: %s=a|b)", ErrBadRequest, f, k)
			}
			out[k] = append(out[k], alt)
		}
	}
	return out, nil
}

// ParseSeeds parses a comma-separated seed list.
func ParseSeeds(list string) ([]int64, error) {
	if list == "" {
		return nil, nil
	}
	var out []int64
	for _, s := range strings.Split(list, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: seed %q is not an integer", ErrBadRequest, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// SplitList splits a comma-separated list, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// SourceName is a source persona key without the conventional "src_"
// prefix ("src_chef" → "chef"); other keys are returned unchanged.
func SourceName(key string) string {
	if n, ok := strings.CutPrefix(key, "src_"); ok && n != "" {
		return n
	}
	return key
}

func matchSource(want []string, key string) bool {
	for _, w := range want {
		if w == key || w == SourceName(key) {
			return true
		}
	}
	return false
}

// keepRun applies the run-level parts of the scope (everything but the
// persona-level factors of Where, which keepCell checks).
func (s Scope) keepRun(r runInfo) (bool, string) {
	switch {
	case r.retracted && !s.IncludeRetracted:
		return false, "retracted"
	case len(s.Runs) > 0 && !contains(s.Runs, r.id):
		return false, ""
	case len(s.Sweeps) > 0 && !contains(s.Sweeps, r.sweep):
		return false, ""
	case len(s.Sources) > 0 && !r.isBase && !matchSource(s.Sources, r.source):
		return false, ""
	case len(s.Seeds) > 0 && !r.isBase && (r.seed == nil || !containsInt(s.Seeds, *r.seed)):
		return false, ""
	}
	for k, vals := range s.Where {
		if v, ok := r.factor(k); ok && !r.isBase && !contains(vals, v) {
			return false, ""
		}
	}
	return true, ""
}

// keepCell applies the factor filters to a cell: a filter on a factor
// neither the run nor the cell has drops the cell (the scope asked for
// something it does not have).
func (s Scope) keepCell(r runInfo, c *Cell) bool {
	for k, vals := range s.Where {
		if _, ok := r.factor(k); ok {
			continue // checked by keepRun
		}
		v, ok := c.Factors[k]
		if !ok || !contains(vals, v) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsInt(list []int64, v int64) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
