// Package stats holds the statistics leakscope needs that gonum lacks, each
// with its formula and source. Rates are fractions in [0,1].
package stats

import (
	"fmt"
	"math"
)

// Z95 is the normal quantile leakscope uses for 95 % intervals: 1.96, as
// the authors' code did (their Wilson bounds in expA_leakage.json reproduce
// to 1e-12 with 1.96, not with the exact 1.959964).
const Z95 = 1.96

// Wilson returns the Wilson score interval for found successes in total
// trials with normal quantile z (Z95 for a 95 % interval):
//
//	centre = (p̂ + z²/2n) / (1 + z²/n)
//	half   = z·sqrt(p̂(1−p̂)/n + z²/4n²) / (1 + z²/n)
//
// Source: Wilson (1927), JASA 22:209. Errors when total is not positive,
// found is outside [0,total] or z is not positive.
func Wilson(found, total int, z float64) (lo, hi float64, err error) {
	if total <= 0 || found < 0 || found > total {
		return 0, 0, fmt.Errorf("stats: Wilson needs 0 <= found <= total and total > 0, got %d/%d", found, total)
	}
	if !(z > 0) {
		return 0, 0, fmt.Errorf("stats: z %v must be positive", z)
	}
	n := float64(total)
	p := float64(found) / n
	den := 1 + z*z/n
	centre := (p + z*z/(2*n)) / den
	half := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / den
	return math.Max(0, centre-half), math.Min(1, centre+half), nil
}
