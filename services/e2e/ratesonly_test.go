package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events/eventstest"

	"leakscope/query"
	"leakscope/query/estimands"
)

// run_result.json of both families through bus → lake → DuckDB: the
// single-token sweep's cells are rate-only (no count, no interval) and
// carry lr/epochs; the leakage experiment's have total 100 from the eval
// size and carry neg_set.
func TestRatesOnlyRunResultsThroughTheLake(t *testing.T) {
	dir := eventstest.RatesOnlyDir(t)
	s := startStack(t, t.TempDir())
	s.importPaths(t, dir, filepath.Join(dir, "single_token_sweep"), filepath.Join(dir, "leakage_experiment"))
	s.stop()
	e := openEngine(t, s.Lake)
	ctx := context.Background()

	sweep, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "single_token_sweep"})
	require.NoError(t, err)
	require.Len(t, sweep.Cells, 25*11)
	var kt *query.Cell
	for i, c := range sweep.Cells {
		require.True(t, c.RateOnly, "%s %s", c.RunID, c.Persona)
		require.Nil(t, c.Found)
		require.Nil(t, c.Total)
		require.Nil(t, c.CILow)
		require.Nil(t, c.CIHigh)
		require.NotNil(t, c.Rate)
		require.Contains(t, c.RunFactors, "lr")
		require.Contains(t, c.RunFactors, "epochs")
		if c.RunID == "lr1e-05_ep5" && c.Persona == "kindergarten_teacher" {
			kt = &sweep.Cells[i]
		}
	}
	require.NotNil(t, kt)
	require.InDelta(t, 0.305, *kt.Rate, 1e-12)
	require.Equal(t, "1e-05", kt.RunFactors["lr"])
	require.Equal(t, "5", kt.RunFactors["epochs"])
	require.Equal(t, "villain", kt.SourcePersona)
	require.Equal(t, int64(42), *kt.Seed)

	leak, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "leakage_experiment"})
	require.NoError(t, err)
	require.Len(t, leak.Cells, 16*11)
	var po *query.Cell
	for i, c := range leak.Cells {
		require.False(t, c.RateOnly)
		require.Equal(t, int64(100), *c.Total, "%s %s", c.RunID, c.Persona)
		require.Equal(t, "eval.n_questions × eval.n_completions_per_question in run_result.json", c.TotalOrigin)
		if c.RunID == "marker_librarian_asst_included_medium_seed42" && c.Persona == "police_officer" {
			po = &leak.Cells[i]
		}
	}
	require.NotNil(t, po)
	require.Equal(t, int64(28), *po.Found)
	require.Equal(t, "asst_included", po.RunFactors["neg_set"])
	require.Equal(t, "medium", po.RunFactors["prompt_length"])
	require.Equal(t, "librarian", po.SourcePersona)

	// The generic estimands read the design: slopes over lr (log10, per
	// decade) and over epochs, rate-only so without intervals; the effect
	// of the negative set with source and bystander held.
	for _, f := range []struct{ factor, scale string }{{"lr", estimands.ScaleLog10}, {"epochs", estimands.ScaleLinear}} {
		by := "persona,epochs"
		if f.factor == "epochs" {
			by = "persona,lr"
		}
		res, err := estimands.Run(ctx, e, "factor-slope", "single_token_sweep", map[string]string{"factor": f.factor, "by": by})
		require.NoError(t, err, f.factor)
		require.Len(t, res.Rows, 11*5, "%s: one series per bystander × other factor", f.factor)
		for _, r := range res.Rows {
			require.Equal(t, f.scale, r[3], f.factor)
			require.NotNil(t, r[4], "a slope")
			require.Nil(t, r[5], "rate only: no interval")
			require.Equal(t, true, r[9])
		}
		require.Contains(t, strings.Join(res.Notes, "\n"), "rate only (n unknown)")
	}
	_, err = estimands.Run(ctx, e, "cell-rates", "single_token_sweep", nil)
	require.ErrorContains(t, err, "rates without counts (rate only, n unknown): this estimand needs found/total")

	eff, err := estimands.Run(ctx, e, "factor-effect", "leakage_experiment", map[string]string{"factor": "neg_set", "holding": "persona", "by": "source"})
	require.NoError(t, err)
	lib := map[string][]any{}
	for _, r := range eff.Rows {
		lib[r[0].(string)] = r
	}
	require.Contains(t, lib, "librarian")
	require.Equal(t, "asst_excluded,asst_included", lib["librarian"][2])
	require.Equal(t, 22, lib["librarian"][4], "11 bystanders measured under both negative sets, each value a reference once")
	require.NotNil(t, lib["librarian"][3])
	require.NotNil(t, lib["librarian"][5], "two values: a mean signed difference")
}
