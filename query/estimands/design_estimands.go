package estimands

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"leakscope/query"
	"leakscope/query/stats"
)

func init() {
	register(&Estimand{
		Name: "factor-effect",
		Doc: "the effect of changing one design factor (run- or persona-level, e.g. neg_set, noun, trait+level) with the others held: " +
			"per context, the median |Δrate| between the factor's values, then the median over contexts, in pp; " +
			"for a two-valued factor also the mean signed difference (second value − first) in pp",
		Source: "EXPERIMENT.md §6.3 (H2's noun and trait effects are this with the #81 preset's parameters), issue 17 (effect of the negative set)",
		Params: []Param{{Name: "factor", Default: "", Doc: "the factor changed; several joined with + (trait+level)"},
			{Name: "holding", Default: "", Doc: "comma-separated factors held fixed (default: source and persona, plus every other factor that varies)"},
			{Name: "by", Default: "source", Doc: "comma-separated factors to report separately (default source; empty = one row)"}, detectorParam},
		run: runFactorEffect,
	})
	register(&Estimand{
		Name: "factor-slope",
		Doc: "the OLS slope of the rate over an ordered factor (lr, epochs, level, …) per group; with counts, a binomial-bootstrap 95% CI of the slope " +
			"and whether |slope| exceeds half its width; rate-only series get the slope alone. Slope in rate (fraction) per x unit",
		Source: "EXPERIMENT.md §6.4 (H3 is this with factor=level, by=source,noun,trait, rank x, half-width rule, seed 1000)",
		Params: []Param{{Name: "factor", Default: "", Doc: "the ordered factor"},
			{Name: "by", Default: "", Doc: "comma-separated factors defining one series (default: source and persona, plus every other factor that varies)"},
			{Name: "scale", Default: ScaleAuto, Doc: "x axis: auto, linear, log10 (per decade) or rank (1..k in order)"},
			{Name: "bootstrap", Default: "1000", Doc: "bootstrap resamples per series"},
			{Name: "seed", Default: "1000", Doc: "RNG seed (PCG); series visited in factor order"}, detectorParam},
		run: runFactorSlope,
	})
}

