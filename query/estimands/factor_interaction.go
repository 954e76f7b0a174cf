package estimands

import (
	"context"
	"fmt"
	"math"
	"strings"

	"leakscope/query/stats"
)

func init() {
	register(&Estimand{
		Name: "factor-interaction",
		Doc: "interaction of two design factors a and b (run- or persona-level): per group and held context, for every value of b the range (max − min) over a's values " +
			"(statistic a_range, pp); how much that range moves over b (range_spread, pp); and the largest 2×2 interaction contrast " +
			"(V(a,b) − V(a',b)) − (V(a,b') − V(a',b')) over pairs of a and b values (max_contrast, pp) with a 95% interval where the four cells have counts. " +
			"Values are fractions in [0,1] before ×100; rate-only cells (n unknown) get ranges and contrasts but no interval",
		Source: "EXPERIMENT.md §6.6 (the #81 interaction figure is a=noun, b=trait+level, by=source, value=delta: a_range is its noun range); " +
			"interval: Price & Bonett (2004), CSDA 45:449 (adjusted Wald for a linear function of k binomial proportions: +2/k successes, +4/k trials); issue 17 item 3",
		Params: []Param{{Name: "a", Default: "", Doc: "the factor whose range is taken; several joined with + (trait+level)"},
			{Name: "b", Default: "", Doc: "the factor the range is compared over; several joined with +"},
			pairByParam, pairHoldingParam,
			valueParam(ValueDelta), detectorParam},
		run: onTidy(factorInteraction),
	})
}

// interactionTable is one (group, context) of the design: cell by b value
// then a value, with both value lists in the factors' order.
type interactionTable struct {
	group, context string
	at             map[string]map[string]tidy // b value → a value → cell
	as, bs         []string
}

// twoFactor is what factor-interaction and factor-swap start from: the
// factors a and b, the grouping and held factors, the cell value and the
// interaction tables.
type twoFactor struct {
	a, b, by, holding []string
	val               func(tidy) float64
	tables            []*interactionTable
}

func twoFactorSetup(cells []tidy, values map[string][]string, p Params) (twoFactor, error) {
	var s twoFactor
	var err error
	if s.a, s.b, s.by, s.holding, err = twoFactorParams(p, cells, values); err != nil {
		return s, err
	}
	if s.val, err = cellValue(p); err != nil {
		return s, err
	}
	s.tables, err = interactionTables(cells, s.a, s.b, s.by, s.holding)
	return s, err
}

