package estimands

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Four bystanders, arm x at .4 and .2 (mean .3), arm y at .1 and .1 (mean
// .1): spread 20 pp. Of the 6 ways to label two cells x, the observed one
// and its mirror give .2, the other four .1: p ≈ 2/6. Without ref the
// effect is the rate itself; over (auto) is the persona.
func armCells() []tidy {
	return []tidy{obs("r", "p1", .4, 200, "arm=x"), obs("r", "p2", .2, 200, "arm=x"), obs("r", "p3", .1, 200, "arm=y"), obs("r", "p4", .1, 200, "arm=y")}
}

func TestFactorPermutationSpreadAndP(t *testing.T) {
	cells := armCells()
	p := params("factor-permutation", map[string]string{"a": "arm", "permutations": "3000"})
	r, err := factorPermutation(context.Background(), cells, tidyValues(cells), p)
	require.NoError(t, err)
	require.Equal(t, []string{"group", "cells", "values", "observed_spread_pp", "lowest", "highest", "p_value", "permutations", "seed"}, r.Columns)
	row := r.Rows[0]
	require.Equal(t, []any{"all", 4, 2}, row[:3])
	require.InDelta(t, 20.0, row[3], 1e-9)
	require.Equal(t, []any{"y", "x"}, row[4:6])
	require.InDelta(t, 1.0/3, row[6], 0.04)
	require.Equal(t, []any{3000, uint64(42)}, row[7:])
	require.Contains(t, strings.Join(r.Notes, "\n"), "effect = V itself (no reference)")

	// The same seed gives the same p whatever order the cells come in.
	rev := []tidy{cells[3], cells[1], cells[2], cells[0]}
	r2, err := factorPermutation(context.Background(), rev, tidyValues(rev), p)
	require.NoError(t, err)
	require.Equal(t, row[6], r2.Rows[0][6])

	// One value of a: no spread — undefined, shown empty.
	one := cells[:2]
	r, err = factorPermutation(context.Background(), one, tidyValues(one), p)
	require.NoError(t, err)
	require.Equal(t, []any{"all", 2, 1, nil, nil, nil, nil}, r.Rows[0][:7])
	require.Contains(t, strings.Join(r.Notes, "\n"), "one value of arm — no spread to test, undefined")
}

func TestFactorPermutationRefusals(t *testing.T) {
	cells := armCells()
	for _, c := range []struct {
		over map[string]string
		is   error
		want string
	}{
		{nil, ErrBadParam, "name the factor whose values are compared (factors here: arm (2 values))"},
		{map[string]string{"a": "trait"}, ErrBadParam, `a: factor "trait" is not in this experiment's design`},
		{map[string]string{"a": "arm", "effect": "trait+level"}, ErrBadParam, `effect: factor "trait" is not in this experiment's design`},
		{map[string]string{"a": "arm", "permutations": "0"}, ErrBadParam, `permutations="0"`},
		{map[string]string{"a": "arm", "seed": "-3"}, ErrBadParam, `seed="-3"`},
		{map[string]string{"a": "arm", "ref": RefAbsent}, ErrNoData, "ref=absent needs reference cells without arm"},
	} {
		_, err := factorPermutation(context.Background(), cells, tidyValues(cells), params("factor-permutation", c.over))
		require.ErrorIs(t, err, c.is, "%v", c.over)
		require.Contains(t, err.Error(), c.want, "%v", c.over)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := factorPermutation(ctx, cells, tidyValues(cells), params("factor-permutation", map[string]string{"a": "arm"}))
	require.ErrorIs(t, err, context.Canceled)
}
