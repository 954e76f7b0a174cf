package stats

import "math"

// NewcombeDiff returns the hybrid score interval for the difference
// p̂₁ − p̂₂ of two independent proportions, built from the two Wilson
// intervals (l₁,u₁) and (l₂,u₂) with normal quantile z:
//
//	lo = d − sqrt((p̂₁−l₁)² + (u₂−p̂₂)²)
//	hi = d + sqrt((u₁−p̂₁)² + (p̂₂−l₂)²)
//
// Source: Newcombe (1998), Statistics in Medicine 17:873, method 10.
// Errors as Wilson does for either count.
func NewcombeDiff(found1, total1, found2, total2 int, z float64) (d, lo, hi float64, err error) {
	l1, u1, err := Wilson(found1, total1, z)
	if err != nil {
		return 0, 0, 0, err
	}
	l2, u2, err := Wilson(found2, total2, z)
	if err != nil {
		return 0, 0, 0, err
	}
	p1, p2 := float64(found1)/float64(total1), float64(found2)/float64(total2)
	d = p1 - p2
	lo = d - math.Sqrt((p1-l1)*(p1-l1)+(u2-p2)*(u2-p2))
	hi = d + math.Sqrt((u1-p1)*(u1-p1)+(p2-l2)*(p2-l2))
	return d, math.Max(-1, lo), math.Min(1, hi), nil
}
