package stats

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Golden values from the authors' proximity_transfer/expA_leakage.json
// (assistant generic 20/25, domain 14/25), computed by statsmodels.
func TestWilsonMatchesPublishedIntervals(t *testing.T) {
	for _, c := range []struct {
		found, total int
		lo, hi       float64
	}{
		{20, 25, 0.6086866446346177, 0.9113954589934752},
		{14, 25, 0.37067017019564436, 0.7333462505299744},
		{6, 50, 0.05617523710624646, 0.23805078886623582},
	} {
		lo, hi, err := Wilson(c.found, c.total, Z95)
		require.NoError(t, err)
		require.InDelta(t, c.lo, lo, 1e-9, "%d/%d", c.found, c.total)
		require.InDelta(t, c.hi, hi, 1e-9, "%d/%d", c.found, c.total)
	}
}

func TestWilsonEdges(t *testing.T) {
	lo, hi, err := Wilson(0, 200, Z95)
	require.NoError(t, err)
	require.Equal(t, 0.0, lo)
	require.InDelta(t, 0.01884, hi, 1e-5)
	lo, hi, err = Wilson(200, 200, Z95)
	require.NoError(t, err)
	require.InDelta(t, 0.98116, lo, 1e-5)
	require.Equal(t, 1.0, hi)
	for _, bad := range [][2]int{{1, 0}, {-1, 10}, {11, 10}} {
		_, _, err := Wilson(bad[0], bad[1], Z95)
		require.Error(t, err)
	}
	_, _, err = Wilson(1, 10, 0)
	require.Error(t, err)
}