func factorInteraction(cells []tidy, values map[string][]string, p Params) (*Result, error) {
	s, err := twoFactorSetup(cells, values, p)
	if err != nil {
		return nil, err
	}
	a, b, by, holding, val, tables := s.a, s.b, s.by, s.holding, s.val, s.tables
	res := &Result{Columns: []string{"group", "context", "statistic", "b_value", "value_pp", "ci_low_pp", "ci_high_pp", "n", "detail", "rate_only"}}
	an, bn := strings.Join(a, "+"), strings.Join(b, "+")
	undefined, rateOnlyContrast := 0, 0
	for _, t := range tables {
		type rng struct {
			b     string
			width float64
		}
		var ranges []rng
		for _, bv := range t.bs {
			row := t.at[bv]
			lo, hi := math.Inf(1), math.Inf(-1)
			var loA, hiA string
			n, rateOnly := 0, false
			for _, av := range t.as {
				c, ok := row[av]
				if !ok {
					continue
				}
				v := val(c)
				if v < lo {
					lo, loA = v, av
				}
				if v > hi {
					hi, hiA = v, av
				}
				n++
				rateOnly = rateOnly || c.Total == 0
			}
			if n == 0 {
				continue
			}
			var width any
			detail := fmt.Sprintf("one value of %s: no range", an)
			if n >= 2 {
				width = pp(hi - lo)
				ranges = append(ranges, rng{bv, hi - lo})
				detail = fmt.Sprintf("lowest %s=%s, highest %s=%s", an, loA, an, hiA)
			}
			res.Rows = append(res.Rows, []any{t.group, t.context, "a_range", bv, width, nil, nil, n, detail, rateOnly})
		}
		if len(ranges) >= 2 {
			lo, hi := ranges[0], ranges[0]
			for _, r := range ranges[1:] {
				if r.width < lo.width {
					lo = r
				}
				if r.width > hi.width {
					hi = r
				}
			}
			res.Rows = append(res.Rows, []any{t.group, t.context, "range_spread", "", pp(hi.width - lo.width), nil, nil, len(ranges),
				fmt.Sprintf("the range over %s is smallest at %s=%s, largest at %s=%s", an, bn, lo.b, bn, hi.b), false})
		}
		mc, ok := maxContrast(t, val)
		if !ok {
			undefined++
			res.Rows = append(res.Rows, []any{t.group, t.context, "max_contrast", "", nil, nil, nil, 0,
				fmt.Sprintf("no 2×2 of %s × %s values with all four cells measured", an, bn), false})
			continue
		}
		var lo, hi any
		if mc.hasCI {
			lo, hi = pp(mc.lo), pp(mc.hi)
		} else {
			rateOnlyContrast++
		}
		res.Rows = append(res.Rows, []any{t.group, t.context, "max_contrast", mc.b1 + " vs " + mc.b2, pp(mc.c), lo, hi, mc.tetrads,
			fmt.Sprintf("(%s=%s − %s=%s) at %s=%s minus at %s=%s", an, mc.a1, an, mc.a2, bn, mc.b1, bn, mc.b2), !mc.hasCI})
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("%w: no cell has values of both %s and %s with %s in scope", ErrNoData, an, bn, orNoneList(append(append([]string{}, by...), holding...)))
	}
	res.Notes = append(res.Notes,
		fmt.Sprintf("groups by %s; held fixed: %s; value = %s; every value_pp is a difference of fractions ×100 (percentage points)", groupsBy(by), orNoneList(holding), p.Str("value")),
		"max_contrast is the largest |2×2 contrast| over every pair of a values and pair of b values (n = how many 2×2s were compared), oriented to be positive; "+
			"its 95% interval (Price & Bonett 2004, base rates taken as fixed) holds for that one contrast and is not adjusted for picking the largest")
	if undefined > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d group/context tables have no complete 2×2: max_contrast undefined there", undefined))
	}
	if rateOnlyContrast > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d contrasts involve rate-only cells (n unknown): shown without an interval", rateOnlyContrast))
	}
	return res, nil
}

// interactionTables splits the cells by group and held context, then by b
// and a value; two cells at one point are a scope error.
func interactionTables(cells []tidy, a, b, by, holding []string) ([]*interactionTable, error) {
	byKey := map[string]*interactionTable{}
	var groups, contexts []string
	for _, c := range cells {
		g, ok1 := joinKey(c.F, by)
		h, ok2 := joinKey(c.F, holding)
		av, ok3 := joinKey(c.F, a)
		bv, ok4 := joinKey(c.F, b)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			continue
		}
		if len(by) == 0 {
			g = "all"
		}
		k := g + "\x00" + h
		t := byKey[k]
		if t == nil {
			t = &interactionTable{group: g, context: h, at: map[string]map[string]tidy{}}
			byKey[k] = t
			if !contains(groups, g) {
				groups = append(groups, g)
			}
			if !contains(contexts, h) {
				contexts = append(contexts, h)
			}
		}
		if t.at[bv] == nil {
			t.at[bv] = map[string]tidy{}
			t.bs = append(t.bs, bv)
		}
		if prev, dup := t.at[bv][av]; dup {
			return nil, measuredTwice(fmt.Sprintf("%s=%s, %s=%s (group %s, held %s)", strings.Join(a, "+"), av, strings.Join(b, "+"), bv, g, orNone(h)), prev, c)
		}
		t.at[bv][av] = c
		if !contains(t.as, av) {
			t.as = append(t.as, av)
		}
	}
	groups, contexts = orderGroupKeys(groups, by, nil), orderGroupKeys(contexts, holding, nil)
	var out []*interactionTable
	for _, g := range groups {
		for _, h := range contexts {
			if t := byKey[g+"\x00"+h]; t != nil {
				t.as, t.bs = orderGroupKeys(t.as, a, nil), orderGroupKeys(t.bs, b, nil)
				out = append(out, t)
			}
		}
	}
	return out, nil
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

