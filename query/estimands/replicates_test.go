package estimands

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/query"
	"leakscope/query/stats"
)

func qcell(run, src string, seed *int64, factors events.Factors, by string, found int64) query.Cell {
	total := int64(200)
	r := float64(found) / 200
	return query.Cell{RunID: run, SourcePersona: src, Persona: by, Found: &found, Total: &total, Rate: &r, Seed: seed, RunFactors: factors}
}

func seedp(v int64) *int64 { return &v }

func TestReplicatesGroupsBySourceAndFactors(t *testing.T) {
	lr1, lr2 := events.Factors{"lr": "1e-4"}, events.Factors{"lr": "5e-4"}
	rate := 0.3
	lk := &query.Leakage{Cells: []query.Cell{
		// chef lr=1e-4: seeds 3, 1, 2 (listed out of order), two bystanders
		qcell("c3", "src_chef", seedp(3), lr1, "A2__pirate", 60), qcell("c1", "src_chef", seedp(1), lr1, "A2__pirate", 40),
		qcell("c2", "src_chef", seedp(2), lr1, "A2__pirate", 50),
		qcell("c1", "src_chef", seedp(1), lr1, "A2__robot", 10), qcell("c2", "src_chef", seedp(2), lr1, "A2__robot", 20),
		qcell("c3", "src_chef", seedp(3), lr1, "A2__robot", 30),
		// chef lr=5e-4: one seed — another group, never mixed into the first
		qcell("c9", "src_chef", seedp(1), lr2, "A2__pirate", 100),
		// pirate: two seeds, one of them rate-only
		qcell("p1", "src_pirate", seedp(1), nil, "A2__chef", 20),
		{RunID: "p2", SourcePersona: "src_pirate", Persona: "A2__chef", Rate: &rate, RateOnly: true, Seed: seedp(2)},
	}}
	res, err := replicatesOf(context.Background(), lk, "cell", stats.MethodSeedT, 100, 1)
	require.NoError(t, err)
	get := func(row []any, name string) any { return row[col(t, res, name)] }
	require.Len(t, res.Rows, 4)
	r := res.Rows[0] // src_chef lr=1e-4 A2__pirate
	require.Equal(t, []any{"src_chef", "lr=1e-4", "A2__pirate", 3, "1,2,3", "c1,c2,c3", "0.2,0.25,0.3", "40/200,50/200,60/200"}, r[:8])
	require.InDelta(t, 0.25, get(r, "rate"), 1e-12)
	half := 4.302652729911275 * 0.05 / math.Sqrt(3)
	require.InDelta(t, 0.25-half, get(r, "ci_low"), 1e-9)
	require.Equal(t, stats.MethodSeedT, get(r, "interval"))
	require.Nil(t, get(r, "note"))
	r = res.Rows[2] // src_chef lr=5e-4: one seed
	require.Equal(t, "lr=5e-4", get(r, "run_factors"))
	require.Equal(t, 1, get(r, "n_seeds"))
	require.Equal(t, "0.5", get(r, "per_seed_rates"))
	require.Nil(t, get(r, "rate"))
	require.Nil(t, get(r, "ci_low"))
	require.Equal(t, "1 seed: no between-seed interval", get(r, "note"))
	r = res.Rows[3] // src_pirate: rate-only seed → plain t
	require.Equal(t, "20/200,?", get(r, "per_seed_counts"))
	require.InDelta(t, 0.2, get(r, "rate"), 1e-12)
	require.Equal(t, stats.MethodSeedTPlain, get(r, "interval"))
	require.Contains(t, get(r, "note"), "counts unknown")

	res, err = replicatesOf(context.Background(), lk, "source", stats.MethodSeedT, 100, 1)
	require.NoError(t, err)
	require.Len(t, res.Rows, 3)
	r = res.Rows[0] // per seed the mean over both bystanders: .125, .175, .225
	require.Equal(t, 2, get(r, "bystanders"))
	require.Equal(t, "0.125,0.175,0.225", get(r, "per_seed_rates"))
	require.InDelta(t, 0.175, get(r, "rate"), 1e-12)

	// The hierarchical bootstrap is seeded: the same seed, the same rows.
	a, err := replicatesOf(context.Background(), lk, "cell", stats.MethodHierBootstrap, 500, 7)
	require.NoError(t, err)
	b, _ := replicatesOf(context.Background(), lk, "cell", stats.MethodHierBootstrap, 500, 7)
	require.Equal(t, a.Rows, b.Rows)
	require.Equal(t, stats.MethodHierBootstrap, a.Rows[0][col(t, a, "interval")])
}

func TestReplicatesFlagsSharedAndMissingSeeds(t *testing.T) {
	lk := &query.Leakage{Cells: []query.Cell{
		qcell("a", "src_chef", seedp(1), nil, "x", 10), qcell("b", "src_chef", seedp(1), nil, "x", 20),
		qcell("n1", "src_robot", nil, nil, "x", 10), qcell("n2", "src_robot", nil, nil, "x", 20),
	}}
	res, err := replicatesOf(context.Background(), lk, "cell", stats.MethodSeedT, 100, 1)
	require.NoError(t, err)
	require.Len(t, res.Rows, 3, "runs without a seed are each their own group")
	require.Equal(t, 2, res.Rows[0][col(t, res, "n_seeds")])
	require.Contains(t, res.Notes[0], "seed 1 is carried by runs a, b")
	require.Equal(t, "?", res.Rows[1][col(t, res, "seeds")])
	_, err = replicatesOf(context.Background(), &query.Leakage{}, "cell", stats.MethodSeedT, 100, 1)
	require.ErrorIs(t, err, ErrNoData)
}