// loadTidy reads the leakage matrix in scope as tidy observations: every
// cell with a rate, its run's source, seed and factors and the bystander's
// factors. Rate-only cells (n unknown) have Total 0.
func loadTidy(ctx context.Context, in *Input) ([]tidy, map[string][]string, error) {
	lk, err := in.Engine.Leakage(ctx, query.LeakageRequest{Experiment: in.Experiment, Detector: in.Params.Str("detector"), Scope: in.Scope})
	if err != nil {
		return nil, nil, err
	}
	var out []tidy
	values := map[string][]string{}
	runs := map[string]bool{}
	interned := map[string]map[string]bool{}
	for _, c := range lk.Cells {
		if c.Rate == nil || c.Missing {
			continue
		}
		runs[c.RunID] = true
		f := map[string]string{"persona": c.Persona}
		if c.SourcePersona != "" {
			f["source"] = query.SourceName(c.SourcePersona)
		}
		if c.Seed != nil {
			f["seed"] = strconv.FormatInt(*c.Seed, 10)
		}
		pf := c.Factors
		if len(pf) == 0 {
			pf = presetFactors(c.Persona)
		}
		pers := personaSet(pf, interned)
		for k, v := range pf {
			f[k] = v
		}
		for k, v := range c.RunFactors {
			f[k] = v
		}
		t := tidy{Persona: c.Persona, Run: c.RunID, SourcePersona: c.SourcePersona, F: f, Pers: pers, Rate: *c.Rate, V: *c.Rate}
		if c.RateMinusBase != nil {
			t.V = *c.RateMinusBase
		}
		if c.Found != nil && c.Total != nil {
			t.Found, t.Total = int(*c.Found), int(*c.Total)
		}
		for k, v := range f {
			if !contains(values[k], v) {
				values[k] = append(values[k], v)
			}
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("%w: experiment %q has no cell with a rate in scope %s", ErrNoData, in.Experiment, in.Scope.String())
	}
	in.tidyRuns, in.tidyCells = make([]string, 0, len(runs)), len(out)
	for r := range runs {
		in.tidyRuns = append(in.tidyRuns, r)
	}
	sort.Strings(in.tidyRuns)
	return out, values, nil
}

// factorNames lists the factors with values, and says which vary.
func factorList(values map[string][]string) string {
	var names []string
	for k, v := range values {
		if k != "persona" {
			names = append(names, fmt.Sprintf("%s (%d values)", k, len(v)))
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none: declare them at import (--factor, --design) or in the sweep file"
	}
	return strings.Join(names, ", ")
}

// requireFactors checks that every named factor has values in scope.
func requireFactors(param string, names []string, values map[string][]string) error {
	for _, n := range names {
		if len(values[n]) == 0 {
			return fmt.Errorf("%w %s: factor %q is not in this experiment's design in scope (factors: %s)", ErrBadParam, param, n, factorList(values))
		}
	}
	return nil
}

// defaultHolding is every factor that varies other than the changed ones
// and the reported ones: what "all else equal" means in this design.
func defaultHolding(values map[string][]string, changed, by []string) []string {
	var out []string
	for k, v := range values {
		if len(v) > 1 && !contains(changed, k) && !contains(by, k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func runFactorEffect(ctx context.Context, in *Input) (*Result, error) {
	cells, values, err := loadTidy(ctx, in)
	if err != nil {
		return nil, err
	}
	factor := strings.Split(in.Params.Str("factor"), "+")
	if in.Params.Str("factor") == "" {
		return nil, fmt.Errorf("%w factor: name the factor changed (factors here: %s)", ErrBadParam, factorList(values))
	}
	by := in.Params.List("by")
	if err := requireFactors("factor", factor, values); err != nil {
		return nil, err
	}
	if err := requireFactors("by", by, values); err != nil {
		return nil, err
	}
	holding := in.Params.List("holding")
	if holding == nil {
		holding = defaultHolding(values, factor, by)
	}
	if err := requireFactors("holding", holding, values); err != nil {
		return nil, err
	}
	groups, order := groupTidy(cells, by)
	res := &Result{Columns: []string{"group", "factor", "values", "effect_pp", "comparisons", "mean_signed_diff_pp", "rate_only_cells"}}
	for _, g := range order {
		gc := groups[g]
		eff, err := factorEffects(gc, factor, append(append([]string{}, holding...), by...), func(tidy) bool { return true })
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		var vals []string
		rateOnly := 0
		for _, c := range gc {
			if c.Total == 0 {
				rateOnly++
			}
			if v, ok := joinKey(c.F, factor); ok && !seen[v] {
				seen[v] = true
				vals = append(vals, v)
			}
		}
		vals = orderValues(strings.Join(factor, "+"), vals)
		var effect, signed any
		if len(eff) > 0 {
			effect = pp(stats.Percentile(eff, 50))
		}
		if len(vals) == 2 {
			if d, ok := meanSigned(gc, factor, append(append([]string{}, holding...), by...), vals); ok {
				signed = pp(d)
			}
		}
		res.Rows = append(res.Rows, []any{g, strings.Join(factor, "+"), strings.Join(vals, ","), effect, len(eff), signed, rateOnly})
		if len(eff) == 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("group %s: no context holds two values of %s with %s fixed — undefined", g, strings.Join(factor, "+"), strings.Join(holding, ", ")))
		}
	}
	res.Notes = append(res.Notes, fmt.Sprintf("held fixed: %s; Δ is the base-subtracted rate where a base run exists, else the rate; effects in percentage points", orNoneList(holding)))
	return res, nil
}

// meanSigned is the mean over contexts of V(second value) − V(first value).
func meanSigned(cells []tidy, factor, holding, vals []string) (float64, bool) {
	by := map[string]map[string]float64{}
	for _, c := range cells {
		h, ok1 := joinKey(c.F, holding)
		v, ok2 := joinKey(c.F, factor)
		if !ok1 || !ok2 {
			continue
		}
		if by[h] == nil {
			by[h] = map[string]float64{}
		}
		by[h][v] = c.V
	}
	sum, n := 0.0, 0
	for _, m := range by {
		a, okA := m[vals[0]]
		b, okB := m[vals[1]]
		if okA && okB {
			sum += b - a
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

func groupTidy(cells []tidy, by []string) (map[string][]tidy, []string) {
	groups := map[string][]tidy{}
	for _, c := range cells {
		k, ok := joinKey(c.F, by)
		if !ok {
			continue
		}
		if len(by) == 0 {
			k = "all"
		}
		groups[k] = append(groups[k], c)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	return groups, orderGroupKeys(keys, by, nil)
}

func orNoneList(l []string) string {
	if len(l) == 0 {
		return "nothing else varies"
	}
	return strings.Join(l, ", ")
}

func runFactorSlope(ctx context.Context, in *Input) (*Result, error) {
	cells, values, err := loadTidy(ctx, in)
	if err != nil {
		return nil, err
	}
	factor := in.Params.Str("factor")
	if factor == "" {
		return nil, fmt.Errorf("%w factor: name the ordered factor (factors here: %s)", ErrBadParam, factorList(values))
	}
	if err := requireFactors("factor", []string{factor}, values); err != nil {
		return nil, err
	}
	by := in.Params.List("by")
	if by == nil {
		by = append([]string{"source", "persona"}, defaultHolding(values, []string{factor, "source", "persona"}, nil)...)
		by = presentOnly(by, values)
	}
	if err := requireFactors("by", by, values); err != nil {
		return nil, err
	}
	b, seed, err := in.Params.Bootstrap()
	if err != nil {
		return nil, err
	}
	groups, incomplete, scale, err := slopeGroups(cells, factor, by, nil, in.Params.Str("scale"))
	if err != nil {
		return nil, err
	}
	rng := stats.NewRNG(seed)
	res := &Result{Columns: []string{"series", "factor", "values", "scale", "slope_per_unit", "boot_low", "boot_high", "passes_half_width", "points", "rate_only"}}
	rateOnly := 0
	for _, g := range groups {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		slope, err := stats.OLSSlope(g.X, g.Rates)
		if err != nil {
			return nil, err
		}
		var lo, hi, pass any
		if g.Totals != nil {
			boot, err := stats.BootstrapSlope(g.X, g.Rates, g.Totals, b, rng)
			if err != nil {
				return nil, err
			}
			l, h := stats.Percentile(boot, 2.5), stats.Percentile(boot, 97.5)
			lo, hi, pass = l, h, math.Abs(slope) > (h-l)/2
		} else {
			rateOnly++
		}
		res.Rows = append(res.Rows, []any{g.Key, factor, strings.Join(g.Values, ","), scale, nanNil(slope), lo, hi, pass, len(g.X), g.Totals == nil})
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("%w: no series over %s has every value of it (series by %s; %d incomplete): narrow by= or the scope", ErrNoData, factor, strings.Join(by, ", "), len(incomplete))
	}
	res.Notes = append(res.Notes, fmt.Sprintf("series by %s; x = %s of %s; slopes in rate (fraction 0–1) per x unit", strings.Join(by, ", "), scale, factor))
	if rateOnly > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d series are rate only (n unknown): slope shown without an interval", rateOnly))
	}
	if len(incomplete) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d series lack a value of %s and are left out (e.g. %s)", len(incomplete), factor, incomplete[0]))
	}
	return res, nil
}

func presentOnly(names []string, values map[string][]string) []string {
	var out []string
	for _, n := range names {
		if len(values[n]) > 0 {
			out = append(out, n)
		}
	}
	return out
}
