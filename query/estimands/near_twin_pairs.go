package estimands

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"leakscope/query/stats"
)

func init() {
	register(&Estimand{
		Name: "near-twin-pairs",
		Doc: "near-twin pairs: cells that share a value of the pairing factor (persona-level: two bystanders under one run; run-level: one bystander under two runs), " +
			"or, where the design has no pairing factor and bystander–bystander cosines exist, bystander pairs with cosine ≥ cos_threshold; per pair the two rates " +
			"(fractions in [0,1]), their difference higher − lower in pp and its 95% Newcombe (Wilson-based) interval where both cells have counts",
		Source: "EXPERIMENT.md §6.9 (Phase B near-twins), issue 17 item 3; interval: Newcombe (1998), Statistics in Medicine 17:873, method 10",
		Params: []Param{{Name: "pair", Default: "pair", Doc: "the declared factor whose shared value makes two cells twins"},
			{Name: "cos_threshold", Default: "0.95", Doc: "cosine at or above which two bystanders are twins (used only when the design has no pairing factor)"},
			{Name: "layer", Default: "20", Doc: "decoder layer of the cosines"}, {Name: "centering", Default: "raw", Doc: "cosine centering"},
			detectorParam},
		run: runNearTwinPairs,
	})
}

// twinPair is one pair of cells to compare, with what made them twins.
type twinPair struct {
	context, why string
	x, y         tidy
}

func runNearTwinPairs(ctx context.Context, in *Input) (*Result, error) {
	cells, values, err := loadTidy(ctx, in)
	if err != nil {
		return nil, err
	}
	var cos []cosRow
	cosErr := fmt.Errorf("%w: not read", ErrNoData)
	if len(values[in.Params.Str("pair")]) == 0 {
		cos, cosErr = loadCosines(ctx, in)
	}
	return nearTwinPairsOf(cells, values, in.Params, cos, cosErr)
}

// nearTwinPairsOf pairs the cells by the pairing factor where the design
// declares it, else by the cosines (cosErr says why there are none), and
// refuses naming the missing factor when neither applies.
func nearTwinPairsOf(cells []tidy, values map[string][]string, p Params, cos []cosRow, cosErr error) (*Result, error) {
	pf := p.Str("pair")
	if len(values[pf]) > 0 {
		pairs, single := pairsByFactor(cells, pf)
		return nearTwinPairs(pairs, single, fmt.Sprintf("twins share a value of %s", pf))
	}
	if cosErr != nil && !errors.Is(cosErr, ErrNoData) {
		return nil, cosErr
	}
	th, err := p.Fraction("cos_threshold")
	if err != nil {
		return nil, err
	}
	var pairs []twinPair
	why := "no bystander–bystander cosines in this experiment"
	if cosErr == nil {
		if pairs = pairsByCosine(cells, cos, th); len(pairs) == 0 {
			why = fmt.Sprintf("no two bystanders measured under one run have cosine ≥ %v (layer %s, %s)", th, p.Str("layer"), p.Str("centering"))
		}
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%w: near-twin-pairs needs the pairing factor %q (missing: declare it at import with --design or in the sweep's plan, or pass pair=<factor>) or bystander cosines (%s); factors here: %s",
			ErrNoData, pf, why, factorList(values))
	}
	return nearTwinPairs(pairs, nil, fmt.Sprintf("twins have cosine ≥ %v (layer %s, %s centering)", th, p.Str("layer"), p.Str("centering")))
}

// pairsByFactor pairs the cells that share a value of the factor: within a
// run when it is persona-level, across runs of one bystander otherwise.
// Values held by one cell only are listed as singletons.
func pairsByFactor(cells []tidy, factor string) ([]twinPair, []string) {
	persona := personaLevel(cells)[factor]
	groups := map[string][]tidy{}
	var keys []string
	for _, c := range cells {
		v, ok := c.F[factor]
		if !ok || v == "" {
			continue
		}
		ctx := "persona " + c.Persona
		if persona {
			ctx = "run " + c.Run
		}
		k := ctx + "\x00" + v
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], c)
	}
	sort.Strings(keys)
	var out []twinPair
	var single []string
	for _, k := range keys {
		g := groups[k]
		ctx, v, _ := strings.Cut(k, "\x00")
		if len(g) == 1 {
			single = append(single, fmt.Sprintf("%s=%s (%s)", factor, v, ctx))
			continue
		}
		for i := range g {
			for j := i + 1; j < len(g); j++ {
				out = append(out, twinPair{context: ctx, why: factor + "=" + v, x: g[i], y: g[j]})
			}
		}
	}
	return out, single
}

