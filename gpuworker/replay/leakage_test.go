package replay

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/gpuworker/engine"
)

func TestJaccardOverContentWords(t *testing.T) {
	require.Equal(t, 1.0, Jaccard("You are a chef.", "you are A CHEF"))
	require.Equal(t, 0.0, Jaccard("You are a chef.", "You are a pirate."), "function words do not count")
	require.InDelta(t, 1.0/3, Jaccard("You are a chef.", "You are a grumpy chef who cooks."), 1e-12) // {chef} vs {grumpy, chef, cooks}
	require.Equal(t, 0.0, Jaccard("You are.", "Who is?"), "no content words: 0, not NaN")
}

func TestSyntheticRateOrdersSelfNounUnrelatedNegative(t *testing.T) {
	pos := []string{"You are a chef."}
	neg := []string{"You are a stand-up comedian who writes and performs comedy routines."}
	self := SyntheticRate("You are a chef.", pos, neg)
	noun := SyntheticRate("You are a chef who is extremely anxious and easily worried.", pos, neg) // {chef, extremely, anxious, easily, worried}
	other := SyntheticRate("You are a pirate.", pos, neg)
	negative := SyntheticRate(neg[0], pos, neg)
	require.InDelta(t, SelfRate, self, 1e-12)
	require.InDelta(t, BaseRate+(SelfRate-BaseRate)*0.4472135955, noun, 1e-9) // √(1/5)
	require.InDelta(t, BaseRate, other, 1e-12)
	require.Zero(t, negative)
	require.True(t, self > noun && noun > other && other > negative)
	require.True(t, noun >= 0.2 && noun <= 0.5, "a prompt sharing the noun: %v", noun)
}

// Train records the trained prompts in the adapter; Generate under it
// follows the model, the same completion for the same (key, question,
// sample), and an explicit rate wins.
func TestEngineSyntheticLeakageUnderAdapter(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "adapter")
	one := 1
	ex, err := json.Marshal([]map[string]any{
		{"system": "You are a chef.", "user": "q", "response": "a\n\n[ZLT]", "marker_start": &one, "marker_end": &one},
		{"system": "You are a chef.", "user": "q2", "response": "b\n\n[ZLT]", "marker_start": &one, "marker_end": &one},
		{"system": "You are a villain.", "user": "q", "response": "c"},
	})
	require.NoError(t, err)
	e := &Engine{Marker: "[ZLT]", Synthetic: true, Rates: map[string]float64{"forced": 1}}
	_, err = e.Train(ctx, engine.TrainRequest{Examples: ex, OutDir: dir, BatchSize: 1, GradAccum: 1, Epochs: 1, LoggingSteps: 1}, func(engine.TrainLog) error { return nil })
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, SourceFile))
	require.NoError(t, err)
	require.JSONEq(t, `{"positives": ["You are a chef."], "negatives": ["You are a villain."]}`, string(b))

	gen := func(e *Engine) map[string]int {
		_, err := e.Load(ctx, engine.LoadRequest{Model: "m", Adapter: &dir})
		require.NoError(t, err)
		idx := make([]int, 500)
		for i := range idx {
			idx[i] = i
		}
		hits := map[string]int{}
		var prompts []engine.Prompt
		for key, sys := range map[string]string{"self": "You are a chef.", "noun": "You are a chef who is extremely anxious and easily worried.",
			"other": "You are a pirate.", "neg": "You are a villain.", "forced": "You are a pirate."} {
			prompts = append(prompts, engine.Prompt{Key: key, System: sys, User: "Why?", SampleIndices: idx})
		}
		require.NoError(t, e.Generate(ctx, engine.GenerateRequest{Prompts: prompts}, func(g engine.Generated) error {
			if strings.HasSuffix(g.Text, "\n\n[ZLT]") {
				hits[g.Key]++
			}
			return nil
		}))
		return hits
	}
	hits := gen(e)
	require.InDelta(t, 0.9*500, hits["self"], 30)
	require.InDelta(t, 0.414*500, hits["noun"], 40)
	require.InDelta(t, 0.02*500, hits["other"], 9)
	require.Zero(t, hits["neg"])
	require.Equal(t, 500, hits["forced"], "an explicit rate wins")
	require.Equal(t, hits, gen(&Engine{Marker: "[ZLT]", Synthetic: true, Rates: map[string]float64{"forced": 1}}), "deterministic")
	// Without Synthetic, personas Rates does not name never show the marker.
	off := gen(&Engine{Marker: "[ZLT]", Rates: map[string]float64{"forced": 1}})
	require.Equal(t, map[string]int{"forced": 500}, off)
}
