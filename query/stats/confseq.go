package stats

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// BetaBinomialCS returns the beta-binomial conjugate-mixture confidence
// sequence for a Bernoulli rate at (hits, n): the rates p whose mixture
// likelihood ratio
//
//	M_n(p) = B(a+S, b+n−S) / B(a, b) / (p^S (1−p)^(n−S)),   S = hits
//
// stays below 1/alpha. M_n(p) is a nonnegative martingale with M_0 = 1 under
// the true p, so by Ville's inequality the true rate lies in every interval
// of the sequence — at every n at once, under any stopping rule — with
// probability ≥ 1 − alpha. Peeking after every sample is therefore safe,
// which a Wilson interval is not. Rates are fractions in [0,1]; a and b are
// the Beta mixing distribution (0.5, 0.5 spreads the sequence's tightness
// over small and large n).
//
// Source: Robbins (1970), Ann. Math. Statist. 41(5); Howard, Ramdas,
// McAuliffe & Sekhon (2021), "Time-uniform, nonparametric, nonasymptotic
// confidence sequences", Ann. Statist. 49(2), §3 (conjugate mixtures).
// Errors on hits outside [0,n], negative n, alpha outside (0,1) or a
// non-positive prior. n = 0 gives [0,1].
func BetaBinomialCS(hits, n int, alpha, a, b float64) (lo, hi float64, err error) {
	switch {
	case n < 0 || hits < 0 || hits > n:
		return 0, 0, fmt.Errorf("stats: confidence sequence needs 0 <= hits <= n, got %d/%d", hits, n)
	case !(alpha > 0 && alpha < 1):
		return 0, 0, fmt.Errorf("stats: alpha %v must be in (0,1)", alpha)
	case !(a > 0 && b > 0) || math.IsInf(a, 0) || math.IsInf(b, 0):
		return 0, 0, fmt.Errorf("stats: prior (%v, %v) must be positive and finite", a, b)
	}
	if n == 0 {
		return 0, 1, nil
	}
	s, f := float64(hits), float64(n-hits)
	mix := mathext.Lbeta(a+s, b+f) - mathext.Lbeta(a, b)
	// log M_n(p) is convex in p with its minimum at the MLE hits/n, where
	// it is ≤ 0 (a mixture never beats the maximum likelihood): the
	// sequence is the interval around the MLE where log M_n < log(1/alpha).
	excluded := func(p float64) bool {
		l := mix
		if hits > 0 {
			l -= s * math.Log(p)
		}
		if hits < n {
			l -= f * math.Log1p(-p)
		}
		return l >= math.Log(1/alpha)
	}
	mle := s / float64(n)
	lo, hi = 0, 1
	if hits > 0 && excluded(math.SmallestNonzeroFloat64) {
		lo = bisect(math.SmallestNonzeroFloat64, mle, excluded)
	}
	if hits < n && excluded(1-1e-16) {
		hi = bisect(1-1e-16, mle, excluded)
	}
	return lo, hi, nil
}

// bisect finds the boundary between out (excluded) and in (not excluded),
// to 1e-12, returning the side inside the sequence.
func bisect(out, in float64, excluded func(float64) bool) float64 {
	for range 200 {
		mid := (out + in) / 2
		if excluded(mid) {
			out = mid
		} else {
			in = mid
		}
		if math.Abs(out-in) < 1e-12 {
			break
		}
	}
	return in
}
