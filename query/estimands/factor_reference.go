package estimands

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Shared pieces of the reference-effect estimands (factor-ranking,
// factor-permutation). A cell's effect is |V(cell) − V(reference)|, where
// the reference is the cell with the same matched factors (by ∪ over) that
// lacks the changed factors (ref=absent: #81's pure noun "You are a chef."
// against "…a chef who is …") or has them at one value (ref=VALUE); with
// no ref the effect is V itself.

// refEffect is one cell's effect (a fraction) and its reference (nil
// without one).
type refEffect struct {
	cell   tidy
	ref    *tidy
	effect float64
}

// refParams are the parsed parameters of a reference-effect estimand.
type refParams struct {
	a      []string // the factor whose values are compared (a+b: several)
	change []string // the factors whose change is the effect (= a for factor-ranking)
	ref    string   // "", RefAbsent or a value of change ("Openness/L1")
	by     []string // reported separately
	over   []string // what the mean runs over; matched between a cell and its reference
	drop   []string // two factors: cells where they are equal are dropped
	val    func(tidy) float64
}

// match is what a cell shares with its reference.
func (rp refParams) match() []string { return append(append([]string{}, rp.by...), rp.over...) }

// parseRefParams reads a, the changed factors (changeParam's value, or a
// when changeParam is empty or unset), ref, by, over, drop_equal and value,
// and checks every named factor against the design in scope.
func parseRefParams(p Params, cells []tidy, values map[string][]string, changeParam string) (refParams, error) {
	var rp refParams
	if p.Str("a") == "" {
		return rp, fmt.Errorf("%w a: name the factor whose values are compared (factors here: %s)", ErrBadParam, factorList(values))
	}
	rp.a = strings.Split(p.Str("a"), "+")
	rp.change = rp.a
	if changeParam != "" && p.Str(changeParam) != "" {
		rp.change = strings.Split(p.Str(changeParam), "+")
	}
	if err := requireFactors("a", rp.a, values); err != nil {
		return rp, err
	}
	if err := requireFactors(orDefault(changeParam, "a"), rp.change, values); err != nil {
		return rp, err
	}
	rp.ref = p.Str("ref")
	if rp.drop = p.List("drop_equal"); len(rp.drop) != 0 && (len(rp.drop) != 2 || rp.drop[0] == rp.drop[1]) {
		return rp, fmt.Errorf("%w drop_equal=%q: want two different factors, e.g. noun,source", ErrBadParam, p.Str("drop_equal"))
	}
	if err := requireFactors("drop_equal", rp.drop, values); err != nil {
		return rp, err
	}
	changed := append(append([]string{}, rp.a...), rp.change...)
	explicitOver := p.Str("over") != ByDefault
	if explicitOver {
		rp.over = p.List("over")
	}
	rp.by = p.List("by")
	if p.Str("by") == ByDefault {
		rp.by = nil
		if len(values["source"]) > 0 && !contains(changed, "source") && !contains(rp.over, "source") {
			rp.by = []string{"source"}
		}
	}
	if err := requireFactors("by", rp.by, values); err != nil {
		return rp, err
	}
	if !explicitOver {
		rp.over = defaultOver(cells, values, rp.change, append(append([]string{}, rp.a...), rp.by...), rp.ref)
	}
	if err := requireFactors("over", rp.over, values); err != nil {
		return rp, err
	}
	for _, f := range rp.match() {
		if contains(changed, f) {
			return rp, fmt.Errorf("%w: factor %q is both changed (a=%s) and matched (by/over): a cell and its reference cannot share it", ErrBadParam, f, p.Str("a"))
		}
	}
	var err error
	rp.val, err = cellValue(p)
	return rp, err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// isRef says whether c is a reference cell of ref for the changed factors.
func isRef(c tidy, change []string, ref string) bool {
	switch ref {
	case "":
		return false
	case RefAbsent:
		for _, f := range change {
			if _, ok := c.F[f]; ok {
				return false
			}
		}
		return true
	}
	v, ok := joinKey(c.F, change)
	return ok && v == ref
}

// defaultOver is what the mean runs over when over=auto: every factor
// that varies in scope, other than the changed and excluded ones, that
// every compared cell and reference carries (a factor some cells lack
// would leave them out), and on which the cells and their references meet
// (some value of it is on both sides). A factor that always differs between a cell and its reference
// (the persona, or #81's kind A1 against A2) cannot be matched and is
// left out. Without a reference every such factor is kept, the persona
// among them.
func defaultOver(cells []tidy, values map[string][]string, change, exclude []string, ref string) []string {
	var out []string
	for _, k := range sortedNames(values) {
		if len(values[k]) < 2 || contains(change, k) || contains(exclude, k) {
			continue
		}
		effSide, refSide := map[string]bool{}, map[string]bool{}
		everywhere := true
		for _, c := range cells {
			isR := isRef(c, change, ref)
			_, has := joinKey(c.F, change)
			if !isR && !has {
				continue
			}
			v, ok := c.F[k]
			if !ok {
				everywhere = false
				break
			}
			if isR {
				refSide[v] = true
			} else {
				effSide[v] = true
			}
		}
		if !everywhere {
			continue
		}
		if ref == "" {
			out = append(out, k)
			continue
		}
		for v := range effSide {
			if refSide[v] {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

func sortedNames(values map[string][]string) []string {
	out := make([]string, 0, len(values))
	for k := range values {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// dropEqual leaves out the cells whose two drop factors are equal (#81's
// diagonal: the noun that is the source).
func dropEqual(cells []tidy, drop []string) ([]tidy, int) {
	if len(drop) != 2 {
		return cells, 0
	}
	out := make([]tidy, 0, len(cells))
	for _, c := range cells {
		x, okX := c.F[drop[0]]
		y, okY := c.F[drop[1]]
		if okX && okY && x == y {
			continue
		}
		out = append(out, c)
	}
	return out, len(cells) - len(out)
}

// referenceEffects is every cell's effect: cells with the changed factors
// (other than the reference value) and the matched ones, each against the
// cell with the same matched factors that is its reference. Cells without
// a reference in scope are counted in missing. Two cells at one point are
// a scope error; a reference value no cell has is a parameter error.
func referenceEffects(cells []tidy, rp refParams) (out []refEffect, missing int, err error) {
	match := rp.match()
	if rp.ref != "" && rp.ref != RefAbsent {
		var changeVals []string
		found := false
		for _, c := range cells {
			if cv, ok := joinKey(c.F, rp.change); ok {
				found = found || cv == rp.ref
				if !contains(changeVals, cv) {
					changeVals = append(changeVals, cv)
				}
			}
		}
		if !found {
			return nil, 0, fmt.Errorf("%w ref=%q: no cell has %s=%s in scope (values: %s)", ErrBadParam, rp.ref, strings.Join(rp.change, "+"), rp.ref,
				strings.Join(orderGroupKeys(changeVals, rp.change, nil), ", "))
		}
	}
	if rp.ref == RefAbsent {
		found := false
		for _, c := range cells {
			found = found || isRef(c, rp.change, rp.ref)
		}
		if !found {
			return nil, 0, fmt.Errorf("%w: ref=absent needs reference cells without %s, and every cell in scope has it (ref= a value of it, or empty for none)", ErrNoData, strings.Join(rp.change, "+"))
		}
	}
	at := func(m string) string {
		if len(match) == 0 {
			return "(nothing matched)"
		}
		return "at " + strings.Join(match, "+") + "=" + m
	}
	refs := map[string]tidy{}
	type pending struct {
		c   tidy
		key string
	}
	var eff []pending
	seen := map[string]tidy{}
	for _, c := range cells {
		m, ok := joinKey(c.F, match)
		if !ok {
			continue
		}
		cv, hasChange := joinKey(c.F, rp.change)
		if isRef(c, rp.change, rp.ref) {
			if prev, dup := refs[m]; dup {
				return nil, 0, measuredTwiceOver(fmt.Sprintf("the reference (%s) %s", refWhat(rp), at(m)), prev, c)
			}
			refs[m] = c
			continue
		}
		if !hasChange {
			continue
		}
		if _, okA := joinKey(c.F, rp.a); !okA {
			continue
		}
		k := m + "\x00" + cv
		if prev, dup := seen[k]; dup {
			return nil, 0, measuredTwiceOver(fmt.Sprintf("%s=%s %s", strings.Join(rp.change, "+"), cv, at(m)), prev, c)
		}
		seen[k] = c
		eff = append(eff, pending{c, m})
	}
	for _, e := range eff {
		if rp.ref == "" {
			out = append(out, refEffect{cell: e.c, effect: rp.val(e.c)})
			continue
		}
		r, ok := refs[e.key]
		if !ok {
			missing++
			continue
		}
		out = append(out, refEffect{cell: e.c, ref: &r, effect: abs(rp.val(e.c) - rp.val(r))})
	}
	if len(out) == 0 {
		return nil, missing, fmt.Errorf("%w: no cell with %s has its reference (%s, matched on %s) in scope", ErrNoData, strings.Join(rp.change, "+"), refWhat(rp), orNone(strings.Join(match, ", ")))
	}
	return out, missing, nil
}

// refWhat says what the reference is, for notes and errors.
func refWhat(rp refParams) string {
	switch rp.ref {
	case "":
		return "none: the effect is the value itself"
	case RefAbsent:
		return "the cell without " + strings.Join(rp.change, "+")
	}
	return "the cell with " + strings.Join(rp.change, "+") + "=" + rp.ref
}

// measuredTwiceOver is measuredTwice for the reference estimands, whose
// matched factors are by= and over=.
func measuredTwiceOver(where string, x, y tidy) error {
	return fmt.Errorf("%w: %s is measured twice (persona %s in run %s and persona %s in run %s): add the factor that tells them apart to over= or by=, or narrow the scope (--run, --seed, --where)",
		ErrScope, where, x.Persona, x.Run, y.Persona, y.Run)
}

// sortEffects orders effects by the factors' value orders (the preset's
// where it has one), then persona and run: a stable order for anything
// that depends on it (a permutation test's shuffles).
func sortEffects(effs []refEffect, factors []string) {
	rank := make([]map[string]int, len(factors))
	for j, f := range factors {
		var vals []string
		for _, e := range effs {
			if v, ok := e.cell.F[f]; ok && !contains(vals, v) {
				vals = append(vals, v)
			}
		}
		rank[j] = map[string]int{}
		for i, v := range orderValues(f, vals) {
			rank[j][v] = i
		}
	}
	key := func(e refEffect, j int) int {
		if v, ok := e.cell.F[factors[j]]; ok {
			return rank[j][v]
		}
		return -1
	}
	sort.SliceStable(effs, func(x, y int) bool {
		for j := range factors {
			if a, b := key(effs[x], j), key(effs[y], j); a != b {
				return a < b
			}
		}
		if effs[x].cell.Persona != effs[y].cell.Persona {
			return effs[x].cell.Persona < effs[y].cell.Persona
		}
		return effs[x].cell.Run < effs[y].cell.Run
	})
}

// gridTidy is the grid's counted cells of the given sources as tidy
// observations (what loadTidy makes of the same cells), in source order
// then bystander key: how the #81 estimands hand their scoped grid to the
// generic ones.
func gridTidy(g *Grid, srcs []string) []tidy {
	interned := map[string]map[string]bool{}
	var out []tidy
	for _, s := range srcs {
		keys := make([]string, 0, len(g.cells[s]))
		for b := range g.cells[s] {
			keys = append(keys, b)
		}
		sort.Strings(keys)
		for _, b := range keys {
			c := g.cells[s][b]
			f := map[string]string{"persona": b, "source": s}
			if c.Seed != nil {
				f["seed"] = strconv.FormatInt(*c.Seed, 10)
			}
			for k, v := range c.Factors {
				f[k] = v
			}
			out = append(out, tidy{Persona: b, Run: c.RunID, SourcePersona: c.SourcePersona, Pers: personaSet(c.Factors, interned), F: f,
				V: c.Delta(), Rate: c.Rate, Found: c.Found, Total: c.Total})
		}
	}
	return out
}
