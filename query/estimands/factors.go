package estimands

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"leakscope/presets/i81"
	"leakscope/query"
	"leakscope/query/stats"
)

// A tidy cell is one (run, bystander) observation with every design factor
// as a column (Wickham 2014): the run's source, seed and factors and the
// bystander's factors. V is the value an effect compares (the
// base-subtracted rate where a base exists, else the rate; a fraction).
type tidy struct {
	Persona string
	Run     string // the run the cell was measured in
	// SourcePersona is the run's source persona key ("" when none), as
	// the cosines table spells it.
	SourcePersona string
	// Pers names the persona-level factors (the bystander's, persona
	// itself among them); the others in F are the run's. Shared between
	// cells with the same factor names.
	Pers  map[string]bool
	F     map[string]string
	V     float64
	Rate  float64
	Found int
	Total int // 0 for a rate-only cell (n unknown)
}

// orderValues sorts a factor's values: the preset's order first (its
// nouns, traits, levels, sources as the authors list them), then the
// others numerically or in natural order (query.OrderValues).
func orderValues(factor string, vals []string) []string {
	return query.OrderValues(vals, i81.Preset.Order(factor)).Values
}

// joinKey is the value of several factors at once ("Openness/L1").
func joinKey(f map[string]string, names []string) (string, bool) {
	parts := make([]string, len(names))
	for i, n := range names {
		v, ok := f[n]
		if !ok {
			return "", false
		}
		parts[i] = v
	}
	return strings.Join(parts, "/"), true
}

// factorEffects is the effect of changing factor (one or several factors
// taken together) with the holding factors fixed, as medians of absolute
// differences (EXPERIMENT.md §6.3 generalised): in every context (a value
// of holding), for every reference value of factor that ref accepts, the
// median over the other values present of |V(ref) − V(other)|. It returns
// these per-reference medians; the effect is their median. Two cells with
// the same context and value are an error (the scope holds two runs).
func factorEffects(cells []tidy, factor, holding []string, ref func(tidy) bool) ([]float64, error) {
	type ctxVals struct {
		order []string
		by    map[string]tidy
	}
	ctxs := map[string]*ctxVals{}
	var order []string
	for _, c := range cells {
		h, ok1 := joinKey(c.F, holding)
		v, ok2 := joinKey(c.F, factor)
		if !ok1 || !ok2 {
			continue
		}
		cv := ctxs[h]
		if cv == nil {
			cv = &ctxVals{by: map[string]tidy{}}
			ctxs[h] = cv
			order = append(order, h)
		}
		if prev, dup := cv.by[v]; dup {
			return nil, fmt.Errorf("%w: %s=%s at %s=%s is measured twice (%s and %s): narrow the scope (--run, --seed, --where)",
				ErrScope, strings.Join(factor, "+"), v, strings.Join(holding, "+"), h, prev.Persona, c.Persona)
		}
		cv.by[v] = c
		cv.order = append(cv.order, v)
	}
	var out []float64
	for _, h := range order {
		cv := ctxs[h]
		for _, v := range cv.order {
			r := cv.by[v]
			if !ref(r) {
				continue
			}
			var d []float64
			for _, o := range cv.order {
				if o != v {
					d = append(d, math.Abs(r.V-cv.by[o].V))
				}
			}
			if len(d) > 0 {
				out = append(out, stats.Percentile(d, 50))
			}
		}
	}
	return out, nil
}

// slopeGroup is one series for a slope: the cells of one group ordered by
// the slope factor.
type slopeGroup struct {
	Key    string
	X      []float64
	Values []string
	Rates  []float64
	Totals []int // nil when any point is rate-only
}

// Scales of a slope's x axis.
const (
	ScaleAuto   = "auto"
	ScaleLinear = "linear" // x = the value as a number
	ScaleLog10  = "log10"  // x = log10(value): learning rates
	ScaleRank   = "rank"   // x = 1..k in the factor's order (levels L1..L5)
)

