package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/query"
	"leakscope/query/estimands"
)

// The spine without ../shared (issue 19): `leakscope demo --synthetic`
// submits the built-in #81-shaped sweep to the job queue, an in-process
// replay worker publishes it to the bus, ingest writes the lake, and
// DuckDB answers — on generated data only, so a stranger's `make test`
// exercises bus → ingest → lake → query. Running it again changes nothing.
func TestSyntheticDemoRunsTheSpineWithoutFixtures(t *testing.T) {
	data := t.TempDir()
	out, errs, code := run(t, data, "demo", "--synthetic", "--http", "127.0.0.1:0")
	require.Zero(t, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Regexp(t, `watch it live: http://127\.0\.0\.1:\d+/live/demo_synthetic \(served while the demo runs`, out)
	require.Contains(t, out, "SYNTHETIC")
	require.Contains(t, out, "sweep demo_synthetic: 17 jobs queued, 0 already queued or running, 0 already finished")
	require.Contains(t, out, "all 17 jobs finished")
	require.Regexp(t, `figures: 1\d drawn into `+regexp.QuoteMeta(filepath.Join(data, "figures", "demo_synthetic")), out)
	require.FileExists(t, filepath.Join(data, "figures", "demo_synthetic", "submatrix_5x5.png"))

	check := func() {
		e := openEngine(t, filepath.Join(data, "lake"))
		defer e.Close()
		ctx := context.Background()
		// 6 runs (base + 5 sources) × 131 bystanders, each cell 20 questions × n=4, none twice.
		res, err := e.SQL(ctx, `SELECT count(DISTINCT run_id), count(DISTINCT run_id || '/' || persona), min(c), max(c), sum(c)::BIGINT, sum(d)::BIGINT
			FROM (SELECT run_id, persona, count(*) c, count(DISTINCT event_id) d FROM completions WHERE experiment = 'demo_synthetic' GROUP BY ALL)`)
		require.NoError(t, err)
		require.Equal(t, []any{int64(6), int64(6 * 131), int64(80), int64(80), int64(62880), int64(62880)}, res.Rows[0])
		lk, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "demo_synthetic"})
		require.NoError(t, err)
		rate := map[[2]string]float64{}
		for _, c := range lk.Cells {
			require.NotNil(t, c.Rate, "%s/%s", c.RunID, c.Persona)
			require.EqualValues(t, 80, *c.Total)
			rate[[2]string{c.RunID, c.Persona}] = *c.Rate
		}
		for _, noun := range []string{"person", "chef", "pirate", "child", "robot"} {
			run := "demo_synthetic-src_" + noun + "-s42"
			self := rate[[2]string{run, "A2__" + noun}]
			require.True(t, self >= 0.75 && self <= 1, "%s self cell %v: the synthetic model's 0.9", noun, self)
			var sameNoun float64
			n := 0
			for k, r := range rate {
				if k[0] == run && strings.HasPrefix(k[1], "A1__"+noun+"__") {
					sameNoun += r
					n++
				}
			}
			require.Equal(t, 25, n)
			require.True(t, sameNoun/25 > 0.2 && sameNoun/25 < 0.6, "%s: mean over its 25 A1 cells %v", noun, sameNoun/25)
			require.Zero(t, rate[[2]string{"demo_synthetic-base-s42", "A2__" + noun}], "no adapter, no marker")
		}
		require.Less(t, rate[[2]string{"demo_synthetic-src_chef-s42", "A2__pirate"}], 0.1, "an unrelated bystander")
		require.Zero(t, rate[[2]string{"demo_synthetic-src_chef-s42", "comedian"}], "a negative of src_chef")
		// The H2 estimand over the lake: noun effects far above trait effects.
		h2, err := estimands.Run(ctx, e, "h2", "demo_synthetic", nil)
		require.NoError(t, err)
		require.Len(t, h2.Rows, 4)
		require.Equal(t, "chef", h2.Rows[0][0])
		require.InDelta(t, 33.125, h2.Rows[0][1], 1e-9, "noun effect of chef, pp")
		require.InDelta(t, 1.25, h2.Rows[0][2], 1e-9, "trait effect of chef, pp")
		// The sweep embeds at layers 1–3, not at the default layer 20: the
		// cosine estimand takes the deepest layer and says so; a layer the
		// caller names is never replaced.
		cl, err := estimands.Run(ctx, e, "cosine-leakage", "demo_synthetic", nil)
		require.NoError(t, err)
		require.Equal(t, "3", cl.Provenance.Params["layer"])
		require.Contains(t, strings.Join(cl.Notes, "\n"), "no raw cosines at layer 20 (the default) in demo_synthetic: layer 3, the deepest it has, is used")
		_, err = estimands.Run(ctx, e, "cosine-leakage", "demo_synthetic", map[string]string{"layer": "20"})
		require.ErrorIs(t, err, estimands.ErrNoData)
	}
	check()
	// The figure lint on generated data, so it runs without ../shared too.
	e := openEngine(t, filepath.Join(data, "lake"))
	problems, linted := lintExperiment(t, e, "demo_synthetic")
	e.Close()
	require.GreaterOrEqual(t, linted, 12, "the #81 set and the generic figures")
	require.Empty(t, problems, "figure lint:\n%s", strings.Join(problems, "\n"))

	// Again: every job is found finished, the lake is unchanged.
	out, errs, code = run(t, data, "demo", "--synthetic", "--http", "127.0.0.1:0")
	require.Zero(t, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Contains(t, out, "sweep demo_synthetic: 0 jobs queued, 0 already queued or running, 17 already finished")
	check()
}

// The synthetic demo never writes into an experiment that holds imported
// runs: it refuses, naming them, and publishes nothing.
func TestSyntheticDemoRefusesAnExperimentWithImportedRuns(t *testing.T) {
	data, results := t.TempDir(), t.TempDir()
	f := filepath.Join(results, "demo_synthetic", "published_run", "marker_eval.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(f), 0o755))
	require.NoError(t, os.WriteFile(f, []byte(`{"A2__chef": {"rate": 0.5, "found": 3, "total": 6}}`), 0o644))
	out, errs, code := run(t, data, "import", results)
	require.Zero(t, code, "%s\n%s", out, errs)
	out, errs, code = run(t, data, "demo", "--synthetic", "--http", "127.0.0.1:0")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Contains(t, errs, `experiment "demo_synthetic" already holds imported runs (published_run)`)
	require.NotContains(t, out, "jobs queued")
	e := openEngine(t, filepath.Join(data, "lake"))
	defer e.Close()
	res, err := e.SQL(context.Background(), `SELECT count(*) FROM runs WHERE experiment = 'demo_synthetic'`)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Rows[0][0], "only the imported run")
}
