package estimands

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/presets/i81"
)

// obs builds a tidy cell: found = round(rate·total) (total 0 = rate only),
// factors given as "k=v" pairs besides the persona: persona-level, or
// run-level when written "run:k=v".
func obs(run, persona string, rate float64, total int, factors ...string) tidy {
	f := map[string]string{"persona": persona}
	pers := map[string]bool{"persona": true}
	for _, kv := range factors {
		k, v, _ := strings.Cut(kv, "=")
		if rk, ok := strings.CutPrefix(k, "run:"); ok {
			k = rk
		} else {
			pers[k] = true
		}
		f[k] = v
	}
	return tidy{Persona: persona, Run: run, F: f, Pers: pers, Rate: rate, V: rate, Found: int(math.Round(rate * float64(total))), Total: total}
}

var personaKeys = map[string]bool{"persona": true, "kind": true, "noun": true, "trait": true, "level": true}

// asTidy is what loadTidy makes of grid cells with #81 keys.
func asTidy(cells []Cell) []tidy {
	out := make([]tidy, 0, len(cells))
	for _, c := range cells {
		f := map[string]string{"persona": c.Bystander, "source": c.Source}
		for k, v := range presetFactors(c.Bystander) {
			f[k] = v
		}
		rate := float64(c.Found) / float64(c.Total) // as NewGrid sets it
		out = append(out, tidy{Persona: c.Bystander, Run: c.RunID, F: f, Rate: rate, V: rate - c.BaseRate, Found: c.Found, Total: c.Total, Pers: personaKeys})
	}
	return out
}

// params fills an estimand's defaults and overrides them.
func params(name string, over map[string]string) Params {
	p := Params{}
	for _, d := range registry[name].Params {
		p[d.Name] = d.Default
	}
	for k, v := range over {
		p[k] = v
	}
	return p
}

func rowsOf(r *Result, col int, want string) [][]any {
	var out [][]any
	for _, row := range r.Rows {
		if row[col] == want {
			out = append(out, row)
		}
	}
	return out
}

// lr × epochs, one persona, 100 samples a cell:
//
//	        ep=1  ep=2
//	lr=1    .10   .30
//	lr=2    .20   .70
//
// lr's range is 10 pp at ep=1 and 40 pp at ep=2 (spread 30 pp); the 2×2
// contrast (.1 − .2) − (.3 − .7) = 30 pp; Price–Bonett with p̃ =
// (x + ½)/101 gives [13.662, 45.744] pp (computed by hand).
func lrEpochs(total int) []tidy {
	return []tidy{obs("r1", "p", .1, total, "run:lr=1", "run:epochs=1"), obs("r2", "p", .2, total, "run:lr=2", "run:epochs=1"),
		obs("r3", "p", .3, total, "run:lr=1", "run:epochs=2"), obs("r4", "p", .7, total, "run:lr=2", "run:epochs=2")}
}

func TestFactorInteractionTwoByTwo(t *testing.T) {
	cells := lrEpochs(100)
	r, err := factorInteraction(cells, tidyValues(cells), params("factor-interaction", map[string]string{"a": "lr", "b": "epochs"}))
	require.NoError(t, err)
	st := col(t, r, "statistic")
	ranges := rowsOf(r, st, "a_range")
	require.Len(t, ranges, 2)
	require.Equal(t, []any{"all", "", "a_range", "1"}, ranges[0][:4])
	require.InDelta(t, 10.0, ranges[0][4], 1e-9)
	require.InDelta(t, 40.0, ranges[1][4], 1e-9)
	require.Equal(t, "lowest lr=1, highest lr=2", ranges[1][col(t, r, "detail")])
	spread := rowsOf(r, st, "range_spread")
	require.InDelta(t, 30.0, spread[0][4], 1e-9)
	mc := rowsOf(r, st, "max_contrast")[0]
	require.Equal(t, "1 vs 2", mc[col(t, r, "b_value")])
	require.InDelta(t, 30.0, mc[col(t, r, "value_pp")], 1e-9)
	require.InDelta(t, 13.662, mc[col(t, r, "ci_low_pp")], 1e-3)
	require.InDelta(t, 45.744, mc[col(t, r, "ci_high_pp")], 1e-3)
	require.Equal(t, 1, mc[col(t, r, "n")])

	// The same design with rates only: ranges and the contrast, no interval, said so.
	cells = lrEpochs(0)
	r, err = factorInteraction(cells, tidyValues(cells), params("factor-interaction", map[string]string{"a": "lr", "b": "epochs"}))
	require.NoError(t, err)
	mc = rowsOf(r, st, "max_contrast")[0]
	require.InDelta(t, 30.0, mc[col(t, r, "value_pp")], 1e-9)
	require.Nil(t, mc[col(t, r, "ci_low_pp")])
	require.Equal(t, true, mc[col(t, r, "rate_only")])
	require.Contains(t, strings.Join(r.Notes, "\n"), "rate-only cells (n unknown): shown without an interval")
}

