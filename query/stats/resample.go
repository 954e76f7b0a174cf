package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// NewRNG is the seeded generator every resampling statistic uses (PCG);
// the seed is reported with every result so it can be re-run exactly.
func NewRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6c65616b73636f70)) }

// Percentile is the q-th percentile (q in [0,100]) of x with linear
// interpolation between order statistics at (n−1)·q/100 — numpy's default
// (method="linear"). x is not modified. NaN for empty x.
func Percentile(x []float64, q float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return percentileSorted(s, q)
}

// percentileSorted is Percentile of an ascending, non-empty s.
func percentileSorted(s []float64, q float64) float64 {
	pos := (float64(len(s)) - 1) * q / 100
	lo := math.Floor(pos)
	if int(lo) >= len(s)-1 {
		return s[len(s)-1]
	}
	f := pos - lo
	if f == 0 { // exact order statistic (keeps +Inf medians finite-safe)
		return s[int(lo)]
	}
	return s[int(lo)] + f*(s[int(lo)+1]-s[int(lo)])
}

// BootstrapRate resamples a cell's completion flags (found ones among total)
// with replacement b times and returns the percentile CI of the rate at
// level conf (0.95): the 2.5th and 97.5th percentiles. Resampling the flags
// is drawing Binomial(total, found/total)/total, which is what it does.
// Source: EXPERIMENT.md §6.1 (analyze_leakage_i81.bootstrap_rate_ci); the
// completion is the resampling unit, questions are not clusters.
func BootstrapRate(found, total, b int, conf float64, rng *rand.Rand) (lo, hi float64, err error) {
	if total <= 0 || found < 0 || found > total || b < 1 || !(conf > 0 && conf < 1) {
		return 0, 0, fmt.Errorf("stats: bootstrap needs 0 <= found <= total, total > 0, b >= 1, conf in (0,1); got %d/%d, b=%d, conf=%v", found, total, b, conf)
	}
	// b draws from one binomial: invert its CDF table (one Lgamma per cell)
	// instead of gonum's Binomial.Rand (an Lgamma per draw: 82 % of the
	// cell-rates estimand's time), and count the draws instead of sorting
	// them. Same distribution, same percentiles as sorting b rates.
	cdf := binomialCDF(total, float64(found)/float64(total))
	guide := guideTable(cdf)
	counts := make([]int, total+1)
	m := float64(len(guide))
	for range b {
		u := rng.Float64()
		k := guide[int(u*m)]
		for cdf[k] < u {
			k++
		}
		counts[k]++
	}
	a := (1 - conf) / 2 * 100
	return percentileOfCounts(counts, b, a) / float64(total), percentileOfCounts(counts, b, 100-a) / float64(total), nil
}

// binomialCDF returns P(X ≤ k) for k = 0..n, X ~ Binomial(n, p), from
// the pmf's ratio recurrence started at the mode (its pmf from Lgamma, so
// a large n does not underflow; the far tails may round to 0). Inverting
// it draws X: the smallest k with CDF(k) ≥ u, u uniform on [0, 1)
// (Devroye 1986, Non-Uniform Random Variate Generation, §III.2).
func binomialCDF(n int, p float64) []float64 {
	pmf := make([]float64, n+1)
	switch {
	case p <= 0:
		pmf[0] = 1
	case p >= 1:
		pmf[n] = 1
	default:
		m := min(int(float64(n+1)*p), n)
		lg := func(x int) float64 { v, _ := math.Lgamma(float64(x)); return v }
		pmf[m] = math.Exp(lg(n+1) - lg(m+1) - lg(n-m+1) + float64(m)*math.Log(p) + float64(n-m)*math.Log1p(-p))
		odds := p / (1 - p)
		for k := m; k < n; k++ {
			pmf[k+1] = pmf[k] * float64(n-k) / float64(k+1) * odds
		}
		for k := m; k > 0; k-- {
			pmf[k-1] = pmf[k] * float64(k) / float64(n-k+1) / odds
		}
	}
	cdf := make([]float64, n+1)
	sum := 0.0
	for k, v := range pmf {
		sum += v
		cdf[k] = sum
	}
	for k := range cdf {
		cdf[k] /= sum
	}
	cdf[n] = 1
	return cdf
}

