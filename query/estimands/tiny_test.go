package estimands

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/presets/i81"
)

// cell builds a measured cell with total 200 and found = rate·200.
func cell(src, by string, rate float64) Cell {
	return Cell{Source: src, Bystander: by, Found: int(math.Round(rate * 200)), Total: 200, RunID: "run/" + src}
}

// runTiny runs an estimand on a hand-made grid with the given parameters
// over its defaults.
func runTiny(t *testing.T, name string, cells []Cell, params map[string]string) *Result {
	t.Helper()
	est := registry[name]
	require.NotNil(t, est, name)
	p := Params{}
	for _, d := range est.Params {
		p[d.Name] = d.Default
	}
	p["sources"] = ""
	for k, v := range params {
		p[k] = v
	}
	res, err := est.run(context.Background(), &Input{Params: p, grid: NewGrid("tiny", cells)})
	require.NoError(t, err)
	return res
}

func col(t *testing.T, r *Result, name string) int {
	for i, c := range r.Columns {
		if c == name {
			return i
		}
	}
	t.Fatalf("no column %s in %v", name, r.Columns)
	return -1
}

func TestTinySelfImplantAndCrossNoun(t *testing.T) {
	// person: A2 self 0.85 (170/200) → 85 %, H1 holds at 0.80, not at 0.90.
	// Cross-noun: mean of chef .10, pirate .20, child .30, robot .40 = 25 pp.
	cells := []Cell{cell("person", i81.A2Key("person"), 0.85), cell("person", i81.A2Key("chef"), 0.10), cell("person", i81.A2Key("pirate"), 0.20),
		cell("person", i81.A2Key("child"), 0.30), cell("person", i81.A2Key("robot"), 0.40)}
	r := runTiny(t, "self-implant", cells, nil)
	require.InDelta(t, 85.0, r.Rows[0][col(t, r, "self_implant_pct")], 1e-9)
	require.Equal(t, true, r.Rows[0][col(t, r, "h1_holds")])
	r = runTiny(t, "self-implant", cells, map[string]string{"threshold": "0.9"})
	require.Equal(t, false, r.Rows[0][col(t, r, "h1_holds")])
	r = runTiny(t, "cross-noun", cells, nil)
	require.InDelta(t, 25.0, r.Rows[0][col(t, r, "mean_cross_noun_pp")], 1e-9)
	require.Equal(t, 4, r.Rows[0][col(t, r, "n_cells")])
}

func TestTinyCoherence(t *testing.T) {
	// Scores 0.4 and 0.6 (one cell unscored): 2 scored, mean 0.5, 1 below 0.5.
	lo, hi := 0.4, 0.6
	a, b := cell("chef", i81.A2Key("chef"), 0.5), cell("chef", i81.A2Key("pirate"), 0.1)
	a.Coherence, b.Coherence = &lo, &hi
	r := runTiny(t, "coherence", []Cell{a, b, cell("chef", i81.A2Key("child"), 0.2)}, nil)
	require.Equal(t, []any{"chef", 2, 0.5, 1}, r.Rows[0])
}

func TestTinyH2(t *testing.T) {
	// Source chef. Context (O,L1): own 0.5 vs pirate 0.1 and child 0.2 →
	// noun effect median(0.4, 0.3) = 0.35 → NOUN = 35 pp.
	// Trait anchors with a second cell of the same noun: chef O/L1 (0.5) and
	// chef O/L2 (0.3) → |0.5 − 0.3| = 0.2 each → TRAIT = 20 pp; ratio 1.75.
	cells := []Cell{cell("chef", i81.A1Key("chef", "Openness", "L1"), 0.5), cell("chef", i81.A1Key("pirate", "Openness", "L1"), 0.1),
		cell("chef", i81.A1Key("child", "Openness", "L1"), 0.2), cell("chef", i81.A1Key("chef", "Openness", "L2"), 0.3)}
	r := runTiny(t, "h2", cells, nil)
	require.InDelta(t, 35.0, r.Rows[0][col(t, r, "noun_effect_pp")], 1e-9)
	require.InDelta(t, 20.0, r.Rows[0][col(t, r, "trait_effect_pp")], 1e-9)
	require.InDelta(t, 1.75, r.Rows[0][col(t, r, "ratio")], 1e-9)
	require.Equal(t, true, r.Rows[0][col(t, r, "h2_holds")])
	// Coherent variant: mark the own-noun O/L1 cell low-coherence → no noun
	// context is left: undefined, and said so.
	low := 0.1
	cells[0].Coherence = &low
	r = runTiny(t, "h2", cells, map[string]string{"variant": H2Coherent})
	require.Nil(t, r.Rows[0][col(t, r, "noun_effect_pp")])
	require.Contains(t, r.Notes[0], "undefined")
}

