package estimands

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/presets/i81"
)

// lrEpochs (.1 .2 / .3 .7): lr swaps |.1−.2| = .1 at ep=1 and |.3−.7| =
// .4 at ep=2 → 2 contexts, mean and median 25 pp; epochs swaps .2 at lr=1
// and .5 at lr=2 → 35 pp; ratio 35/25 = 1.4. One persona: nothing else
// varies, so nothing is held.
func TestFactorSwapTwoByTwo(t *testing.T) {
	cells := lrEpochs(100)
	r, err := factorSwap(cells, tidyValues(cells), params("factor-swap", map[string]string{"a": "lr", "b": "epochs"}))
	require.NoError(t, err)
	require.Equal(t, []string{"group", "swap", "contexts", "mean_pp", "median_pp"}, r.Columns)
	require.Len(t, r.Rows, 2)
	require.Equal(t, []any{"all", "lr", 2}, r.Rows[0][:3])
	require.InDelta(t, 25.0, r.Rows[0][3], 1e-9)
	require.InDelta(t, 25.0, r.Rows[0][4], 1e-9)
	require.Equal(t, []any{"all", "epochs", 2}, r.Rows[1][:3])
	require.InDelta(t, 35.0, r.Rows[1][3], 1e-9)
	notes := strings.Join(r.Notes, "\n")
	require.Contains(t, notes, "ratio epochs-swap / lr-swap (means) = 1.400")
	require.Contains(t, notes, "lr-swap: per context (a value of epochs and of the held factors) the median over pairs of lr values of |ΔV|")

	// One epochs value: no epochs swap — undefined, shown empty and said so.
	one := cells[:2]
	r, err = factorSwap(one, tidyValues(one), params("factor-swap", map[string]string{"a": "lr", "b": "epochs"}))
	require.NoError(t, err)
	require.Equal(t, []any{"all", "epochs", 0, nil, nil}, r.Rows[1])
	require.Contains(t, strings.Join(r.Notes, "\n"), "no context holds two values of epochs")

	_, err = factorSwap(cells, tidyValues(cells), params("factor-swap", map[string]string{"a": "noun", "b": "trait+level"}))
	require.ErrorIs(t, err, ErrBadParam)
	require.Contains(t, err.Error(), `factor "noun" is not in this experiment's design`)
	_, err = factorSwap(cells, tidyValues(cells), params("factor-swap", nil))
	require.ErrorIs(t, err, ErrBadParam)
	require.Contains(t, err.Error(), "name the two factors (factors here:")
}

// The #81 parameterisation on a two-noun grid of source chef:
//
//	            O/L1  O/L2  C/L1
//	chef        .50   .30   .40
//	pirate      .20   .20
//
// noun swaps: O/L1 .3, O/L2 .1 (C/L1 has one noun) → 2 contexts, mean 20
// pp, median 20; descriptor swaps: chef median(|.5−.3|, |.5−.4|, |.3−.4|)
// = .1, pirate |.2−.2| = 0 → mean 5 pp. symmetric-swap prints the same
// under its #81 names.
func TestFactorSwapIsTheI81SymmetricSwap(t *testing.T) {
	grid := []Cell{cell("chef", i81.A1Key("chef", "Openness", "L1"), .5), cell("chef", i81.A1Key("chef", "Openness", "L2"), .3),
		cell("chef", i81.A1Key("chef", "Conscientiousness", "L1"), .4), cell("chef", i81.A1Key("pirate", "Openness", "L1"), .2),
		cell("chef", i81.A1Key("pirate", "Openness", "L2"), .2), cell("chef", i81.A2Key("chef"), .9)}
	tc := asTidy(grid)
	name, p, err := presetParams("symmetric-swap", nil)
	require.NoError(t, err)
	require.Equal(t, "factor-swap", name)
	r, err := factorSwap(tc, tidyValues(tc), p)
	require.NoError(t, err)
	require.Equal(t, []any{"all", "noun", 2}, r.Rows[0][:3])
	require.InDelta(t, 20.0, r.Rows[0][3], 1e-9)
	require.InDelta(t, 20.0, r.Rows[0][4], 1e-9)
	require.Equal(t, []any{"all", "trait+level", 2}, r.Rows[1][:3])
	require.InDelta(t, 5.0, r.Rows[1][3], 1e-9)

	sw := runTiny(t, "symmetric-swap", grid, nil)
	require.Equal(t, []string{"swap", "contexts", "mean_pp", "median_pp"}, sw.Columns)
	require.Equal(t, []any{"noun", 2}, sw.Rows[0][:2])
	require.InDelta(t, 20.0, sw.Rows[0][2], 1e-9)
	require.Equal(t, []any{"descriptor", 2}, sw.Rows[1][:2])
	require.InDelta(t, 5.0, sw.Rows[1][2], 1e-9)
	require.Contains(t, strings.Join(sw.Notes, "\n"), "ratio descriptor/noun (means) = 0.250")
}
