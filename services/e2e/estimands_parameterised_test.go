package e2e

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events/eventstest"
	"leakscope/presets/i81"
	"leakscope/query"
	"leakscope/query/estimands"
)

// presetRun runs the generic estimand that the preset says the #81
// estimand name is, with the preset's parameters and pinned sources.
func presetRun(t *testing.T, name string, extra map[string]string) (map[string][]any, [][]any) {
	t.Helper()
	pz, ok := i81.Preset.Parameterisations[name]
	require.True(t, ok, name)
	params := map[string]string{}
	for k, v := range pz.Params {
		params[k] = v
	}
	src, ok := i81.Preset.Pinned(name, "sources")
	require.True(t, ok, name)
	params["sources"] = src
	for k, v := range extra {
		params[k] = v
	}
	rows, res := analyze(t, pz.Estimand, "leakage_i81", params)
	return rows, res.Rows
}

// trait-ranking, symmetric-swap and axis-permutation's published 4-source
// values through the generic factor-ranking, factor-swap and
// factor-permutation with the preset's parameters (read from
// presets/i81/i81.json), from the tidy cells of the leakage matrix; and the
// #81 estimands, which run the same code on their grid, agree row by row.
func TestGenericRankingSwapPermutationReproduceI81(t *testing.T) {
	_, rank := presetRun(t, "trait-ranking", nil)
	require.Len(t, rank, 25)
	require.Equal(t, []any{"all", 1, "Agreeableness", "L1"}, rank[0][:4], "Agreeableness L1 ranks first")
	require.InDelta(t, 23.10, rank[0][4], 0.005)
	require.Equal(t, 20, rank[0][6], "4 sources × 5 nouns")
	_, old := analyze(t, "trait-ranking", "leakage_i81", nil)
	require.Len(t, old.Rows, 25)
	for i, r := range old.Rows {
		require.Equal(t, r[:4], rank[i][:4], "rank %d", i+1)
		require.InDelta(t, r[4], rank[i][4], 1e-9, "rank %d", i+1)
		require.InDelta(t, r[5], rank[i][5], 1e-9, "rank %d", i+1)
		require.Equal(t, r[6], rank[i][6], "rank %d", i+1)
	}
	// Per source with the diagonal dropped: source moves from over to by.
	_, per := presetRun(t, "trait-ranking", map[string]string{"by": "source", "over": "noun", "drop_equal": "noun,source"})
	_, oldPer := analyze(t, "trait-ranking", "leakage_i81", map[string]string{"scope": "per-source", "drop_diagonal": "true"})
	require.Len(t, per, 100)
	require.Equal(t, len(oldPer.Rows), len(per))
	for i, r := range oldPer.Rows {
		require.Equal(t, fmt.Sprint(r[:4]), fmt.Sprint(per[i][:4]))
		require.InDelta(t, r[4], per[i][4], 1e-9)
		require.Equal(t, 4, per[i][6], "5 nouns less the source's own")
	}

	_, swRows := presetRun(t, "symmetric-swap", nil)
	require.Len(t, swRows, 2)
	noun, desc := swRows[0], swRows[1]
	require.Equal(t, []any{"all", "noun", 100}, noun[:3], "4 sources × 25 (trait, level) contexts")
	require.InDelta(t, 3.585, noun[3], 1e-3)
	require.InDelta(t, 2.25, noun[4], 1e-9)
	require.Equal(t, []any{"all", "trait+level", 20}, desc[:3], "4 sources × 5 nouns")
	require.InDelta(t, 2.638, desc[3], 1e-3)
	require.InDelta(t, 1.75, desc[4], 1e-9)

	_, perm := presetRun(t, "axis-permutation", nil)
	require.Len(t, perm, 1)
	require.Equal(t, []any{"all", 500, 5}, perm[0][:3], "4 sources × 125 A1 cells, 5 traits")
	require.InDelta(t, 1.96, perm[0][3], 1e-9)
	require.Equal(t, []any{"Conscientiousness", "Agreeableness"}, perm[0][4:6])
	require.InDelta(t, 0.966, perm[0][6], 0.01, "4-source p; RNG-dependent")
	_, oldPerm := analyze(t, "axis-permutation", "leakage_i81", nil)
	require.Equal(t, oldPerm.Rows[0][2], perm[0][6], "same cells in the same order, same seed: the same p")
}

