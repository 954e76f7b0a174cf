package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events/marker"
	"leakscope/query"
)

// The published i81 self-implant rates (EXPERIMENT.md §9): A2__s under the
// model trained on source s, recomputed through bus → lake → DuckDB.
func TestI81SelfCellsAndMatrixShape(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	res, err := e.Leakage(context.Background(), query.LeakageRequest{Experiment: "leakage_i81"})
	require.NoError(t, err)
	require.Len(t, res.Cells, 5*130, "5 sources × 130 bystanders")
	want := map[string]float64{"person": 0.930, "chef": 0.925, "pirate": 0.860, "child": 0.985, "robot": 0.950}
	perSource, missing := map[string]int{}, map[string]int{}
	for _, c := range res.Cells {
		perSource[c.SourcePersona]++
		if c.Missing {
			missing[c.SourcePersona]++
			require.Nil(t, c.Rate, "a missing cell has no rate: %s %s", c.RunID, c.Persona)
			continue
		}
		require.Equal(t, query.OriginImported, c.Origin)
		require.NotNil(t, c.RateMinusBase, "base run exists for %s", c.RunID)
		require.InDelta(t, *c.Rate, *c.RateMinusBase, 1e-12, "base rate is 0 everywhere (EXPERIMENT.md §2.4)")
		if s, ok := want[c.SourcePersona[len("src_"):]]; ok && c.Persona == "A2__"+c.SourcePersona[len("src_"):] {
			require.InDelta(t, s, *c.Rate, 1e-12, c.Persona)
			require.Equal(t, int64(200), *c.Total)
			delete(want, c.SourcePersona[len("src_"):])
		}
	}
	require.Empty(t, want, "every self cell found")
	for _, s := range []string{"src_person", "src_chef", "src_pirate", "src_child", "src_robot"} {
		require.Equal(t, 130, perSource[s], s)
	}
	require.Equal(t, map[string]int{"src_person": 95}, missing, "only person's zero-filled pilot rows are missing")
	require.NotEmpty(t, res.Notes)
}

// issue_205/E0_assistant: strict hits recomputed from the raw texts equal
// the file's strict_hits for all 12 personas.
func TestIssue205StrictHitsRecomputedFromText(t *testing.T) {
	dir := fixturesDir(t)
	e := openEngine(t, importedFixtures(t))
	var file struct {
		PerPersona map[string]struct {
			StrictHits int `json:"strict_hits"`
			Total      int `json:"total"`
		} `json:"per_persona"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "issue_205", "E0_assistant", "marker_eval.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &file))
	require.Len(t, file.PerPersona, 12)

	res, err := e.Leakage(context.Background(), query.LeakageRequest{Experiment: "issue_205", Detector: marker.Strict})
	require.NoError(t, err)
	require.Len(t, res.Cells, 12)
	for _, c := range res.Cells {
		want := file.PerPersona[c.Persona]
		require.Equal(t, query.OriginCompletions, c.Origin, c.Persona)
		require.Equal(t, int64(want.Total), *c.Total, c.Persona)
		require.Equal(t, int64(want.StrictHits), *c.Found, "strict hits of %s", c.Persona)
		require.NotNil(t, c.ImportedFound)
		require.Equal(t, *c.ImportedFound, *c.Found, c.Persona)
	}
}

// directed_trait_transfer: the strict detector, run by DuckDB on the stored
// text, agrees with the recorded flag on every record.
func TestDirectedTraitTransferStrictEqualsRecorded(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	d, err := marker.Get(marker.Strict)
	require.NoError(t, err)
	res, err := e.SQL(context.Background(), `
SELECT run_id, count(*), count(*) FILTER (WHERE recorded_marker <> regexp_matches(text, $1)), count(*) FILTER (WHERE recorded_marker)
FROM completions WHERE experiment = 'directed_trait_transfer' GROUP BY run_id ORDER BY run_id`, d.Pattern("[ZLT]"))
	require.NoError(t, err)
	require.Len(t, res.Rows, 2)
	for _, r := range res.Rows {
		require.Equal(t, int64(2475), r[1], r[0])
		require.Equal(t, int64(0), r[2], "records where strict disagrees with the flag in %v", r[0])
		require.Greater(t, r[3].(int64), int64(0))
	}
}

// proximity_transfer: 231 recorded flags, 216 strict hits on the stored
// (500-character) text; both queryable, the difference explained.
func TestProximityRecordedVersusDetected(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	ctx := context.Background()
	sum := func(res *query.Leakage) (found, recorded int64) {
		for _, c := range res.Cells {
			if c.RunID != "expA_completions" {
				continue
			}
			found += *c.Found
			if c.RecordedFound != nil {
				recorded += *c.RecordedFound
			}
		}
		return
	}
	strict, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "proximity_transfer"})
	require.NoError(t, err)
	found, recorded := sum(strict)
	require.Equal(t, int64(216), found)
	require.Equal(t, int64(231), recorded)
	require.Condition(t, func() bool {
		for _, n := range strict.Notes {
			if strings.Contains(n, "231") && strings.Contains(n, "216") && strings.Contains(n, "500 characters") {
				return true
			}
		}
		return false
	}, "a note explains 231 vs 216: %v", strict.Notes)
	rec, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "proximity_transfer", Detector: marker.Recorded})
	require.NoError(t, err)
	found, _ = sum(rec)
	require.Equal(t, int64(231), found)
	for _, c := range strict.Cells {
		if c.RunID == "expA_completions" {
			require.Equal(t, "[PROX]", c.Marker)
		}
	}
}

// single_token_100_persona: 5 sources × 111 bystanders with found/total and category.
func TestSingleToken100Persona(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	res, err := e.Leakage(context.Background(), query.LeakageRequest{Experiment: "single_token_100_persona"})
	require.NoError(t, err)
	perRun := map[string]int{}
	for _, c := range res.Cells {
		require.NotNil(t, c.Found, "%s %s", c.RunID, c.Persona)
		require.Equal(t, int64(200), *c.Total)
		require.NotEmpty(t, c.Category, "%s %s", c.RunID, c.Persona)
		require.Equal(t, c.RunID, c.SourcePersona)
		perRun[c.RunID]++
	}
	require.Equal(t, map[string]int{"assistant": 111, "comedian": 111, "kindergarten_teacher": 111, "software_engineer": 111, "villain": 111}, perRun)
}

// Imported aggregates have no text: they answer only for their own
// detector and marker, and say so; "recorded" falls back to the origin's
// count where completions carry no recorded flag.
func TestImportedAggregatesAndOtherDetectors(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	ctx := context.Background()
	loose, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "leakage_i81", Detector: marker.Loose})
	require.NoError(t, err)
	require.Empty(t, loose.Cells)
	require.Len(t, loose.Notes, 6, "one per run (5 sources + base): %v", loose.Notes)
	require.Contains(t, loose.Notes[0], "no text to re-count")
	other, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "leakage_i81", Marker: "[FOO]"})
	require.NoError(t, err)
	require.Empty(t, other.Cells)
	rec, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "issue_205", Detector: marker.Recorded})
	require.NoError(t, err)
	require.Len(t, rec.Cells, 12)
	for _, c := range rec.Cells {
		require.Equal(t, query.OriginImported, c.Origin, c.Persona)
		require.NotNil(t, c.Found)
	}
	_, err = e.Leakage(ctx, query.LeakageRequest{Experiment: "issue_205", Detector: marker.Recorded, Marker: "[X]"})
	require.ErrorIs(t, err, query.ErrBadRequest)
}
