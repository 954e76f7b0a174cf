package e2e

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events/eventstest"
	"leakscope/query"
	"leakscope/query/estimands"
)

func colOf(t *testing.T, r *estimands.Result, name string) int {
	t.Helper()
	for i, c := range r.Columns {
		if c == name {
			return i
		}
	}
	t.Fatalf("no column %s in %v", name, r.Columns)
	return -1
}

// The #81 interaction and head-to-head through the generic two-factor
// estimands with the preset's parameters: the same noun ranges as
// `interaction`, and head_to_head.json's per-source values.
func TestGenericTwoFactorEstimandsReproduceI81(t *testing.T) {
	_, want := analyze(t, "interaction", "leakage_i81", nil)
	_, got := analyze(t, "factor-interaction", "leakage_i81", map[string]string{"a": "noun", "b": "trait+level", "by": "source", "sources": "chef,pirate,child,robot"})
	st, bv, v, n := colOf(t, got, "statistic"), colOf(t, got, "b_value"), colOf(t, got, "value_pp"), colOf(t, got, "n")
	ranges := map[string][]any{}
	for _, r := range got.Rows {
		if r[st] == "a_range" {
			ranges[fmt.Sprintf("%v/%v", r[0], r[bv])] = r
		}
	}
	require.Len(t, want.Rows, 100, "4 sources × 25 (trait, level)")
	require.Len(t, ranges, len(want.Rows))
	for _, w := range want.Rows {
		g := ranges[fmt.Sprintf("%v/%v/%v", w[0], w[1], w[2])]
		require.NotNil(t, g, "%v", w)
		require.InDelta(t, w[3], g[v], 1e-9, "%v", w)
		require.Equal(t, w[4], g[n], "%v", w)
	}

	file := publishedHeadToHead(t)
	for _, holding := range []string{"", estimands.ByDefault} {
		rows, _ := analyze(t, "factor-head-to-head", "leakage_i81", map[string]string{"a": "noun", "b": "trait+level", "b_ref": estimands.RefAbsent,
			"by": "source", "holding": holding, "sources": "chef,pirate,child,robot"})
		require.Len(t, rows, 4)
		for _, s := range []string{"chef", "pirate", "child", "robot"} {
			w := file.PerSource[s]
			if w.Total == 0 {
				w = file.PerSource["src_"+s]
			}
			require.NotZero(t, w.Total, s)
			require.Equal(t, w.Total, rows[s][3], s)
			require.InDelta(t, w.NounLeak, rows[s][4], 1e-9, "%s a-swap = noun-swap", s)
			require.InDelta(t, w.TraitLeak, rows[s][5], 1e-9, "%s b-swap = trait", s)
			require.Equal(t, w.NounWins, rows[s][6], s)
			require.InDelta(t, w.Ratio, rows[s][7], 1e-3, s)
		}
	}
}

// On the rates-only families: the negative set against the source on
// leakage_experiment (counts 100 from the eval size: intervals), lr against
// epochs on single_token_sweep (rate only: no interval, said so); the
// ranges equal max − min of the leakage matrix's own rates.
func TestGenericTwoFactorEstimandsOnRatesOnlyDesigns(t *testing.T) {
	dir := eventstest.RatesOnlyDir(t)
	s := startStack(t, t.TempDir())
	s.importPaths(t, dir, filepath.Join(dir, "single_token_sweep"), filepath.Join(dir, "leakage_experiment"))
	s.stop()
	e := openEngine(t, s.Lake)
	ctx := context.Background()

	// By hand from the matrix: police_officer under source librarian at
	// prompt_length medium, the range over neg_set.
	lk, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "leakage_experiment"})
	require.NoError(t, err)
	lo, hi, k := math.Inf(1), math.Inf(-1), 0
	for _, c := range lk.Cells {
		if c.SourcePersona == "librarian" && c.Persona == "police_officer" && c.RunFactors["prompt_length"] == "medium" {
			lo, hi, k = math.Min(lo, *c.Rate), math.Max(hi, *c.Rate), k+1
		}
	}
	require.Equal(t, 2, k, "two negative sets")
	res, err := estimands.Run(ctx, e, "factor-interaction", "leakage_experiment", map[string]string{"a": "neg_set", "b": "source"})
	require.NoError(t, err)
	st, ctxCol, bv, v := colOf(t, res, "statistic"), colOf(t, res, "context"), colOf(t, res, "b_value"), colOf(t, res, "value_pp")
	notes := strings.Join(res.Notes, "\n")
	require.Contains(t, notes, "groups by nothing (one group, all); held fixed: persona;", "condition names each run (nested in neg_set × source): not held")
	seen, withCI := false, 0
	for _, r := range res.Rows {
		if r[st] == "a_range" && r[ctxCol] == "police_officer" && r[bv] == "librarian" {
			require.InDelta(t, 100*(hi-lo), r[v], 1e-9)
			seen = true
		}
		if r[st] == "max_contrast" && r[colOf(t, res, "ci_low_pp")] != nil {
			withCI++
			require.LessOrEqual(t, r[colOf(t, res, "ci_low_pp")], r[v])
			require.GreaterOrEqual(t, r[colOf(t, res, "ci_high_pp")], r[v])
		}
	}
	require.True(t, seen)
	require.Greater(t, withCI, 0, "counts from the eval size give intervals")

	res, err = estimands.Run(ctx, e, "factor-interaction", "single_token_sweep", map[string]string{"a": "lr", "b": "epochs"})
	require.NoError(t, err)
	contrasts := 0
	for _, r := range res.Rows {
		if r[st] == "max_contrast" {
			contrasts++
			require.Nil(t, r[colOf(t, res, "ci_low_pp")], "rate only: no interval")
			require.Equal(t, true, r[colOf(t, res, "rate_only")])
			require.NotNil(t, r[v])
			require.Equal(t, 100, r[colOf(t, res, "n")], "C(5,2)² 2×2s of lr × epochs")
		}
	}
	require.Equal(t, 11, contrasts, "one table per bystander")
	require.Contains(t, strings.Join(res.Notes, "\n"), "rate-only cells (n unknown): shown without an interval")

	res, err = estimands.Run(ctx, e, "factor-head-to-head", "single_token_sweep", map[string]string{"a": "lr", "b": "epochs"})
	require.NoError(t, err)
	require.Len(t, res.Rows, 1)
	require.Equal(t, 25*11, res.Rows[0][3], "every cell has both swaps")

	_, err = estimands.Run(ctx, e, "near-twin-pairs", "single_token_sweep", nil)
	require.ErrorIs(t, err, estimands.ErrNoData)
	require.Contains(t, err.Error(), `needs the pairing factor "pair"`)
	require.Contains(t, err.Error(), "lr (5 values)")
}
