package estimands

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Review attack: on an experiment without a base-model run, cell-rates
// printed base_rate 0, rate_minus_base = rate and a floor test against
// that 0 — numbers for what is undefined. They are null there; a cell
// whose run names a base keeps them.
func TestCellRatesWithoutABaseRunLeaveTheBaseColumnsEmpty(t *testing.T) {
	noBase := cell("villain", "chef", 0.0)
	withBase := cell("villain", "pirate", 0.30)
	withBase.BaseRate, withBase.HasBase = 0.10, true
	r := runTiny(t, "cell-rates", []Cell{noBase, withBase}, map[string]string{"bootstrap": "20"})
	require.Len(t, r.Rows, 2)
	byBystander := map[any][]any{r.Rows[0][1]: r.Rows[0], r.Rows[1][1]: r.Rows[1]}
	row := byBystander["chef"]
	for _, c := range []string{"base_rate", "rate_minus_base", "ns_floor"} {
		require.Nil(t, row[col(t, r, c)], c)
	}
	require.Equal(t, 0.0, row[col(t, r, "rate")])
	row = byBystander["pirate"]
	require.InDelta(t, 0.10, row[col(t, r, "base_rate")], 1e-12)
	require.InDelta(t, 0.20, row[col(t, r, "rate_minus_base")], 1e-12)
	require.Equal(t, false, row[col(t, r, "ns_floor")], "0.30 vs 0.10 at n = 200 is above the floor")
}

// Review attack: the #81 estimands' refusal pointed to a "source-cell"
// estimand that does not exist. Every estimand it names is registered.
func TestGenericEstimandsNamedInRefusalsExist(t *testing.T) {
	for _, n := range genericEstimands {
		require.NotNil(t, registry[n], n)
	}
}
