package estimands

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/presets/i81"
)

// lrSweep: one run per lr, two bystanders, 100 samples a cell.
//
//	       lr=1  lr=2  lr=3
//	p      .10   .30   .15
//	q      .20   .60   .20
func lrSweep() []tidy {
	var cells []tidy
	for _, c := range []struct {
		run, lr, persona string
		rate             float64
	}{{"r1", "1", "p", .10}, {"r2", "2", "p", .30}, {"r3", "3", "p", .15}, {"r1", "1", "q", .20}, {"r2", "2", "q", .60}, {"r3", "3", "q", .20}} {
		cells = append(cells, obs(c.run, c.persona, c.rate, 100, "run:lr="+c.lr))
	}
	return cells
}

// ref=1: lr=2 effects |.3−.1| = .2 and |.6−.2| = .4 → mean 30 pp, SD
// (ddof 1) √.02 = 14.142 pp; lr=3 effects .05 and 0 → 2.5 pp, SD 3.536 pp.
// Over (auto) is the persona: it is on both sides of every comparison.
// Without ref the ranking is by mean rate: lr=2 45, lr=3 17.5, lr=1 15 pp.
func TestFactorRankingAgainstAValueAndWithout(t *testing.T) {
	cells := lrSweep()
	r, err := factorRanking(cells, tidyValues(cells), params("factor-ranking", map[string]string{"a": "lr", "ref": "1"}), nil)
	require.NoError(t, err)
	require.Equal(t, []string{"group", "rank", "lr", "mean_effect_pp", "sd_effect_pp", "cells", "mean_delta_cos"}, r.Columns)
	require.Len(t, r.Rows, 2, "the reference value is not ranked")
	require.Equal(t, []any{"all", 1, "2"}, r.Rows[0][:3])
	require.InDelta(t, 30.0, r.Rows[0][3], 1e-9)
	require.InDelta(t, 14.1421, r.Rows[0][4], 1e-4)
	require.Equal(t, 2, r.Rows[0][5])
	require.Nil(t, r.Rows[0][6], "no cosines: Δcos empty, not a number")
	require.Equal(t, []any{"all", 2, "3"}, r.Rows[1][:3])
	require.InDelta(t, 2.5, r.Rows[1][3], 1e-9)
	require.InDelta(t, 3.5355, r.Rows[1][4], 1e-4)
	notes := strings.Join(r.Notes, "\n")
	require.Contains(t, notes, "reference the cell with lr=1 (same persona)")
	require.Contains(t, notes, "no persona cosines to the source")

	r, err = factorRanking(cells, tidyValues(cells), params("factor-ranking", map[string]string{"a": "lr"}), nil)
	require.NoError(t, err)
	require.Len(t, r.Rows, 3)
	for i, w := range []struct {
		lr string
		pp float64
	}{{"2", 45}, {"3", 17.5}, {"1", 15}} {
		require.Equal(t, w.lr, r.Rows[i][2])
		require.InDelta(t, w.pp, r.Rows[i][3], 1e-9)
	}
	require.Contains(t, strings.Join(r.Notes, "\n"), "effect = V (no reference)")

	// A factor only some cells carry (a tag on two of them) is not in the
	// default over: it would leave the others out.
	cells[0].F["tag"], cells[4].F["tag"] = "x", "y"
	require.Equal(t, []string{"persona"}, defaultOver(cells, tidyValues(cells), []string{"lr"}, []string{"lr"}, "1"))
	r, err = factorRanking(cells, tidyValues(cells), params("factor-ranking", map[string]string{"a": "lr", "ref": "1"}), nil)
	require.NoError(t, err)
	require.Equal(t, 2, r.Rows[0][5])
}

// ref=absent on a persona-level arm: each arm cell against the control
// (the cell without arm) of its block.
//
//	block   control  arm=x  arm=y     cos to the source: control .9/.6, x .5/.4, y .85/.6
//	1       .50      .10    .45
//	2       .20      .30    .20
//
// x: |.1−.5| = .4, |.3−.2| = .1 → 25 pp, Δcos (.4 + .2)/2 = .3;
// y: .05 and 0 → 2.5 pp, Δcos (.05 + 0)/2 = .025. Over (auto) is the
// block: the persona always differs from the control's and is left out.
func TestFactorRankingAgainstTheAbsentCellWithCosines(t *testing.T) {
	cells := []tidy{obs("r", "ctl1", .5, 200, "block=1"), obs("r", "x1", .1, 200, "block=1", "arm=x"), obs("r", "y1", .45, 200, "block=1", "arm=y"),
		obs("r", "ctl2", .2, 200, "block=2"), obs("r", "x2", .3, 200, "block=2", "arm=x"), obs("r", "y2", .2, 200, "block=2", "arm=y")}
	var cos []cosRow
	for i, c := range []float64{.9, .5, .85, .6, .4, .6} {
		cells[i].SourcePersona = "villain"
		cos = append(cos, cosRow{a: "villain", b: cells[i].Persona, cos: c})
	}
	require.Equal(t, []string{"block"}, defaultOver(cells, tidyValues(cells), []string{"arm"}, []string{"arm"}, RefAbsent))
	r, err := factorRanking(cells, tidyValues(cells), params("factor-ranking", map[string]string{"a": "arm", "ref": RefAbsent}), cos)
	require.NoError(t, err)
	require.Equal(t, []any{"all", 1, "x"}, r.Rows[0][:3])
	require.InDelta(t, 25.0, r.Rows[0][3], 1e-9)
	require.InDelta(t, .3, r.Rows[0][6], 1e-12)
	require.Equal(t, []any{"all", 2, "y"}, r.Rows[1][:3])
	require.InDelta(t, 2.5, r.Rows[1][3], 1e-9)
	require.InDelta(t, .025, r.Rows[1][6], 1e-12)
	require.Contains(t, strings.Join(r.Notes, "\n"), "reference the cell without arm (same block)")
}

