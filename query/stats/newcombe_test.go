package stats

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Newcombe (1998) Table II, method 10: 56/70 − 48/80 → 0.0524 to 0.3339;
// 9/10 − 3/10 → 0.1705 to 0.8090.
func TestNewcombeDiffMatchesPublishedExamples(t *testing.T) {
	for _, c := range []struct {
		f1, n1, f2, n2 int
		d, lo, hi      float64
	}{
		{56, 70, 48, 80, 0.2, 0.0524, 0.3339},
		{9, 10, 3, 10, 0.6, 0.1705, 0.8090},
	} {
		d, lo, hi, err := NewcombeDiff(c.f1, c.n1, c.f2, c.n2, Z95)
		require.NoError(t, err)
		require.InDelta(t, c.d, d, 1e-12)
		require.InDelta(t, c.lo, lo, 5e-4, "%d/%d − %d/%d", c.f1, c.n1, c.f2, c.n2)
		require.InDelta(t, c.hi, hi, 5e-4, "%d/%d − %d/%d", c.f1, c.n1, c.f2, c.n2)
	}
	_, _, _, err := NewcombeDiff(1, 0, 1, 10, Z95)
	require.Error(t, err)
	_, _, _, err = NewcombeDiff(1, 10, 11, 10, Z95)
	require.Error(t, err)
}
