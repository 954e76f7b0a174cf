package estimands

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The resampling pair: a count in [1, MaxResamples] and an unsigned seed,
// each refused with its name and value.
func TestParamsBootstrap(t *testing.T) {
	b, seed, err := Params{"bootstrap": "500", "seed": "7"}.Bootstrap()
	require.NoError(t, err)
	require.Equal(t, 500, b)
	require.Equal(t, uint64(7), seed)
	_, _, err = Params{"bootstrap": "0", "seed": "7"}.Bootstrap()
	require.ErrorIs(t, err, ErrBadParam)
	require.Contains(t, err.Error(), `bootstrap="0": want an integer in [1, 100000]`)
	_, _, err = Params{"bootstrap": "5", "seed": "-1"}.Bootstrap()
	require.ErrorIs(t, err, ErrBadParam)
	require.Contains(t, err.Error(), `seed="-1": want an unsigned integer`)
	_, err = Params{"seed": "x"}.Seed("seed")
	require.ErrorContains(t, err, `seed="x": want an unsigned integer`)
}