type contrast struct {
	c, lo, hi      float64
	hasCI          bool
	a1, a2, b1, b2 string
	tetrads        int
}

// maxContrast is the largest |(V(a,b) − V(a',b)) − (V(a,b') − V(a',b'))|
// over the table's complete 2×2s, oriented positive, with the Price–Bonett
// interval of the rate contrast shifted by the (fixed) base contrast.
func maxContrast(t *interactionTable, val func(tidy) float64) (contrast, bool) {
	var best contrast
	found := false
	for i := 0; i < len(t.as); i++ {
		for j := i + 1; j < len(t.as); j++ {
			for k := 0; k < len(t.bs); k++ {
				for l := k + 1; l < len(t.bs); l++ {
					a1, a2, b1, b2 := t.as[i], t.as[j], t.bs[k], t.bs[l]
					q := [4]tidy{}
					var ok [4]bool
					q[0], ok[0] = t.at[b1][a1]
					q[1], ok[1] = t.at[b1][a2]
					q[2], ok[2] = t.at[b2][a1]
					q[3], ok[3] = t.at[b2][a2]
					if !ok[0] || !ok[1] || !ok[2] || !ok[3] {
						continue
					}
					best.tetrads++
					c := (val(q[0]) - val(q[1])) - (val(q[2]) - val(q[3]))
					coef := [4]float64{1, -1, -1, 1}
					if c < 0 {
						c, b1, b2 = -c, b2, b1
						coef = [4]float64{-1, 1, 1, -1}
					}
					if found && c <= best.c {
						continue
					}
					found = true
					n := best.tetrads
					best = contrast{c: c, a1: a1, a2: a2, b1: b1, b2: b2, tetrads: n}
					best.lo, best.hi, best.hasCI = contrastInterval(q, coef, c, val)
				}
			}
		}
	}
	return best, found
}

// contrastInterval is the Price–Bonett (2004) adjusted Wald 95% interval of
// Σ cᵢ·rateᵢ over k = 4 proportions (p̃ = (found + 2/k)/(n + 4/k)), shifted
// so that it brackets the contrast of the compared values (which differ
// from rates by fixed base rates). ok is false when any cell is rate-only.
func contrastInterval(q [4]tidy, coef [4]float64, c float64, val func(tidy) float64) (lo, hi float64, ok bool) {
	const k = 4.0
	adj, rateC, varSum := 0.0, 0.0, 0.0
	for i, x := range q {
		if x.Total == 0 {
			return 0, 0, false
		}
		pt := (float64(x.Found) + 2/k) / (float64(x.Total) + 4/k)
		adj += coef[i] * pt
		rateC += coef[i] * x.Rate
		varSum += coef[i] * coef[i] * pt * (1 - pt) / (float64(x.Total) + 4/k)
	}
	shift := c - rateC // the fixed base contrast (0 for value=rate)
	half := stats.Z95 * math.Sqrt(varSum)
	return adj + shift - half, adj + shift + half, true
}

// The grouping parameters of the two-factor estimands (factor-interaction,
// factor-head-to-head, factor-swap), read by twoFactorParams.
var (
	pairByParam      = Param{Name: "by", Default: ByDefault, Doc: "comma-separated factors reported separately (auto: source when it is not a or b; empty = one group)"}
	pairHoldingParam = Param{Name: "holding", Default: ByDefault, Doc: "comma-separated factors held fixed (auto: the persona when a and b are both run-level, and every other factor crossed with a × b; empty = none)"}
)

// onTidy runs an estimand that reads only the scope's tidy cells and its
// parameters.
func onTidy(f func([]tidy, map[string][]string, Params) (*Result, error)) func(context.Context, *Input) (*Result, error) {
	return func(ctx context.Context, in *Input) (*Result, error) {
		cells, values, err := loadTidy(ctx, in)
		if err != nil {
			return nil, err
		}
		return f(cells, values, in.Params)
	}
}
