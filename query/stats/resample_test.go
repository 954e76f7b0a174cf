package stats

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPercentileIsNumpyLinear(t *testing.T) {
	x := []float64{4, 1, 3, 2} // sorted 1 2 3 4
	// numpy.percentile(x, 25) = 1 + 0.75·(2−1) = 1.75 (position (4−1)·0.25 = 0.75)
	require.InDelta(t, 1.75, Percentile(x, 25), 1e-12)
	require.InDelta(t, 2.5, Percentile(x, 50), 1e-12)
	require.Equal(t, 4.0, Percentile(x, 100))
	require.Equal(t, 1.0, Percentile(x, 0))
	require.True(t, math.IsNaN(Percentile(nil, 50)))
	require.Equal(t, []float64{4, 1, 3, 2}, x, "input untouched")
}

// The bootstrap CI of a cell is seeded (same seed, same interval) and has
// the half-width the authors' CSV shows: within 0.006 of 1.96·sqrt(p(1−p)/n)
// (EXPERIMENT.md §6.1).
func TestBootstrapRate(t *testing.T) {
	lo, hi, err := BootstrapRate(37, 200, 1000, 0.95, NewRNG(7))
	require.NoError(t, err)
	lo2, hi2, _ := BootstrapRate(37, 200, 1000, 0.95, NewRNG(7))
	require.Equal(t, [2]float64{lo, hi}, [2]float64{lo2, hi2})
	p := 37.0 / 200
	require.InDelta(t, 1.96*math.Sqrt(p*(1-p)/200), (hi-lo)/2, 0.006)
	require.Less(t, lo, p)
	require.Greater(t, hi, p)
	lo, hi, err = BootstrapRate(0, 200, 1000, 0.95, NewRNG(1))
	require.NoError(t, err)
	require.Equal(t, [2]float64{0, 0}, [2]float64{lo, hi}, "no hits: every resample has none")
	_, _, err = BootstrapRate(3, 2, 10, 0.95, NewRNG(1))
	require.Error(t, err)
}

func TestOLSSlopeAndBootstrap(t *testing.T) {
	// y = 0.1 + 0.05·x exactly: slope 0.05.
	s, err := OLSSlope([]float64{1, 2, 3, 4, 5}, []float64{0.15, 0.2, 0.25, 0.3, 0.35})
	require.NoError(t, err)
	require.InDelta(t, 0.05, s, 1e-12)
	_, err = OLSSlope([]float64{1}, []float64{1})
	require.ErrorIs(t, err, ErrTooFew)
	_, err = OLSSlope([]float64{2, 2}, []float64{1, 2})
	require.Error(t, err)
	slopes, err := BootstrapSlope([]float64{1, 2, 3, 4, 5}, []float64{0, 0, 0, 0, 0}, []int{200, 200, 200, 200, 200}, 50, NewRNG(3))
	require.NoError(t, err)
	for _, v := range slopes {
		require.Equal(t, 0.0, v, "rates of 0 never move")
	}
	_, err = BootstrapSlope([]float64{1, 2}, []float64{0.5, 1.5}, []int{10, 10}, 5, NewRNG(3))
	require.Error(t, err)
}

// Two groups, labels 0 0 1 1 over values 1 2 10 11: the observed difference
// of means is 9. Of the 6 distinct labelings only the observed one and its
// mirror reach |diff| = 9, so p ≈ 2/6 with many shuffles; the statistic
// |mean1 − mean0| makes equality count as extreme (tie rule ≥).
func TestPermutationTest(t *testing.T) {
	vals := []float64{1, 2, 10, 11}
	statistic := func(lab []int) float64 {
		var s [2]float64
		for i, l := range lab {
			s[l] += vals[i]
		}
		return math.Abs(s[1]/2 - s[0]/2)
	}
	obs, p := PermutationTest([]int{0, 0, 1, 1}, statistic, 6000, NewRNG(42))
	require.Equal(t, 9.0, obs)
	require.InDelta(t, 1.0/3, p, 0.03)
	_, p2 := PermutationTest([]int{0, 0, 1, 1}, statistic, 6000, NewRNG(42))
	require.Equal(t, p, p2, "seeded")
}
