package importer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

func TestSingleTokenMarkerEval(t *testing.T) {
	plan := parseFixture(t, "single_token_100_persona")
	sources := []string{"assistant", "comedian", "kindergarten_teacher", "software_engineer", "villain"}
	for _, src := range sources {
		evs := runEvents(plan, "single_token_100_persona", src)
		runs := payloads[*events.Run](evs)
		require.Len(t, runs, 1, src)
		require.Equal(t, src, runs[0].SourcePersona)
		cells := payloads[*events.CellAggregate](evs)
		require.Len(t, cells, 111, src)
		cats := map[string]int{}
		for _, c := range cells {
			require.NotEmpty(t, c.Category)
			require.Equal(t, 200, *c.Total)
			require.Equal(t, "strict", c.Detector)
			cats[c.Category]++
		}
		require.Equal(t, map[string]int{"original": 11, "professional_peer": 15, "modified_source": 15, "opposite": 10,
			"hierarchical": 10, "intersectional": 10, "cultural_variant": 10, "fictional_exemplar": 10,
			"domain_adjacent": 10, "tone_variant": 5, "unrelated_baseline": 5}, cats, src)
	}
	// assistant/marker_eval.json: software_engineer 75 of 200
	for _, c := range payloads[*events.CellAggregate](runEvents(plan, "single_token_100_persona", "assistant")) {
		if c.Persona == "software_engineer" {
			require.Equal(t, 75, *c.Found)
			require.InDelta(t, 0.375, *c.Rate, 1e-12)
		}
	}
	for _, f := range []string{"assistant/summary.json", "compiled_analysis.json", "cosine_leakage_filtered.json"} {
		rep := report(t, plan, "single_token_100_persona/"+f)
		require.NotEmpty(t, rep.Skipped, f)
		require.Zero(t, rep.Events, f)
	}
}

func TestMarkerEvalStrictAndLoose(t *testing.T) {
	plan := parseFixture(t, "aim5_marker_transfer_issue80", "aim5_marker_transfer_confab_issue125_em_first", "leakage_v3")

	loose := runEvents(plan, "aim5_marker_transfer_issue80", "c1/marker_eval_seed42")
	r := payloads[*events.Run](loose)
	require.Len(t, r, 1)
	require.Equal(t, "[ZLT]", r[0].Marker)
	require.Equal(t, "config.marker in marker_eval.json", r[0].MarkerOrigin)
	require.Equal(t, int64(42), *r[0].Seed)
	require.Contains(t, string(r[0].Config), `"top_p":1.0`)
	byDet := map[string]int{}
	for _, c := range payloads[*events.CellAggregate](loose) {
		byDet[c.Detector]++
	}
	require.Equal(t, map[string]int{"strict": 11 + 11*28, "loose": 11 + 11*28}, byDet)
	require.Equal(t, FormatMarkerEvalLoose, report(t, plan, "c1/marker_eval_seed42/marker_eval.json").Format)

	strict := runEvents(plan, "aim5_marker_transfer_confab_issue125_em_first", "marker_eval")
	cells := payloads[*events.CellAggregate](strict)
	require.Len(t, cells, 12+12*28)
	for _, c := range cells {
		require.Equal(t, "strict", c.Detector)
		if c.Persona == "software_engineer" && c.Question == "" {
			require.Equal(t, 121, *c.Found)
			require.Equal(t, 280, *c.Total)
		}
	}

	v3 := runEvents(plan, "leakage_v3", "C1_villain_seed42/marker_only")
	require.Len(t, payloads[*events.CellAggregate](v3), 11+11*20)
	require.Equal(t, FormatMarkerEvalI81, report(t, plan, "marker_only/marker_eval.json").Format)
}

func TestDirectedArmResults(t *testing.T) {
	plan := parseFixture(t, "directed_trait_transfer/asst_near_marker")
	cells := payloads[*events.CellAggregate](runEvents(plan, "directed_trait_transfer", "asst_near_marker"))
	require.Len(t, cells, 22)
	for _, c := range cells {
		require.Contains(t, []string{"indomain", "generic"}, c.Slice)
		if c.Persona == "zelthari_scholar" && c.Slice == "generic" {
			require.Equal(t, 70, *c.Found)
			require.Equal(t, 75, *c.Total)
		}
	}
}

func TestExpALeakage(t *testing.T) {
	plan := parseFixture(t, "proximity_transfer/expA_leakage.json")
	evs := runEvents(plan, "proximity_transfer", "expA_leakage")
	r := payloads[*events.Run](evs)
	require.Len(t, r, 1)
	require.Equal(t, "[PROX]", r[0].Marker)
	require.Equal(t, "doctor", r[0].SourcePersona)
	cells := payloads[*events.CellAggregate](evs)
	require.Len(t, cells, 40)
	for _, c := range cells {
		require.Contains(t, []string{"generic", "domain"}, c.Slice)
		require.NotNil(t, c.CILow)
		if c.Persona == "assistant" && c.Slice == "generic" {
			require.Equal(t, 20, *c.Found)
			require.Equal(t, 25, *c.Total)
		}
	}
}
