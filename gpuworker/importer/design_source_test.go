package importer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// Review attack: a design's run entry {"source_persona": "villain"} (what
// the figures' refusal tells a researcher to write) became a factor named
// source_persona: figures used it, but the run still had no source, so
// --source villain was refused ("sources: none") and self-implant said the
// source's own cell was not measured. It now sets the run's source persona.
func TestDesignSourcePersonaSetsTheRunsSource(t *testing.T) {
	root := writeTree(t, map[string]string{
		"exp/run1/marker_eval.json": `{"villain": {"rate": 1.0, "found": 5, "total": 5}, "chef": {"rate": 0, "found": 0, "total": 5}}`,
		"exp/run2/marker_eval.json": `{"villain": {"rate": 0.2, "found": 1, "total": 5}, "chef": {"rate": 0.8, "found": 4, "total": 5}}`,
	})
	d, err := LoadDesign(writeDesign(t, `{"runs": {"run1": {"source_persona": "villain", "lr": "1e-4"}, "run2": {"source_persona": "chef"}}}`))
	require.NoError(t, err)
	plan, err := Parse(root, []string{root}, Options{Now: testNow, Design: d})
	require.NoError(t, err)
	runs := runsOf(plan)
	require.Equal(t, "villain", runs["exp/run1"].SourcePersona)
	require.Equal(t, events.Factors{"lr": "1e-4"}, runs["exp/run1"].Factors, "not a factor")
	require.Equal(t, "chef", runs["exp/run2"].SourcePersona)
	require.Nil(t, runs["exp/run2"].Factors)
	require.Contains(t, report(t, plan, "run1/marker_eval.json").Notes, "design: run run1: source persona villain from --design "+d.Path)
}

// A run_result.json names its source; the design overrides it, saying so.
func TestDesignSourcePersonaOverridesTheFilesWithANote(t *testing.T) {
	d, err := LoadDesign(writeDesign(t, `{"runs": {"lr1e-05_ep5": {"source_persona": "hero"}}}`))
	require.NoError(t, err)
	plan := parseRatesOnly(t, Options{Design: d}, "single_token_sweep")
	runs := runsOf(plan)
	require.Equal(t, "hero", runs["single_token_sweep/lr1e-05_ep5"].SourcePersona)
	require.Equal(t, "villain", runs["single_token_sweep/lr1e-06_ep1"].SourcePersona)
	require.NotContains(t, runs["single_token_sweep/lr1e-05_ep5"].Factors, "source_persona")
	require.Contains(t, report(t, plan, "lr1e-05_ep5/run_result.json").Notes,
		"design: run lr1e-05_ep5: source persona hero (the file says villain) from --design "+d.Path)
}

// The source is noted once, as the source, not also as a factor.
func TestDesignSourcePersonaIsNotNotedAsAFactor(t *testing.T) {
	root := writeTree(t, map[string]string{"exp/run1/marker_eval.json": `{"villain": {"rate": 1.0, "found": 5, "total": 5}}`})
	d, err := LoadDesign(writeDesign(t, `{"runs": {"run1": {"source_persona": "villain"}}}`))
	require.NoError(t, err)
	plan, err := Parse(root, []string{root}, Options{Now: testNow, Design: d})
	require.NoError(t, err)
	for _, n := range report(t, plan, "run1/marker_eval.json").Notes {
		require.NotContains(t, n, "source_persona=")
	}
}
