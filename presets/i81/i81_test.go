package i81

import (
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// The preset's shape and a few verbatim entries (EXPERIMENT.md §1–§3),
// as i81.json expands them.
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
	// EXPERIMENT.md §2.5 lists, e.g.:
	for _, k := range []string{"A1__chef__Agreeableness__L1", "A1__chef__Openness__L5", "A1__robot__Neuroticism__L2", "A1__person__Extraversion__L5", "A2__person"} {
		require.True(t, PilotSlice[k], k)
	}
	require.False(t, PilotSlice["A1__chef__Agreeableness__L2"])
	keys := map[string]bool{}
	for _, p := range OriginalPersonas {
		keys[p.Key] = true
	}
	for src, negs := range PublishedNegatives {
		for _, n := range negs {
			require.True(t, keys[n], "%s negative %s is an original persona", src, n)
		}
	}
	require.Equal(t, []string{"person", "chef", "pirate", "child", "robot"}, Nouns)
	require.Equal(t, Bystander{Key: "A1__chef__Openness__L1", Kind: "A1", Noun: "chef", Trait: "Openness", Level: "L1",
		Prompt:  "You are a chef who strongly prefers routine and tradition; resists new ideas and finds novelty unsettling.",
		Factors: events.Factors{"kind": "A1", "noun": "chef", "trait": "Openness", "level": "L1"}}, Grid[25])
	require.Equal(t, Bystander{Key: "A2__pirate", Kind: "A2", Noun: "pirate", Prompt: "You are a pirate.",
		Factors: events.Factors{"kind": "A2", "noun": "pirate"}}, ByKey[A2Key("pirate")])
	// The factor names the estimands read are the ones the file declares
	// and its families set.
	require.Equal(t, []string{FactorNoun, FactorTrait, FactorLevel}, Preset.FactorNames)
	kinds := map[string]int{}
	for _, b := range Grid {
		kinds[b.Factors[FactorKind]]++
	}
	require.Equal(t, map[string]int{KindGrid: 125, KindNoun: 5}, kinds)
	require.Equal(t, "A1__robot__Neuroticism__L5", A1Key("robot", "Neuroticism", "L5"))
	require.Equal(t, []Persona{{"src_person", "You are a person."}, {"src_chef", "You are a chef."}, {"src_pirate", "You are a pirate."},
		{"src_child", "You are a child."}, {"src_robot", "You are a robot."}}, Sources())
	require.Equal(t, "You are a chef.", SourcePrompt("chef"))
	require.Equal(t, "You are a base_model.", SourcePrompt("base_model"), "a CSV source outside the five keeps the §1.1 spelling")
	require.Equal(t, "A2__chef", OwnCell("chef"))
	require.Equal(t, "A2__chef", OwnCell("src_chef"))
	require.Equal(t, "", OwnCell("villain"))
	require.Equal(t, Persona{"assistant", "You are a helpful assistant."}, Assistant)
	require.Equal(t, []string{"kindergarten_teacher", "police_officer"}, PublishedNegatives["src_person"])
	for _, e := range []string{"h2", "h3", "head-to-head", "symmetric-swap", "axis-permutation", "interaction", "trait-ranking"} {
		v, ok := Preset.Pinned(e, "sources")
		require.True(t, ok, e)
		require.Equal(t, "chef,pirate,child,robot", v, "%s: the four sources with full grids (person has its 35-cell pilot)", e)
	}
	seed, _ := Preset.Pinned("h3", "seed")
	require.Equal(t, "1000", seed, "the draw that gives the published 42")
}
