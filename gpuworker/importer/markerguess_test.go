package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events/marker"
)

// Imported from its folder without --marker, proximity_transfer takes
// [PROX] from expA_leakage.json; the report says the flags follow [PROX],
// the run's marker, and keeps the truncation explanation of the 15 others.
func TestMarkerGuessProximityWithoutMarker(t *testing.T) {
	plan := parseFixture(t, "proximity_transfer")
	fr := report(t, plan, "proximity_transfer/expA_completions.json")
	g := fr.MarkerGuess
	require.NotNil(t, g)
	require.Equal(t, MarkerGuess{Guess: marker.Guess{Marker: "[PROX]", InFlagged: 216, Flagged: 231, InOthers: 0, Others: 769}, RunMarker: "[PROX]",
		Message: "recorded flags look like marker [PROX], the run's marker (present in 216 of 231 flagged texts, 0 of 769 others)"}, *g)
	require.True(t, containsNote(fr.Notes, "truncated at 500 chars"))
	require.True(t, containsNote(fr.Notes, "recorded flags look like marker [PROX], the run's marker"))
}

// The same file away from expA_leakage.json gets the default marker [ZLT]:
// the flags follow [PROX], and the import says so instead of blaming
// truncation.
func TestMarkerGuessProximityAloneSaysReimportWithPROX(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtures(t), "proximity_transfer", "expA_completions.json"))
	require.NoError(t, err)
	root := t.TempDir()
	dir := filepath.Join(root, "proximity_copy", "expA")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "expA_completions.json"), data, 0o644))
	plan, err := Parse(root, []string{root}, Options{Now: testNow})
	require.NoError(t, err)
	fr := report(t, plan, "expA_completions.json")
	require.Equal(t, DefaultMarker, runsOf(plan)["proximity_copy/expA"].Marker)
	g := fr.MarkerGuess
	require.NotNil(t, g)
	require.True(t, g.Mismatch)
	require.Equal(t, "[PROX]", g.Marker)
	require.Equal(t, "recorded flags look like marker [PROX] (present in 216 of 231 flagged texts, 0 of 769 others): re-import with --marker [PROX]", g.Message)
	require.True(t, containsNote(fr.Notes, `recorded flags 231 vs strict hits of "[ZLT]" on the stored text 0: recorded flags look like marker [PROX]`))
	require.False(t, containsNote(fr.Notes, "truncated"))

	// --marker still decides: the run keeps the given marker, the guess is reported.
	plan = parseWith(t, Options{Marker: "[ZLT]"}, filepath.Join(fixtures(t), "proximity_transfer"))
	require.Equal(t, "[ZLT]", runsOf(plan)["proximity_transfer/expA_completions"].Marker)
	require.True(t, report(t, plan, "expA_completions.json").MarkerGuess.Mismatch)
}

func parseWith(t *testing.T, opt Options, paths ...string) Plan {
	t.Helper()
	opt.Now = testNow
	plan, err := Parse(fixtures(t), paths, opt)
	require.NoError(t, err)
	return plan
}

// The tally's rules are tested in events/marker; here the import's
// verdict when no token explains a gross disagreement.
func TestMarkerGuessNoTokenSaysCheckTheMarker(t *testing.T) {
	// gross disagreement without a token says to check the marker
	dir := writeTree(t, map[string]string{"e/r/c.json": `[` + strings.Repeat(`{"persona": "p", "question": "q", "completion": "nothing", "marker_present": true},`, 6) +
		`{"persona": "p", "question": "q", "completion": "x", "marker_present": false}]`})
	plan, err := Parse(dir, []string{dir}, Options{Now: testNow})
	require.NoError(t, err)
	fr := report(t, plan, "c.json")
	require.Nil(t, fr.MarkerGuess)
	require.True(t, containsNote(fr.Notes, "no bracketed token explains them"))
}

func containsNote(notes []string, sub string) bool {
	for _, n := range notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}