func TestTinyH3(t *testing.T) {
	// chef/chef/Openness rises 0, .1, .2, .3, .4 over L1..L5: slope 0.1 per
	// level; SE = sqrt((4·0 + 1·.09 + 0 + 1·.21 + 4·.24)/200)/10 = 0.0079,
	// so every rule passes. chef/chef/Conscientiousness is flat at 0.1: slope 0.
	var cells []Cell
	for i, l := range i81.Levels {
		cells = append(cells, cell("chef", i81.A1Key("chef", "Openness", l), 0.1*float64(i)))
		cells = append(cells, cell("chef", i81.A1Key("chef", "Conscientiousness", l), 0.1))
	}
	for _, rule := range []string{H3HalfWidth, H3FullWidth, H3Wald} {
		r := runTiny(t, "h3", cells, map[string]string{"rule": rule, "bootstrap": "200"})
		require.Equal(t, []any{"chef", 1, 2, rule}, r.Rows[0], rule)
	}
}

func TestTinyHeadToHeadAndSwaps(t *testing.T) {
	// A2: chef 0.9, pirate 0.1. A1 (O,L1): chef 0.5, pirate 0.2.
	// TE: chef |0.5 − 0.9| = 0.4, pirate |0.2 − 0.1| = 0.1. NE(O,L1) = |0.5 − 0.2| = 0.3.
	// median TE 0.25, median NE 0.3, noun wins 1 (pirate), ratios 0.75 and 3 → median 1.875.
	cells := []Cell{cell("chef", i81.A2Key("chef"), 0.9), cell("chef", i81.A2Key("pirate"), 0.1),
		cell("chef", i81.A1Key("chef", "Openness", "L1"), 0.5), cell("chef", i81.A1Key("pirate", "Openness", "L1"), 0.2)}
	r := runTiny(t, "head-to-head", cells, nil)
	require.Equal(t, "chef", r.Rows[0][0])
	require.Equal(t, 2, r.Rows[0][1])
	require.InDelta(t, 0.25, r.Rows[0][2], 1e-12)
	require.InDelta(t, 0.3, r.Rows[0][3], 1e-12)
	require.Equal(t, 1, r.Rows[0][4])
	require.InDelta(t, 1.875, r.Rows[0][5], 1e-12)
	// Symmetric swap: noun-swap contexts {0.3} → 30 pp. Descriptor swap needs
	// two cells of one noun: none here.
	r = runTiny(t, "symmetric-swap", cells, nil)
	require.InDelta(t, 30.0, r.Rows[0][2], 1e-9)
	require.Equal(t, 0, r.Rows[1][1])
	// Interaction at (O,L1): nouns chef 0.5, pirate 0.2 → range 30 pp.
	r = runTiny(t, "interaction", cells, nil)
	require.Equal(t, []any{"chef", "Openness", "L1"}, r.Rows[0][:3])
	require.InDelta(t, 30.0, r.Rows[0][3], 1e-9)
	// Trait ranking: (O,L1) mean TE (0.4 + 0.1)/2 = 25 pp over 2 cells.
	r = runTiny(t, "trait-ranking", cells, nil)
	require.Equal(t, []any{"all", 1, "Openness", "L1"}, r.Rows[0][:4])
	require.InDelta(t, 25.0, r.Rows[0][4], 1e-9)
}