// The #81 parameterisation on TestTinyHeadToHeadAndSwaps' grid: TE chef
// |.5−.9| = .4, pirate |.2−.1| = .1 → Openness L1 25 pp over 2 cells;
// dropping the diagonal (noun = source) leaves pirate: 10 pp, one cell,
// no SD. Auto over finds the preset's (noun, source) by itself.
func TestFactorRankingIsTheI81TraitRanking(t *testing.T) {
	grid := []Cell{cell("chef", i81.A2Key("chef"), 0.9), cell("chef", i81.A2Key("pirate"), 0.1),
		cell("chef", i81.A1Key("chef", "Openness", "L1"), 0.5), cell("chef", i81.A1Key("pirate", "Openness", "L1"), 0.2)}
	tc := asTidy(grid)
	name, p, err := presetParams("trait-ranking", nil)
	require.NoError(t, err)
	require.Equal(t, "factor-ranking", name)
	require.Equal(t, Params{"a": "trait+level", "ref": RefAbsent, "over": "source,noun", "by": "", "value": "rate"},
		Params{"a": p["a"], "ref": p["ref"], "over": p["over"], "by": p["by"], "value": p["value"]})
	r, err := factorRanking(tc, tidyValues(tc), p, nil)
	require.NoError(t, err)
	require.Equal(t, []any{"all", 1, "Openness", "L1"}, r.Rows[0][:4])
	require.InDelta(t, 25.0, r.Rows[0][4], 1e-9)
	require.Equal(t, 2, r.Rows[0][6])

	p["drop_equal"] = "noun,source"
	r, err = factorRanking(tc, tidyValues(tc), p, nil)
	require.NoError(t, err)
	require.InDelta(t, 10.0, r.Rows[0][4], 1e-9)
	require.Nil(t, r.Rows[0][5], "one cell: SD undefined")
	require.Equal(t, 1, r.Rows[0][6])
	require.Contains(t, strings.Join(r.Notes, "\n"), "2 cells with noun = source left out (drop_equal)")

	two := append(asTidy(grid), asTidy(grid)...) // a second source with the same cells
	for i := len(grid); i < len(two); i++ {
		two[i].F = map[string]string{"source": "pirate"}
		for k, v := range tc[i-len(grid)].F {
			if k != "source" {
				two[i].F[k] = v
			}
		}
	}
	require.Equal(t, []string{"noun", "source"}, defaultOver(two, tidyValues(two), []string{"trait", "level"}, []string{"trait", "level"}, RefAbsent),
		"kind (A1 against A2) and the persona never meet their reference")
	require.Equal(t, []string{"noun"}, defaultOver(tc, tidyValues(tc), []string{"trait", "level"}, []string{"trait", "level"}, RefAbsent), "one source: source does not vary")
	// The trait-ranking estimand runs the same code on the grid.
	want := runTiny(t, "trait-ranking", grid, nil)
	require.Equal(t, "source", want.Columns[0])
	require.InDelta(t, 25.0, want.Rows[0][col(t, want, "mean_delta_leak_pp")], 1e-9)
}

// What the design cannot support is refused, naming the factor or the
// parameter; never an #81 persona.
func TestFactorRankingRefusals(t *testing.T) {
	cells := append(lrSweep(), obs("r0", "z", .1, 100)) // z: a cell without lr, of another persona
	for _, c := range []struct {
		over map[string]string
		is   error
		want string
	}{
		{nil, ErrBadParam, "name the factor whose values are compared (factors here: lr (3 values))"},
		{map[string]string{"a": "trait+level"}, ErrBadParam, `factor "trait" is not in this experiment's design`},
		{map[string]string{"a": "lr", "ref": "7"}, ErrBadParam, `ref="7": no cell has lr=7 in scope (values: 1, 2, 3)`},
		{map[string]string{"a": "lr", "ref": "1", "over": ""}, ErrScope, "is measured twice"},
		{map[string]string{"a": "lr", "ref": RefAbsent, "over": "persona"}, ErrNoData, "no cell with lr has its reference (the cell without lr, matched on persona) in scope"},
		{map[string]string{"a": "lr", "drop_equal": "lr"}, ErrBadParam, "drop_equal=\"lr\": want two different factors"},
		{map[string]string{"a": "lr", "over": "lr"}, ErrBadParam, `factor "lr" is both changed`},
		{map[string]string{"a": "lr", "by": "noun"}, ErrBadParam, `by: factor "noun" is not in this experiment's design`},
		{map[string]string{"a": "lr", "value": "odds"}, ErrBadParam, `value="odds"`},
	} {
		_, err := factorRanking(cells, tidyValues(cells), params("factor-ranking", c.over), nil)
		require.ErrorIs(t, err, c.is, "%v", c.over)
		require.Contains(t, err.Error(), c.want, "%v", c.over)
		for _, n := range []string{"A1__", "A2__", "src_"} {
			require.NotContains(t, err.Error(), n)
		}
	}
	cells = lrSweep()
	_, err := factorRanking(cells, tidyValues(cells), params("factor-ranking", map[string]string{"a": "lr", "ref": RefAbsent}), nil)
	require.ErrorIs(t, err, ErrNoData)
	require.Contains(t, err.Error(), "ref=absent needs reference cells without lr, and every cell in scope has it")
}