// Run-level a and b hold the persona by default: two bystanders give two
// contexts; a second cell at one design point is a scope error; a factor
// the design lacks is named.
func TestFactorInteractionHoldsThePersonaAndRefuses(t *testing.T) {
	cells := append(lrEpochs(100), obs("r1", "q", .5, 100, "run:lr=1", "run:epochs=1"), obs("r2", "q", .5, 100, "run:lr=2", "run:epochs=1"))
	r, err := factorInteraction(cells, tidyValues(cells), params("factor-interaction", map[string]string{"a": "lr", "b": "epochs"}))
	require.NoError(t, err)
	ctxs := map[any]bool{}
	for _, row := range r.Rows {
		ctxs[row[1]] = true
	}
	require.Equal(t, map[any]bool{"p": true, "q": true}, ctxs)
	require.Contains(t, strings.Join(r.Notes, "\n"), "held fixed: persona")
	q := rowsOf(r, 1, "q")
	require.Equal(t, "max_contrast", q[len(q)-1][2])
	require.Nil(t, q[len(q)-1][4], "q has one value of epochs: no 2×2, undefined")

	_, err = factorInteraction(cells, tidyValues(cells), params("factor-interaction", map[string]string{"a": "lr", "b": "epochs", "holding": ""}))
	require.ErrorIs(t, err, ErrScope)
	require.Contains(t, err.Error(), "measured twice")

	_, err = factorInteraction(cells, tidyValues(cells), params("factor-interaction", map[string]string{"a": "noun", "b": "epochs"}))
	require.ErrorIs(t, err, ErrBadParam)
	require.Contains(t, err.Error(), `factor "noun" is not in this experiment's design`)
	_, err = factorInteraction(cells, tidyValues(cells), params("factor-interaction", nil))
	require.ErrorIs(t, err, ErrBadParam)
	require.Contains(t, err.Error(), "epochs (2 values)", "the refusal lists the factors present")
	_, err = factorInteraction(cells, tidyValues(cells), params("factor-interaction", map[string]string{"a": "lr", "b": "lr"}))
	require.ErrorIs(t, err, ErrBadParam)
	_, err = factorInteraction(cells, tidyValues(cells), params("factor-interaction", map[string]string{"a": "lr", "b": "epochs", "value": "odds"}))
	require.ErrorIs(t, err, ErrBadParam)
}

// The #81 interaction is factor-interaction with a=noun, b=trait+level,
// by=source, value=delta: the same noun ranges on the same cells (with a
// base rate, so delta and rate differ).
func TestFactorInteractionIsTheI81Interaction(t *testing.T) {
	var cells []Cell
	for i, n := range i81.Nouns {
		for j, tr := range i81.Traits[:2] {
			for k, l := range i81.Levels[:2] {
				c := cell("chef", i81.A1Key(n, tr, l), float64((i*7+j*3+k*5)%10)/10)
				c.BaseRate = float64(i) / 50
				cells = append(cells, c)
			}
		}
	}
	want := runTiny(t, "interaction", cells, nil)
	tc := asTidy(cells)
	got, err := factorInteraction(tc, tidyValues(tc), params("factor-interaction", map[string]string{"a": "noun", "b": "trait+level", "by": "source"}))
	require.NoError(t, err)
	ranges := rowsOf(got, 2, "a_range")
	require.Len(t, ranges, len(want.Rows))
	for i, w := range want.Rows {
		require.Equal(t, fmt.Sprintf("%s/%s", w[1], w[2]), ranges[i][3])
		require.Equal(t, w[0], ranges[i][0])
		require.InDelta(t, w[3], ranges[i][4], 1e-9, "%v", w)
		require.Equal(t, w[4], ranges[i][7])
	}
}

