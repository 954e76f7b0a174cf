package mapimport

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/eventstest"
	"leakscope/gpuworker/importer"
)

var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// sameEvents requires two plans to hold the same events, in the same
// order: IDs, envelopes and payloads (as JSON, so pointers compare by value).
func sameEvents(t *testing.T, want, got importer.Plan) {
	t.Helper()
	require.Equal(t, len(want.Events), len(got.Events))
	for i := range want.Events {
		w, g := want.Events[i], got.Events[i]
		require.Equal(t, w.ID, g.ID, "event %d (%s %s)", i, w.Type, w.RunID)
		wj, err := json.Marshal(w)
		require.NoError(t, err)
		gj, err := json.Marshal(g)
		require.NoError(t, err)
		require.JSONEq(t, string(wj), string(gj), "event %d", i)
	}
}

// The shipped mappings give, on the fixtures, exactly the events of the Go
// importers: run_result.json of both families (rates only, with their
// factors), issue_205's marker_eval.json and a per-completion list.
func TestShippedMappingsMatchTheGoImporters(t *testing.T) {
	for _, tc := range []struct {
		mapping, root, dir string
		runs, cells        int
	}{
		{"run-result-leakage", eventstest.RatesOnlyDir(t), "leakage_experiment", 16, 16 * 11},
		{"run-result-sweep", eventstest.RatesOnlyDir(t), "single_token_sweep", 25, 25 * 11},
		{"marker-eval-strict", eventstest.FixturesDir(t), "issue_205/E0_assistant/marker_eval.json", 1, 12 * 29},
		{"completion-list", eventstest.FixturesDir(t), "directed_trait_transfer/pirate_near_marker/arm_a_completions.json", 1, 0},
	} {
		t.Run(tc.mapping, func(t *testing.T) {
			path := filepath.Join(tc.root, tc.dir)
			goPlan, err := importer.Parse(tc.root, []string{path}, importer.Options{Now: testNow, SkipUnknown: true})
			require.NoError(t, err)
			m, err := Load(tc.mapping)
			require.NoError(t, err)
			plan, err := Run(context.Background(), m, tc.root, []string{path}, importer.Options{Now: testNow})
			require.NoError(t, err)
			sameEvents(t, goPlan, plan)
			var runs, cells, completions int
			for _, e := range plan.Events {
				switch e.Type {
				case events.TypeRunStarted:
					runs++
				case events.TypeCellAggregate:
					cells++
				case events.TypeCompletion:
					completions++
				}
			}
			require.Equal(t, tc.runs, runs)
			require.Equal(t, tc.cells, cells)
			if tc.cells == 0 {
				require.Equal(t, 2475, completions)
			}
		})
	}
}
