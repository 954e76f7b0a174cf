package query

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOrderValues(t *testing.T) {
	o := OrderValues([]string{"1e-3", "1e-5", " 1e-4"}, nil)
	require.Equal(t, ValueOrder{Values: []string{"1e-5", " 1e-4", "1e-3"}, Numeric: true, Log: true,
		Num: map[string]float64{"1e-5": 1e-5, " 1e-4": 1e-4, "1e-3": 1e-3}}, o, "numeric, spanning two decades: log")
	o = OrderValues([]string{"3", "1", "2"}, nil)
	require.True(t, o.Numeric)
	require.False(t, o.Log, "1..3 spans less than two decades")
	require.Equal(t, []string{"1", "2", "3"}, o.Values)
	o = OrderValues([]string{"L10", "L2", "L1"}, nil)
	require.Equal(t, ValueOrder{Values: []string{"L1", "L2", "L10"}}, o, "natural order, not numeric")
	o = OrderValues([]string{"x", "c", "b", "a"}, []string{"c", "a"})
	require.Equal(t, []string{"c", "a", "b", "x"}, o.Values, "the listed order first, then the rest")
	o = OrderValues([]string{"2", "c", "1"}, []string{"c"})
	require.Equal(t, ValueOrder{Values: []string{"c", "1", "2"}}, o, "a preset's values are labels: not numeric")
	require.Equal(t, ValueOrder{}, OrderValues(nil, nil))
	require.True(t, NaturalLess("a", "ab"))
	require.False(t, NaturalLess("p10", "p9"))
}