// slopeGroups splits cells by the group factors and orders each group by
// the slope factor. A group lacking any value of the factor that the scope
// holds is incomplete and reported, not fitted (H3 fits only complete
// triples). scale auto picks rank for non-numeric values, log10 for
// positive numbers spanning two decades or more, else linear.
func slopeGroups(cells []tidy, factor string, by []string, groupOrder []string, scale string) ([]slopeGroup, []string, string, error) {
	seen := map[string]bool{}
	var vals []string
	for _, c := range cells {
		if v, ok := c.F[factor]; ok && !seen[v] {
			seen[v] = true
			vals = append(vals, v)
		}
	}
	vals = orderValues(factor, vals)
	nums := make([]float64, len(vals))
	numeric := true
	for i, v := range vals {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			numeric = false
			break
		}
		nums[i] = f
	}
	if scale == ScaleAuto {
		scale = ScaleRank
		if numeric {
			scale = ScaleLinear
			if nums[0] > 0 && nums[len(nums)-1]/nums[0] >= 100 {
				scale = ScaleLog10
			}
		}
	}
	x := map[string]float64{}
	for i, v := range vals {
		switch scale {
		case ScaleRank:
			x[v] = float64(i + 1)
		case ScaleLinear, ScaleLog10:
			if !numeric {
				return nil, nil, "", fmt.Errorf("%w scale=%s: factor %s has values that are not numbers (%s)", ErrBadParam, scale, factor, strings.Join(vals, ", "))
			}
			x[v] = nums[i]
			if scale == ScaleLog10 {
				if nums[i] <= 0 {
					return nil, nil, "", fmt.Errorf("%w scale=log10: factor %s has a value <= 0", ErrBadParam, factor)
				}
				x[v] = math.Log10(nums[i])
			}
		default:
			return nil, nil, "", fmt.Errorf("%w scale=%q: want auto, linear, log10 or rank", ErrBadParam, scale)
		}
	}
	groups := map[string]map[string]tidy{}
	var keys []string
	for _, c := range cells {
		v, ok := c.F[factor]
		k, ok2 := joinKey(c.F, by)
		if !ok || !ok2 {
			continue
		}
		if groups[k] == nil {
			groups[k] = map[string]tidy{}
			keys = append(keys, k)
		}
		if prev, dup := groups[k][v]; dup {
			return nil, nil, "", fmt.Errorf("%w: %s=%s in group %s=%s is measured twice (%s and %s): add the factor that tells them apart to by=, or narrow the scope",
				ErrScope, factor, v, strings.Join(by, "+"), k, prev.Persona, c.Persona)
		}
		groups[k][v] = c
	}
	keys = orderGroupKeys(keys, by, groupOrder)
	var out []slopeGroup
	var incomplete []string
	for _, k := range keys {
		g := slopeGroup{Key: k, Totals: []int{}}
		for _, v := range vals {
			c, ok := groups[k][v]
			if !ok {
				continue
			}
			g.X, g.Values, g.Rates = append(g.X, x[v]), append(g.Values, v), append(g.Rates, c.Rate)
			if c.Total == 0 {
				g.Totals = nil
			} else if g.Totals != nil {
				g.Totals = append(g.Totals, c.Total)
			}
		}
		if len(g.X) < len(vals) || len(g.X) < 2 {
			incomplete = append(incomplete, k)
			continue
		}
		out = append(out, g)
	}
	return out, incomplete, scale, nil
}

// orderGroupKeys orders "a/b/c" group keys factor by factor, each by its
// factor's order (the preset's where it has one).
func orderGroupKeys(keys, by, _ []string) []string {
	split := make([][]string, len(keys))
	for i, k := range keys {
		split[i] = strings.Split(k, "/")
	}
	rank := make([]map[string]int, len(by))
	for j, f := range by {
		var vals []string
		seen := map[string]bool{}
		for _, s := range split {
			if j < len(s) && !seen[s[j]] {
				seen[s[j]] = true
				vals = append(vals, s[j])
			}
		}
		rank[j] = map[string]int{}
		for i, v := range orderValues(f, vals) {
			rank[j][v] = i
		}
	}
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		for j := range by {
			ra, rb := rank[j][split[idx[a]][j]], rank[j][split[idx[b]][j]]
			if ra != rb {
				return ra < rb
			}
		}
		return false
	})
	out := make([]string, len(keys))
	for i, k := range idx {
		out[i] = keys[k]
	}
	return out
}