// The #81 head-to-head is factor-head-to-head with a=noun, b=trait+level,
// b_ref=absent, by=source, value=rate (TestTinyHeadToHeadAndSwaps' grid:
// cells 2, TE median .25, NE median .3, noun wins 1, ratio median 1.875).
func TestFactorHeadToHeadIsTheI81HeadToHead(t *testing.T) {
	cells := []Cell{cell("chef", i81.A2Key("chef"), 0.9), cell("chef", i81.A2Key("pirate"), 0.1),
		cell("chef", i81.A1Key("chef", "Openness", "L1"), 0.5), cell("chef", i81.A1Key("pirate", "Openness", "L1"), 0.2)}
	want := runTiny(t, "head-to-head", cells, nil).Rows[0]
	tc := asTidy(cells)
	for _, holding := range []string{"", ByDefault} {
		r, err := factorHeadToHead(tc, tidyValues(tc), params("factor-head-to-head", map[string]string{"a": "noun", "b": "trait+level", "b_ref": RefAbsent, "by": "source", "holding": holding}))
		require.NoError(t, err, holding)
		got := r.Rows[0]
		require.Equal(t, []any{"chef", "noun", "trait+level", 2}, got[:4])
		require.InDelta(t, want[3], got[4], 1e-12, "a-swap = NE")
		require.InDelta(t, want[2], got[5], 1e-12, "b-swap = TE")
		require.Equal(t, want[4], got[6])
		require.InDelta(t, want[5], got[7], 1e-12)
		require.InDelta(t, 1.875, got[7], 1e-12)
	}
}

// Pairs mode and a named reference on a 2 × 3 design (one run, one persona
// per cell): a = arm {x, y}, b = dose {0, 1, 2}.
//
//	        dose 0  dose 1  dose 2
//	arm x   .10     .20     .60
//	arm y   .10     .50     .60
//
// a-swap per dose: 0, .3, 0. b_ref=0: b-swap |V − V(dose 0)| for doses 1
// and 2: x .1, .5; y .4, .5 → cells 4, a medians (.3, 0, .3, 0) → .15,
// b median .45, a wins 1 (x at dose 1: .3 > .1), ratios 3, 0, .75, 0 →
// median .375.
// b_ref empty: b-swap per arm = median of pair diffs: x {.1, .5, .4} → .4,
// y {.4, .5, .1} → .4; 6 cells; a median 0, b median .4.
func TestFactorHeadToHeadModes(t *testing.T) {
	var cells []tidy
	for arm, rs := range map[string][]float64{"x": {.1, .2, .6}, "y": {.1, .5, .6}} {
		for d, r := range rs {
			cells = append(cells, obs("r", fmt.Sprintf("%s%d", arm, d), r, 200, "arm="+arm, fmt.Sprintf("dose=%d", d)))
		}
	}
	r, err := factorHeadToHead(cells, tidyValues(cells), params("factor-head-to-head", map[string]string{"a": "arm", "b": "dose", "b_ref": "0"}))
	require.NoError(t, err)
	require.Equal(t, []any{"all", "arm", "dose", 4}, r.Rows[0][:4])
	require.InDelta(t, .15, r.Rows[0][4], 1e-12)
	require.InDelta(t, .45, r.Rows[0][5], 1e-12)
	require.Equal(t, 1, r.Rows[0][6])
	require.InDelta(t, .375, r.Rows[0][7], 1e-12)

	r, err = factorHeadToHead(cells, tidyValues(cells), params("factor-head-to-head", map[string]string{"a": "arm", "b": "dose"}))
	require.NoError(t, err)
	require.Equal(t, 6, r.Rows[0][3])
	require.InDelta(t, 0, r.Rows[0][4], 1e-12)
	require.InDelta(t, .4, r.Rows[0][5], 1e-12)

	_, err = factorHeadToHead(cells, tidyValues(cells), params("factor-head-to-head", map[string]string{"a": "arm", "b": "dose", "b_ref": "7"}))
	require.ErrorIs(t, err, ErrBadParam)
	require.Contains(t, err.Error(), "dose=7")
}

// Twins declared by a persona-level pair factor: p1a (120/200) and p1b
// (80/200) share pair 1 → 20 pp, Newcombe [10.219, 29.248] pp (by hand from
// the two Wilson intervals); pair 2 has one member. Rate-only twins get no
// interval. A run-level pair factor pairs one bystander across runs.
func TestNearTwinPairsByFactor(t *testing.T) {
	cells := []tidy{obs("r1", "p1b", .4, 200, "pair=1"), obs("r1", "p1a", .6, 200, "pair=1"), obs("r1", "p2", .3, 200, "pair=2"), obs("r1", "plain", .3, 200)}
	r, err := nearTwinPairsOf(cells, tidyValues(cells), params("near-twin-pairs", nil), nil, ErrNoData)
	require.NoError(t, err)
	require.Len(t, r.Rows, 1)
	row := r.Rows[0]
	require.Equal(t, []any{"run r1", "pair=1", "p1a @ r1", "p1b @ r1", .6, .4}, row[:6])
	require.InDelta(t, 20.0, row[col(t, r, "diff_pp")], 1e-9)
	require.InDelta(t, 10.219, row[col(t, r, "ci_low_pp")], 1e-3)
	require.InDelta(t, 29.248, row[col(t, r, "ci_high_pp")], 1e-3)
	require.Contains(t, strings.Join(r.Notes, "\n"), "1 values have one cell in scope and no twin (e.g. pair=2 (run r1))")

	cells = []tidy{obs("r1", "p1a", .6, 0, "pair=1"), obs("r1", "p1b", .4, 0, "pair=1")}
	r, err = nearTwinPairsOf(cells, tidyValues(cells), params("near-twin-pairs", nil), nil, ErrNoData)
	require.NoError(t, err)
	require.Nil(t, r.Rows[0][col(t, r, "ci_low_pp")])
	require.Contains(t, strings.Join(r.Notes, "\n"), "rate-only cells (n unknown)")

	cells = []tidy{obs("r1", "v", .5, 100, "run:twin=A"), obs("r2", "v", .2, 100, "run:twin=A"), obs("r1", "w", .1, 100, "run:twin=A"), obs("r2", "w", .1, 100, "run:twin=A")}
	r, err = nearTwinPairsOf(cells, tidyValues(cells), params("near-twin-pairs", map[string]string{"pair": "twin"}), nil, ErrNoData)
	require.NoError(t, err)
	require.Len(t, r.Rows, 2)
	require.Equal(t, []any{"persona v", "twin=A", "v @ r1", "v @ r2"}, r.Rows[0][:4])
	require.InDelta(t, 30.0, r.Rows[0][col(t, r, "diff_pp")], 1e-9)
}