// pairsByCosine pairs, within each run, the bystanders whose cosine (in
// either order) is at least th.
func pairsByCosine(cells []tidy, cos []cosRow, th float64) []twinPair {
	byRun := map[string]map[string]tidy{}
	for _, c := range cells {
		if byRun[c.Run] == nil {
			byRun[c.Run] = map[string]tidy{}
		}
		byRun[c.Run][c.Persona] = c
	}
	runs := make([]string, 0, len(byRun))
	for r := range byRun {
		runs = append(runs, r)
	}
	sort.Strings(runs)
	seen := map[[2]string]bool{}
	var twins []cosRow
	for _, r := range cos {
		a, b := r.a, r.b
		if a > b {
			a, b = b, a
		}
		if a == b || r.cos < th || seen[[2]string{a, b}] {
			continue
		}
		seen[[2]string{a, b}] = true
		twins = append(twins, cosRow{a: a, b: b, cos: r.cos})
	}
	sort.Slice(twins, func(i, j int) bool { return twins[i].a+"\x00"+twins[i].b < twins[j].a+"\x00"+twins[j].b })
	var out []twinPair
	for _, run := range runs {
		for _, t := range twins {
			x, okX := byRun[run][t.a]
			y, okY := byRun[run][t.b]
			if okX && okY {
				out = append(out, twinPair{context: "run " + run, why: fmt.Sprintf("cosine %.4f", t.cos), x: x, y: y})
			}
		}
	}
	return out
}

func nearTwinPairs(pairs []twinPair, single []string, how string) (*Result, error) {
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%w: %s, but no value is shared by two cells in scope (%d singletons, e.g. %s)", ErrNoData, how, len(single), strings.Join(first(single, 3), "; "))
	}
	res := &Result{Columns: []string{"context", "twins_by", "member_high", "member_low", "rate_high", "rate_low", "diff_pp", "ci_low_pp", "ci_high_pp", "total_high", "total_low"}}
	var diffs []float64
	excl, rateOnly := 0, 0
	for _, p := range pairs {
		hi, lo := p.x, p.y
		if lo.Rate > hi.Rate || (lo.Rate == hi.Rate && member(lo) < member(hi)) {
			hi, lo = lo, hi
		}
		d := hi.Rate - lo.Rate
		diffs = append(diffs, d)
		var ciLo, ciHi, tHi, tLo any
		if hi.Total > 0 && lo.Total > 0 {
			_, l, h, err := stats.NewcombeDiff(hi.Found, hi.Total, lo.Found, lo.Total, stats.Z95)
			if err != nil {
				return nil, fmt.Errorf("pair %s/%s: %w", member(hi), member(lo), err)
			}
			ciLo, ciHi, tHi, tLo = pp(l), pp(h), hi.Total, lo.Total
			if l > 0 {
				excl++
			}
		} else {
			rateOnly++
		}
		res.Rows = append(res.Rows, []any{p.context, p.why, member(hi), member(lo), hi.Rate, lo.Rate, pp(d), ciLo, ciHi, tHi, tLo})
	}
	res.Notes = append(res.Notes,
		fmt.Sprintf("%s; a member is persona @ run; diff = rate_high − rate_low (pp)", how),
		fmt.Sprintf("%d pairs: median difference %.2f pp; %d pairs' 95%% intervals exclude 0 (not adjusted for multiplicity)", len(pairs), pp(stats.Percentile(diffs, 50)), excl))
	if rateOnly > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d pairs involve rate-only cells (n unknown): difference without an interval", rateOnly))
	}
	if len(single) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d values have one cell in scope and no twin (e.g. %s)", len(single), strings.Join(first(single, 3), "; ")))
	}
	return res, nil
}

// member names a pair member by persona and run.
func member(c tidy) string { return c.Persona + " @ " + c.Run }

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
