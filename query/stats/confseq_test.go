package stats

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mathext"
)

// With no hits and a uniform prior M_n(p) = 1 / ((n+1)(1−p)^n), so the
// upper end is 1 − (alpha/(n+1))^(1/n): 0.040646… at n = 200, alpha 0.05.
func TestBetaBinomialCSClosedFormAtZeroHits(t *testing.T) {
	for _, n := range []int{1, 20, 200, 5000} {
		lo, hi, err := BetaBinomialCS(0, n, 0.05, 1, 1)
		require.NoError(t, err)
		require.Equal(t, 0.0, lo)
		require.InDelta(t, 1-math.Pow(0.05/float64(n+1), 1/float64(n)), hi, 1e-10, "n=%d", n)
	}
	_, hi, _ := BetaBinomialCS(0, 200, 0.05, 1, 1)
	require.InDelta(t, 0.040646, hi, 1e-6)
	// all hits mirrors it
	lo, hi, _ := BetaBinomialCS(200, 200, 0.05, 1, 1)
	require.InDelta(t, 1-0.040646, lo, 1e-6)
	require.Equal(t, 1.0, hi)
}

// At both ends of an interior sequence the mixture ratio equals 1/alpha,
// the MLE lies inside, and the sequence is wider than Wilson's fixed-n
// interval (the price of peeking).
func TestBetaBinomialCSBoundaries(t *testing.T) {
	for _, c := range []struct{ hits, n int }{{1, 20}, {30, 200}, {100, 200}, {7, 40}, {199, 200}} {
		lo, hi, err := BetaBinomialCS(c.hits, c.n, 0.05, 0.5, 0.5)
		require.NoError(t, err)
		s, f := float64(c.hits), float64(c.n-c.hits)
		logM := func(p float64) float64 {
			return mathext.Lbeta(0.5+s, 0.5+f) - mathext.Lbeta(0.5, 0.5) - s*math.Log(p) - f*math.Log1p(-p)
		}
		require.InDelta(t, math.Log(20), logM(lo), 1e-6, "%v lo", c)
		require.InDelta(t, math.Log(20), logM(hi), 1e-6, "%v hi", c)
		mle := s / float64(c.n)
		require.Less(t, lo, mle)
		require.Greater(t, hi, mle)
		wlo, whi, _ := Wilson(c.hits, c.n, Z95)
		require.Less(t, lo, wlo, "%v", c)
		require.Greater(t, hi, whi, "%v", c)
	}
}

// Anytime validity, checked by simulation: peeking after every one of 500
// samples, the true rate leaves the sequence in at most alpha of the
// paths (a fixed-n Wilson interval peeked at the same way fails far more).
func TestBetaBinomialCSAnytimeCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const paths, steps = 400, 500
	for _, c := range []struct{ p, a, b float64 }{{0.02, 0.5, 0.5}, {0.3, 0.5, 0.5}, {0.02, 0.2, 1}, {0.3, 0.2, 1}} {
		p := c.p
		csMiss, wilsonMiss := 0, 0
		for range paths {
			hits, csOut, wOut := 0, false, false
			for n := 1; n <= steps; n++ {
				if rng.Float64() < p {
					hits++
				}
				lo, hi, err := BetaBinomialCS(hits, n, 0.05, c.a, c.b)
				require.NoError(t, err)
				csOut = csOut || p < lo || p > hi
				wlo, whi, _ := Wilson(hits, n, Z95)
				wOut = wOut || p < wlo || p > whi
			}
			if csOut {
				csMiss++
			}
			if wOut {
				wilsonMiss++
			}
		}
		require.LessOrEqual(t, float64(csMiss)/paths, 0.05, "%+v", c)
		require.Greater(t, float64(wilsonMiss)/paths, 0.15, "%+v: peeking should break Wilson", c)
	}
}

func TestBetaBinomialCSErrors(t *testing.T) {
	for _, c := range []struct {
		hits, n     int
		alpha, a, b float64
	}{{-1, 5, 0.05, 1, 1}, {6, 5, 0.05, 1, 1}, {0, -1, 0.05, 1, 1}, {1, 5, 0, 1, 1}, {1, 5, 1, 1, 1}, {1, 5, 0.05, 0, 1}, {1, 5, 0.05, 1, math.Inf(1)}, {1, 5, math.NaN(), 1, 1}} {
		_, _, err := BetaBinomialCS(c.hits, c.n, c.alpha, c.a, c.b)
		require.Error(t, err, "%+v", c)
	}
	lo, hi, err := BetaBinomialCS(0, 0, 0.05, 1, 1)
	require.NoError(t, err)
	require.Equal(t, [2]float64{0, 1}, [2]float64{lo, hi})
}
