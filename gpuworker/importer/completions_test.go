package importer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

func hasStrict(c *events.Completion) bool {
	for _, h := range c.MarkerHits {
		if h.Detector == "strict" {
			return true
		}
	}
	return false
}

func TestIssue205RawCompletionsMatchStrictHits(t *testing.T) {
	plan := parseFixture(t, "issue_205")
	evs := runEvents(plan, "issue_205", "E0_assistant")
	require.Len(t, payloads[*events.Run](evs), 1, "one run_started for the two files of the run")
	fin := payloads[*events.RunFinished](evs)
	require.Len(t, fin, 1)
	require.Equal(t, 3360, fin[0].Completions)

	comps := payloads[*events.Completion](evs)
	require.Len(t, comps, 3360)
	hits := map[string]int{}
	for _, c := range comps {
		require.Nil(t, c.RecordedMarker)
		require.True(t, c.Imported)
		if hasStrict(c) {
			hits[c.Persona]++
		}
	}
	want := map[string]int{}
	for _, c := range payloads[*events.CellAggregate](evs) {
		if c.Question == "" {
			want[c.Persona] = *c.Found
		}
	}
	require.Len(t, want, 12)
	for p, n := range want {
		require.Equal(t, n, hits[p], p)
	}
	require.Equal(t, 122, want["software_engineer"])
	rep := report(t, plan, "E0_assistant/raw_completions.json")
	require.Equal(t, FormatRawCompletions, rep.Format)
	require.Contains(t, rep.Notes, `marker "[ZLT]": config.marker in marker_eval.json (same folder)`)
}

func TestDirectedRecordedFlagEqualsStrict(t *testing.T) {
	plan := parseFixture(t, "directed_trait_transfer")
	for _, run := range []string{"asst_near_marker", "pirate_near_marker"} {
		comps := payloads[*events.Completion](runEvents(plan, "directed_trait_transfer", run))
		require.Len(t, comps, 2475)
		idx := map[int]int{}
		for _, c := range comps {
			require.NotNil(t, c.RecordedMarker)
			require.Equal(t, *c.RecordedMarker, hasStrict(c), "%s %s %q", run, c.Persona, c.Question)
			require.NotEmpty(t, c.QuestionSet)
			idx[c.SampleIndex]++
		}
		require.Len(t, idx, 15, "15 completions per (persona, q_type, question)")
	}
	require.Contains(t, report(t, plan, "asst_near_marker/arm_a_completions.json").Notes,
		`recorded flag equals strict detection of "[ZLT]" on all 2475 records (483 flagged)`)
}

func TestProximityRecordedVersusStrict(t *testing.T) {
	plan := parseFixture(t, "proximity_transfer/expA_completions.json")
	evs := runEvents(plan, "proximity_transfer", "expA_completions")
	r := payloads[*events.Run](evs)
	require.Len(t, r, 1)
	require.Equal(t, "[PROX]", r[0].Marker)
	require.Contains(t, r[0].MarkerOrigin, "training.marker in expA_leakage.json")
	comps := payloads[*events.Completion](evs)
	require.Len(t, comps, 1000)
	recorded, strict := 0, 0
	for _, c := range comps {
		if *c.RecordedMarker {
			recorded++
		}
		if hasStrict(c) {
			strict++
		}
	}
	require.Equal(t, 231, recorded)
	require.Equal(t, 216, strict)
	var found bool
	for _, n := range report(t, plan, "expA_completions.json").Notes {
		if len(n) > 40 && n[:40] == "recorded flags 231 vs strict hits on sto" {
			found = true
			require.Contains(t, n, "truncated at 500 chars")
		}
	}
	require.True(t, found)
}

func TestMarkerOverride(t *testing.T) {
	dir := fixtures(t)
	plan, err := Parse(dir, []string{dir + "/proximity_transfer/expA_completions.json"}, Options{Now: testNow, Marker: "[ZLT]"})
	require.NoError(t, err)
	r := payloads[*events.Run](plan.Events)
	require.Len(t, r, 1)
	require.Equal(t, "[ZLT]", r[0].Marker)
	require.Equal(t, "Options.Marker override", r[0].MarkerOrigin)
	for _, c := range payloads[*events.Completion](plan.Events) {
		require.False(t, hasStrict(c))
	}
}
