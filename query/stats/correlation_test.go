package stats

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"leakscope/events/eventstest"
)

type published struct {
	Rho   float64 `json:"spearman_rho"`
	RhoP  float64 `json:"spearman_p"`
	R     float64 `json:"pearson_r"`
	RP    float64 `json:"pearson_p"`
	Pairs int     `json:"n_pairs"`
}

type pair struct {
	Cosine  float64 `json:"cosine_sim"`
	Leakage float64 `json:"leakage_rate"`
}

// case_ is one published correlation with the pairs it was computed from.
type case_ struct {
	name string
	pub  published
	x, y []float64
}

// publishedCorrelations reads single_token_100_persona/cosine_leakage_correlation.json:
// per layer, per source and the _aggregate over all sources, SciPy's ρ, r and p.
func publishedCorrelations(t *testing.T) []case_ {
	raw, err := os.ReadFile(filepath.Join(eventstest.FixturesDir(t), "single_token_100_persona", "cosine_leakage_correlation.json"))
	require.NoError(t, err)
	var file map[string]map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &file))
	var out []case_
	layers := make([]string, 0, len(file))
	for l := range file {
		layers = append(layers, l)
	}
	sort.Strings(layers)
	for _, layer := range layers {
		var detail map[string][]pair
		require.NoError(t, json.Unmarshal(file[layer]["_per_source_detail"], &detail))
		var all case_
		all.name = layer + "/_aggregate"
		require.NoError(t, json.Unmarshal(file[layer]["_aggregate"], &all.pub))
		sources := make([]string, 0, len(detail))
		for s := range detail {
			sources = append(sources, s)
		}
		sort.Strings(sources)
		for _, src := range sources {
			c := case_{name: layer + "/" + src}
			require.NoError(t, json.Unmarshal(file[layer][src], &c.pub))
			for _, p := range detail[src] {
				c.x, c.y = append(c.x, p.Cosine), append(c.y, p.Leakage)
			}
			all.x, all.y = append(all.x, c.x...), append(all.y, c.y...)
			out = append(out, c)
		}
		out = append(out, all)
	}
	require.Len(t, out, 4*6, "4 layers × (5 sources + aggregate)")
	return out
}

// (a) ρ and r from the stored pairs are within 0.001 of SciPy's published
// values (the stored cosines are rounded to 4 decimals).
func TestCorrelationsMatchSciPy(t *testing.T) {
	for _, c := range publishedCorrelations(t) {
		require.Len(t, c.x, c.pub.Pairs, c.name)
		rho, _, err := Spearman(c.x, c.y)
		require.NoError(t, err)
		require.InDelta(t, c.pub.Rho, rho, 1e-3, "%s spearman", c.name)
		r, _, err := Pearson(c.x, c.y)
		require.NoError(t, err)
		require.InDelta(t, c.pub.R, r, 1e-3, "%s pearson", c.name)
	}
}

// (b) the p-value functions applied to the published coefficient and n give
// the published p within 3 % relative.
func TestPValuesMatchSciPy(t *testing.T) {
	for _, c := range publishedCorrelations(t) {
		require.InEpsilon(t, c.pub.RhoP, SpearmanP(c.pub.Rho, c.pub.Pairs), 0.03, "%s spearman p", c.name)
		require.InEpsilon(t, c.pub.RP, PearsonP(c.pub.R, c.pub.Pairs), 0.03, "%s pearson p", c.name)
	}
}

// The golden tests above would catch the two classic mistakes: ordinal
// ranks instead of average ranks for ties (leakage rates tie a lot at 0),
// and a normal instead of a t approximation for the p-value.
func TestGoldenTestsCatchCommonMistakes(t *testing.T) {
	ordinal := func(x []float64) []float64 {
		idx := make([]int, len(x))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
		r := make([]float64, len(x))
		for rank, i := range idx {
			r[i] = float64(rank + 1)
		}
		return r
	}
	caughtRanks, caughtNormal := 0, 0
	for _, c := range publishedCorrelations(t) {
		wrong := stat.Correlation(ordinal(c.x), ordinal(c.y), nil)
		if math.Abs(wrong-c.pub.Rho) > 1e-3 {
			caughtRanks++
		}
		z := c.pub.Rho * math.Sqrt(float64(c.pub.Pairs-1))
		normalP := 2 * distuv.UnitNormal.Survival(math.Abs(z))
		if math.Abs(normalP-c.pub.RhoP)/c.pub.RhoP > 0.03 {
			caughtNormal++
		}
	}
	require.Greater(t, caughtRanks, 0, "ordinal ranks would fail the ρ test somewhere")
	require.Greater(t, caughtNormal, 0, "a normal approximation would fail the p test somewhere")
	t.Logf("ordinal ranks fail %d of 24 cases; normal p fails %d of 24", caughtRanks, caughtNormal)
}

func TestRanksAndErrors(t *testing.T) {
	require.Equal(t, []float64{1, 2.5, 2.5, 4}, Ranks([]float64{10, 20, 20, 30}))
	require.Equal(t, []float64{2, 2, 2}, Ranks([]float64{5, 5, 5}))
	_, _, err := Spearman([]float64{1, 2}, []float64{1, 2})
	require.ErrorIs(t, err, ErrTooFew)
	_, _, err = Pearson([]float64{1, 1, 1}, []float64{1, 2, 3})
	require.ErrorContains(t, err, "constant")
	_, _, err = Spearman([]float64{1, 2, 3}, []float64{1, 2})
	require.Error(t, err)
}
