package stats

import "testing"

// BenchmarkBootstrapRate: one i81-sized matrix of cells (650 cells of 200
// completions, 1,000 resamples each), the cost behind cell-rates' bootstrap
// columns (issue 9, P2). Baseline in the same run: drawing the same
// binomials alone, so the ratio is the cost of turning draws into an
// interval.
func BenchmarkBootstrapRate(b *testing.B) {
	b.Run("draws-only", func(b *testing.B) {
		for range b.N {
			for c := range 650 {
				rng := NewRNG(uint64(c))
				for range 1000 {
					_ = rng.Uint64()
				}
			}
		}
	})
	b.Run("interval", func(b *testing.B) {
		for range b.N {
			for c := range 650 {
				if _, _, err := BootstrapRate(c%60, 200, 1000, 0.95, NewRNG(uint64(c))); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
