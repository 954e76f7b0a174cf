package importer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

func TestCosineMatrices(t *testing.T) {
	plan := parseFixture(t, "persona_cosine_centered", "proximity_transfer/phase0_cosines.json", "single_token_100_persona/cosine_leakage_correlation.json")

	mats := payloads[*events.Cosine](runEvents(plan, "persona_cosine_centered", "cosine_matrices"))
	require.Len(t, mats, 12, "4 layers × 3 centerings")
	perCentering := map[string]int{}
	for _, m := range mats {
		perCentering[m.Centering]++
		require.Equal(t, "matrix", m.Set)
		require.Len(t, m.Personas, 20)
		require.Len(t, m.Matrix, 20)
	}
	require.Equal(t, map[string]int{"raw": 4, "assistant_subtracted": 4, "global_mean_subtracted": 4}, perCentering)
	require.Equal(t, []int{10, 10, 10, 15, 15, 15, 20, 20, 20, 25, 25, 25}, layersOf(mats))

	p0 := payloads[*events.Cosine](runEvents(plan, "proximity_transfer", "phase0_cosines"))
	require.Len(t, p0, 1)
	require.Equal(t, 20, p0[0].Layer)
	require.Equal(t, "raw", p0[0].Centering)
	require.Len(t, p0[0].Personas, 20)
	require.IsIncreasing(t, p0[0].Personas)

	pairs := payloads[*events.Cosine](runEvents(plan, "single_token_100_persona", "cosine_leakage_correlation"))
	require.Len(t, pairs, 20, "4 layers × 5 sources")
	for _, p := range pairs {
		require.Len(t, p.Pairs, 110)
		require.Equal(t, p.Set, p.Pairs[0].A)
	}
	// layer10, villain, first pair: hacker_villain 0.3997
	require.Equal(t, 10, pairs[0].Layer)
	for _, p := range pairs {
		if p.Layer == 10 && p.Set == "villain" {
			require.Equal(t, events.CosinePair{A: "villain", B: "hacker_villain", Cosine: 0.3997}, p.Pairs[0])
		}
	}
}

func layersOf(cs []*events.Cosine) []int {
	var out []int
	for _, c := range cs {
		out = append(out, c.Layer)
	}
	return out
}