// Without the pairing factor: cosine twins where bystander cosines exist,
// else a refusal that names the missing factor.
func TestNearTwinPairsByCosineOrRefused(t *testing.T) {
	cells := []tidy{obs("r1", "a", .5, 100), obs("r1", "b", .2, 100), obs("r1", "c", .1, 100)}
	cos := []cosRow{{a: "b", b: "a", cos: .97}, {a: "a", b: "c", cos: .5}, {a: "a", b: "b", cos: .97}}
	r, err := nearTwinPairsOf(cells, tidyValues(cells), params("near-twin-pairs", nil), cos, nil)
	require.NoError(t, err)
	require.Len(t, r.Rows, 1, "a–b once (both orders given), a–c below the threshold")
	require.Equal(t, []any{"run r1", "cosine 0.9700", "a @ r1", "b @ r1"}, r.Rows[0][:4])

	_, err = nearTwinPairsOf(cells, tidyValues(cells), params("near-twin-pairs", map[string]string{"cos_threshold": "0.99"}), cos, nil)
	require.ErrorIs(t, err, ErrNoData)
	require.Contains(t, err.Error(), "cosine ≥ 0.99")

	_, err = nearTwinPairsOf(cells, tidyValues(cells), params("near-twin-pairs", nil), nil, ErrNoData)
	require.ErrorIs(t, err, ErrNoData)
	require.Contains(t, err.Error(), `needs the pairing factor "pair" (missing`)
	_, err = nearTwinPairsOf(cells, tidyValues(cells), params("near-twin-pairs", map[string]string{"cos_threshold": "95"}), cos, nil)
	require.ErrorIs(t, err, ErrBadParam)

	cells = []tidy{obs("r1", "a", .5, 100, "pair=1"), obs("r1", "b", .2, 100, "pair=2")}
	_, err = nearTwinPairsOf(cells, tidyValues(cells), params("near-twin-pairs", nil), nil, ErrNoData)
	require.ErrorIs(t, err, ErrNoData)
	require.Contains(t, err.Error(), "no value is shared by two cells")
}

// The default holding keeps a factor crossed with a × b (dose: every
// value meets every (lr, epochs)) and leaves out one nested in them
// (cond, a name per run; flag, an outcome).
func TestPairHoldingCrossedOnly(t *testing.T) {
	var cells []tidy
	for i, c := range lrEpochs(100) {
		for _, dose := range []string{"lo", "hi"} {
			run := fmt.Sprintf("%s-%s", c.Run, dose)
			flag := fmt.Sprint(i == 3)
			cells = append(cells, obs(run, "p", c.Rate, 100, "run:lr="+c.F["lr"], "run:epochs="+c.F["epochs"], "run:dose="+dose, "run:cond="+run, "run:flag="+flag))
			cells = append(cells, obs(run, "q", c.Rate, 100, "run:lr="+c.F["lr"], "run:epochs="+c.F["epochs"], "run:dose="+dose, "run:cond="+run, "run:flag="+flag))
		}
	}
	require.Equal(t, []string{"dose", "persona"}, pairHolding(cells, tidyValues(cells), []string{"lr"}, []string{"epochs"}, nil))
	require.Equal(t, []string{"dose", "epochs"}, pairHolding(cells, tidyValues(cells), []string{"lr"}, []string{"persona"}, nil), "b is the persona: epochs (crossed) held, cond and flag not")
}
