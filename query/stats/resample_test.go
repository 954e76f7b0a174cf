package stats

import (
	"math"
	"sort"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

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

// The CDF table that BootstrapRate inverts is the binomial's (gonum's CDF),
// including extreme n and p, and counting draws gives numpy's percentiles
// of the sorted draws.
func TestBinomialCDFAndCountedPercentiles(t *testing.T) {
	for _, c := range []struct {
		n int
		p float64
	}{{200, 0.185}, {200, 0.005}, {200, 0.995}, {1, 0.5}, {5000, 0.3}, {40, 0}, {40, 1}} {
		cdf := binomialCDF(c.n, c.p)
		require.Len(t, cdf, c.n+1)
		ref := distuv.Binomial{N: float64(c.n), P: c.p}
		for k := 0; k <= c.n; k += max(1, c.n/50) {
			require.InDelta(t, ref.CDF(float64(k)), cdf[k], 1e-9, "n=%d p=%v k=%d", c.n, c.p, k)
		}
		require.Equal(t, 1.0, cdf[c.n])
	}
	rng := NewRNG(11)
	// The guide table finds the same k as a binary search.
	for _, c := range []struct {
		n int
		p float64
	}{{200, 0.185}, {200, 0.005}, {200, 0.995}, {1, 0.5}, {40, 0}, {40, 1}, {3000, 0.5}} {
		cdf := binomialCDF(c.n, c.p)
		guide := guideTable(cdf)
		for range 20_000 {
			u := rng.Float64()
			k := guide[int(u*float64(len(guide)))]
			for cdf[k] < u {
				k++
			}
			require.Equal(t, sort.SearchFloat64s(cdf, u), k, "n=%d p=%v u=%v", c.n, c.p, u)
		}
	}
	for trial := range 50 {
		b := 1 + rng.IntN(300)
		counts := make([]int, 30)
		var sample []float64
		for range b {
			k := rng.IntN(30)
			counts[k]++
			sample = append(sample, float64(k))
		}
		for _, q := range []float64{0, 2.5, 25, 50, 97.5, 100} {
			require.InDelta(t, Percentile(sample, q), percentileOfCounts(counts, b, q), 1e-12, "trial %d q=%v", trial, q)
		}
	}
	// Draws have the binomial's mean and variance.
	cdf := binomialCDF(200, 0.185)
	var sum, sq float64
	const draws = 200_000
	for range draws {
		k := float64(sort.SearchFloat64s(cdf, rng.Float64()))
		sum, sq = sum+k, sq+k*k
	}
	mean := sum / draws
	require.InDelta(t, 37, mean, 0.05)
	require.InDelta(t, 200*0.185*0.815, sq/draws-mean*mean, 0.3)
}
