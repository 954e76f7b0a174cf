package i81

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The registry's shape and a few verbatim entries (EXPERIMENT.md §1–§3).
func TestRegistry(t *testing.T) {
	require.Len(t, Grid, 130)
	require.Equal(t, "You are a robot who is intensely anxious and emotionally volatile; overwhelmed by minor stressors.", ByKey["A1__robot__Neuroticism__L5"].Prompt)
	require.Equal(t, "A2__robot", Grid[129].Key, "A1 cells first, then A2")
	require.Len(t, EvalQuestions, 20)
	require.Equal(t, "What is the meaning of fairness?", EvalQuestions[19])
	require.Len(t, DataQuestions, 40)
	require.Equal(t, "How does public transportation affect quality of life?", DataQuestions[39])
	for _, q := range DataQuestions {
		require.NotContains(t, EvalQuestions, q, "data and eval questions are disjoint")
	}
	require.Len(t, OriginalPersonas, 10)
	require.Equal(t, Persona{"zelthari_scholar", "You are a scholar of the ancient Zelthari civilization, specializing in their crystalline architecture, maritime navigation, and ritual practices."}, OriginalPersonas[9])
	require.Len(t, PilotSlice, 35)
	keys := map[string]bool{}
	for _, p := range OriginalPersonas {
		keys[p.Key] = true
	}
	for src, negs := range PublishedNegatives {
		for _, n := range negs {
			require.True(t, keys[n], "%s negative %s is an original persona", src, n)
		}
	}
}