// The same three estimands on the rates-only families, checked against
// means taken by hand from the leakage matrix: single_token_sweep's mean
// rate per lr (factor-ranking without a reference), its lr × epochs swaps
// (one context per bystander and value of the other factor), and
// leakage_experiment's spread between the two negative sets
// (factor-permutation).
func TestGenericRankingSwapPermutationOnRatesOnlyDesigns(t *testing.T) {
	dir := eventstest.RatesOnlyDir(t)
	s := startStack(t, t.TempDir())
	s.importPaths(t, dir, filepath.Join(dir, "single_token_sweep"), filepath.Join(dir, "leakage_experiment"))
	s.stop()
	e := openEngine(t, s.Lake)
	ctx := context.Background()

	meanBy := func(exp, factor string) map[string]float64 {
		lk, err := e.Leakage(ctx, query.LeakageRequest{Experiment: exp})
		require.NoError(t, err)
		sum, n := map[string]float64{}, map[string]int{}
		for _, c := range lk.Cells {
			if v, ok := c.RunFactors[factor]; ok && c.Rate != nil && !c.Missing {
				sum[v] += *c.Rate
				n[v]++
			}
		}
		out := map[string]float64{}
		for v := range sum {
			out[v] = sum[v] / float64(n[v])
		}
		return out
	}
	byLR := meanBy("single_token_sweep", "lr")
	require.Len(t, byLR, 5)
	res, err := estimands.Run(ctx, e, "factor-ranking", "single_token_sweep", map[string]string{"a": "lr", "by": ""})
	require.NoError(t, err)
	require.Len(t, res.Rows, 5)
	prev := math.Inf(1)
	for _, r := range res.Rows {
		want, ok := byLR[r[2].(string)]
		require.True(t, ok, "%v", r)
		require.InDelta(t, 100*want, r[3], 1e-9, "lr %v", r[2])
		require.LessOrEqual(t, r[3], prev, "ranked from largest")
		prev = r[3].(float64)
		require.Equal(t, 5*11, r[5], "5 epochs × 11 bystanders")
	}

	res, err = estimands.Run(ctx, e, "factor-swap", "single_token_sweep", map[string]string{"a": "lr", "b": "epochs"})
	require.NoError(t, err)
	require.Len(t, res.Rows, 2)
	require.Equal(t, []any{"villain", "lr", 5 * 11}, res.Rows[0][:3], "by source (auto); one lr-swap context per (bystander, epochs)")
	require.Equal(t, []any{"villain", "epochs", 5 * 11}, res.Rows[1][:3])
	require.NotNil(t, res.Rows[0][3])

	byNeg := meanBy("leakage_experiment", "neg_set")
	require.Len(t, byNeg, 2)
	var vals []float64
	for _, v := range byNeg {
		vals = append(vals, v)
	}
	res, err = estimands.Run(ctx, e, "factor-permutation", "leakage_experiment", map[string]string{"a": "neg_set", "by": "", "permutations": "500"})
	require.NoError(t, err)
	require.Len(t, res.Rows, 1)
	require.InDelta(t, 100*math.Abs(vals[0]-vals[1]), res.Rows[0][3], 1e-9)
	require.Greater(t, res.Rows[0][6], 0.0)
	require.LessOrEqual(t, res.Rows[0][6], 1.0)

	// The #81 parameterisation on a design without its factors: refused,
	// naming the factor.
	_, err = estimands.Run(ctx, e, "factor-ranking", "leakage_experiment", i81.Preset.Parameterisations["trait-ranking"].Params)
	require.ErrorIs(t, err, estimands.ErrBadParam)
	require.Contains(t, err.Error(), `factor "trait" is not in this experiment's design`)
}
