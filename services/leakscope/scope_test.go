package main

import (
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"leakscope/query"
)

// Review attack: `leakscope leakage --seed "$SEED"` with SEED unset (pflag
// reads --seed= as no values) analysed every seed without a word. The flag
// given empty is refused; left out, it keeps every run.
func TestScopeFlagGivenEmptyIsRefused(t *testing.T) {
	for _, args := range [][]string{{"--seed="}, {"--run="}, {"--sweep", ""}, {"--source="}} {
		var f scopeFlags
		cmd := &cobra.Command{Use: "x"}
		f.register(cmd)
		require.NoError(t, cmd.ParseFlags(args))
		_, err := f.scope()
		require.ErrorIs(t, err, query.ErrBadRequest, "%v", args)
		require.ErrorContains(t, err, "is given but empty", "%v", args)
	}
	var f scopeFlags
	cmd := &cobra.Command{Use: "x"}
	f.register(cmd)
	require.NoError(t, cmd.ParseFlags([]string{"--seed", "42"}))
	s, err := f.scope()
	require.NoError(t, err)
	require.Equal(t, []int64{42}, s.Seeds)
}
