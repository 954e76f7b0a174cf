package estimands

import (
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/presets/i81"
)

// bystanders=a1|a2 reads the cells' kind factor, not the key's spelling: a
// bystander declared kind A1 under any key is in a1, and one keyed like an
// A1 cell but declared A2 is not. A grid without kind is refused, naming
// the factor.
func TestBystandersFilterReadsTheKindFactor(t *testing.T) {
	custom := cell("chef", "custom_1", .3)
	custom.Factors = events.Factors{"kind": "A1", "noun": "chef"}
	lookalike := cell("chef", "A1__fake", .4)
	lookalike.Factors = events.Factors{"kind": "A2", "noun": "fake"}
	g := NewGrid("tiny", []Cell{custom, lookalike, cell("chef", i81.A2Key("chef"), .9), cell("chef", i81.A1Key("chef", "Openness", "L1"), .5)})
	keys := func(set string) []string {
		f, err := filterBystanders(g, set)
		require.NoError(t, err, set)
		var out []string
		for _, c := range gridTidy(f, []string{"chef"}) {
			out = append(out, c.Persona)
		}
		return out
	}
	require.Equal(t, []string{"A1__chef__Openness__L1", "custom_1"}, keys("a1"))
	require.Equal(t, []string{"A1__fake", "A2__chef"}, keys("A2"), "matched without case")
	require.Len(t, keys("all"), 4)
	require.Equal(t, []string{"A1__chef__Openness__L1", "A2__chef"}, keys("pilot"), "the preset's pilot slice")

	_, err := filterBystanders(g, "a3")
	require.ErrorIs(t, err, ErrBadParam)
	require.Contains(t, err.Error(), `bystanders="a3": want all, pilot or a kind (a1, a2)`)
	plain := cell("villain", "librarian", .2)
	plain.Factors = events.Factors{"noun": "librarian"}
	_, err = filterBystanders(NewGrid("other", []Cell{plain}), "a1")
	require.ErrorIs(t, err, ErrNoData)
	require.Contains(t, err.Error(), `bystanders=a1 needs the persona factor "kind" (missing)`)
}
