package stats

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// ErrTooFew is returned when a statistic needs more observations.
var ErrTooFew = errors.New("stats: too few observations")

// Ranks returns the 1-based ranks of x with ties given the average of the
// ranks they span (SciPy rankdata(method="average")): [10, 20, 20, 30] →
// [1, 2.5, 2.5, 4].
func Ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// Pearson returns Pearson's r and its two-sided p-value (PearsonP).
// Errors for fewer than 3 pairs, unequal lengths, or a constant input.
func Pearson(x, y []float64) (r, p float64, err error) {
	if err := checkPairs(x, y); err != nil {
		return 0, 0, err
	}
	r = stat.Correlation(x, y, nil)
	if math.IsNaN(r) {
		return 0, 0, fmt.Errorf("stats: correlation undefined: an input is constant")
	}
	return r, PearsonP(r, len(x)), nil
}

// Spearman returns Spearman's ρ — Pearson's r of the average ranks (Ranks)
// — and its two-sided p-value (SpearmanP), as scipy.stats.spearmanr.
func Spearman(x, y []float64) (rho, p float64, err error) {
	if err := checkPairs(x, y); err != nil {
		return 0, 0, err
	}
	rho = stat.Correlation(Ranks(x), Ranks(y), nil)
	if math.IsNaN(rho) {
		return 0, 0, fmt.Errorf("stats: correlation undefined: an input is constant")
	}
	return rho, SpearmanP(rho, len(x)), nil
}

// SpearmanP is the two-sided p-value of Spearman's ρ over n pairs by the
// t-approximation SciPy uses: t = ρ·sqrt((n−2)/(1−ρ²)) with n−2 degrees
// of freedom, p = 2·P(T > |t|).
func SpearmanP(rho float64, n int) float64 { return tTwoSided(rho, n) }

// PearsonP is the two-sided p-value of Pearson's r over n pairs under
// bivariate normality. SciPy's pearsonr uses the exact Beta(n/2−1, n/2−1)
// distribution of r on [−1,1], which equals the t-test below.
func PearsonP(r float64, n int) float64 { return tTwoSided(r, n) }

func tTwoSided(r float64, n int) float64 {
	if n < 3 {
		return math.NaN()
	}
	if math.Abs(r) >= 1 {
		return 0
	}
	df := float64(n - 2)
	t := r * math.Sqrt(df/(1-r*r))
	return 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(math.Abs(t))
}

func checkPairs(x, y []float64) error {
	switch {
	case len(x) != len(y):
		return fmt.Errorf("stats: %d x values for %d y values", len(x), len(y))
	case len(x) < 3:
		return fmt.Errorf("%w: %d pairs, need 3", ErrTooFew, len(x))
	}
	return nil
}