func TestTinyAxisPermutation(t *testing.T) {
	// TE: Openness cells 0.4 and 0.2 (mean 0.3), Conscientiousness 0.1 and
	// 0.1 (mean 0.1) → spread 0.2 = 20 pp. Of the 6 ways to label two cells
	// Openness, only the observed one and its mirror split {0.4, 0.2} from
	// {0.1, 0.1} (spread 0.2); the other four give 0.1. So p ≈ 2/6.
	cells := []Cell{cell("chef", i81.A2Key("chef"), 0.5), cell("chef", i81.A2Key("pirate"), 0.5),
		cell("chef", i81.A1Key("chef", "Openness", "L1"), 0.9), cell("chef", i81.A1Key("pirate", "Openness", "L1"), 0.7),
		cell("chef", i81.A1Key("chef", "Conscientiousness", "L1"), 0.6), cell("chef", i81.A1Key("pirate", "Conscientiousness", "L1"), 0.6)}
	r := runTiny(t, "axis-permutation", cells, map[string]string{"permutations": "3000"})
	require.Equal(t, 4, r.Rows[0][0])
	require.InDelta(t, 20.0, r.Rows[0][1], 1e-9)
	require.InDelta(t, 1.0/3, r.Rows[0][2], 0.04)
}

func TestBadParams(t *testing.T) {
	cells := []Cell{cell("chef", i81.A2Key("chef"), 0.9)}
	for name, p := range map[string]map[string]string{
		"h2": {"variant": "best"}, "h3": {"rule": "vibes"}, "head-to-head": {"by": "mood"},
		"trait-ranking": {"scope": "galaxy"}, "axis-permutation": {"seed": "-1"}, "cell-rates": {"bootstrap": "1000000000"},
	} {
		est := registry[name]
		params := Params{}
		for _, d := range est.Params {
			params[d.Name] = d.Default
		}
		params["sources"] = ""
		for k, v := range p {
			params[k] = v
		}
		_, err := est.run(context.Background(), &Input{Params: params, grid: NewGrid("tiny", cells)})
		require.ErrorIs(t, err, ErrBadParam, name)
	}
	g := NewGrid("tiny", cells)
	_, err := scopeSources(g, Params{"sources": "pirate"})
	require.ErrorIs(t, err, ErrBadParam)
}

func TestTinyCellRatesAndFloor(t *testing.T) {
	// 37/200 with base 0: Wilson (z = 1.96) [0.1373, 0.2446]; Δ = 0.185;
	// floor threshold 2·sqrt(1e−12/200) ≈ 1.4e−7, so not at the floor.
	// 0/200 with base 0 is at the floor.
	c, p := cell("chef", i81.A2Key("chef"), 0.185), cell("chef", i81.A2Key("pirate"), 0)
	c.HasBase, p.HasBase = true, true // a base run measured both, at rate 0
	res := runTiny(t, "cell-rates", []Cell{c, p}, map[string]string{"bootstrap": "500"})
	require.Len(t, res.Rows, 2)
	r := res.Rows[0]
	require.Equal(t, []any{"chef", "A2__chef", 0.185, 37, 200}, r[:5])
	require.InDelta(t, 0.1373, r[5], 1e-4)
	require.InDelta(t, 0.2446, r[6], 1e-4)
	require.Less(t, r[7], 0.185)
	require.Greater(t, r[8], 0.185)
	require.Equal(t, false, r[11])
	require.Equal(t, true, res.Rows[1][11])
	// The floor rule with a base rate: base 0.1, n 200 → threshold
	// 2·sqrt(0.09/200) = 0.0424: 0.13 is inside, 0.15 is not.
	require.True(t, FloorTest(0.13, 0.1, 200))
	require.False(t, FloorTest(0.15, 0.1, 200))
}
