package query

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Review attack: a scope flag given with nothing in it (--seed "$SEED" with
// SEED unset, ?seed= over HTTP, --run ,) selected every run, silently.
// It is refused, naming the flag.
func TestScopeArgsRefuseAnEmptyList(t *testing.T) {
	for _, c := range []struct {
		a    ScopeArgs
		flag string
	}{
		{ScopeArgs{Seeds: []string{""}}, "--seed"},
		{ScopeArgs{Seeds: []string{" , "}}, "--seed"},
		{ScopeArgs{Runs: []string{""}}, "--run"},
		{ScopeArgs{Sweeps: []string{","}}, "--sweep"},
		{ScopeArgs{Sources: []string{" "}}, "--source"},
	} {
		_, err := c.a.Scope()
		require.ErrorIs(t, err, ErrBadRequest, c.flag)
		require.ErrorContains(t, err, c.flag+" is given but empty: name at least one (or leave "+c.flag+" out to keep every run)")
	}
	// A trailing comma is only a separator; an empty item beside values is dropped.
	s, err := ScopeArgs{Seeds: []string{"1,"}, Runs: []string{"r1", ""}}.Scope()
	require.NoError(t, err)
	require.Equal(t, []int64{1}, s.Seeds)
	require.Equal(t, []string{"r1"}, s.Runs)
}

// Review attack: --where lr=9| was refused as `--where lr=: factor "lr"
// never takes ""`, hiding what was typed; "lr=1e-4 | 5e-4" failed on " 5e-4".
// An empty alternative is named as such; blanks around | are dropped.
func TestParseWhereAlternatives(t *testing.T) {
	for _, f := range []string{"lr=9|", "lr=|9", "lr=9||5"} {
		_, err := ParseWhere([]string{f})
		require.ErrorIs(t, err, ErrBadRequest, f)
		require.ErrorContains(t, err, `--where "`+f+`": an alternative is empty`)
	}
	w, err := ParseWhere([]string{"lr=1e-4 | 5e-4"})
	require.NoError(t, err)
	require.Equal(t, map[string][]string{"lr": {"1e-4", "5e-4"}}, w)
}