// guideTable indexes an inversion (Chen & Asau 1974): guide[g] is the
// smallest k with cdf[k] ≥ g/len(cdf), so the smallest k with cdf[k] ≥ u
// is found by scanning up from guide[⌊u·len⌋], about one step on average:
// the same k as a binary search, for a fraction of its cost.
func guideTable(cdf []float64) []int {
	guide := make([]int, len(cdf))
	k := 0
	for g := range guide {
		for cdf[k] < float64(g)/float64(len(guide)) {
			k++
		}
		guide[g] = k
	}
	return guide
}

// percentileOfCounts is Percentile over a sample given as counts (counts[k]
// values equal to k, b in all): the same order statistics, without
// expanding and sorting the sample.
func percentileOfCounts(counts []int, b int, q float64) float64 {
	at := func(i int) float64 { // the i-th smallest value
		for k, c := range counts {
			if i < c {
				return float64(k)
			}
			i -= c
		}
		return float64(len(counts) - 1)
	}
	pos := float64(b-1) * q / 100
	lo := math.Floor(pos)
	if int(lo) >= b-1 {
		return at(b - 1)
	}
	v, f := at(int(lo)), pos-lo
	if f == 0 {
		return v
	}
	return v + f*(at(int(lo)+1)-v)
}

// OLSSlope is the least-squares slope of y on x (gonum stat.LinearRegression).
// Errors for fewer than 2 points or constant x.
func OLSSlope(x, y []float64) (float64, error) {
	if len(x) != len(y) || len(x) < 2 {
		return 0, fmt.Errorf("%w: slope needs 2 or more (x, y) pairs, got %d and %d", ErrTooFew, len(x), len(y))
	}
	if stat.Variance(x, nil) == 0 {
		return 0, fmt.Errorf("stats: slope undefined: x is constant")
	}
	_, beta := stat.LinearRegression(x, y, nil, false)
	return beta, nil
}

// BootstrapSlope draws, b times, every point's rate as Binomial(totals[i],
// rates[i])/totals[i] and refits the OLS slope on x; it returns the
// bootstrapped slopes. Source: EXPERIMENT.md §6.4 (the H3 bootstrap).
func BootstrapSlope(x, rates []float64, totals []int, b int, rng *rand.Rand) ([]float64, error) {
	if len(x) != len(rates) || len(x) != len(totals) {
		return nil, fmt.Errorf("stats: %d x, %d rates, %d totals", len(x), len(rates), len(totals))
	}
	bins := make([]distuv.Binomial, len(x))
	for i := range x {
		if totals[i] <= 0 || rates[i] < 0 || rates[i] > 1 {
			return nil, fmt.Errorf("stats: point %d: rate %v of %d is not a binomial rate", i, rates[i], totals[i])
		}
		bins[i] = distuv.Binomial{N: float64(totals[i]), P: rates[i], Src: rng}
	}
	out := make([]float64, b)
	y := make([]float64, len(x))
	for k := range out {
		for i := range y {
			y[i] = bins[i].Rand() / float64(totals[i])
		}
		s, err := OLSSlope(x, y)
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

// PermutationTest returns the p-value of statistic over labels: the share
// of b shuffles of labels (Fisher–Yates with rng) whose statistic is ≥ the
// observed one. Tie rule: a shuffle equal to the observed value (within
// 1e-12) counts as at least as extreme. No +1 correction, as the authors'
// code (EXPERIMENT.md §6.8). labels is not modified.
func PermutationTest(labels []int, statistic func(labels []int) float64, b int, rng *rand.Rand) (observed, p float64) {
	observed = statistic(labels)
	perm := append([]int(nil), labels...)
	hits := 0
	for i := 0; i < b; i++ {
		rng.Shuffle(len(perm), func(a, c int) { perm[a], perm[c] = perm[c], perm[a] })
		if statistic(perm) >= observed-1e-12 {
			hits++
		}
	}
	return observed, float64(hits) / float64(b)
}
