package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/query"
)

// proximity_transfer read with the wrong marker ([ZLT]): 231 recorded
// flags, no hit. The note names the marker the flags follow ([PROX], in 216
// of the 231 flagged texts and none of the 769 others) instead of blaming
// truncation. Read with its own marker, the 15 flags without a hit are
// explained by the 500-character cut, which the texts really have.
func TestLeakageNoteNamesTheLikelyMarker(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	ctx := context.Background()
	note := func(lk *query.Leakage) string {
		for _, n := range lk.Notes {
			if strings.Contains(n, "run expA_completions:") {
				return n
			}
		}
		t.Fatalf("no note on expA_completions: %v", lk.Notes)
		return ""
	}
	wrong, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "proximity_transfer", Marker: "[ZLT]"})
	require.NoError(t, err)
	n := note(wrong)
	require.Contains(t, n, "recorded flags count 231, strict on the stored text counts 0:")
	require.Contains(t, n, "the flagged texts mostly contain (216 of 231) [PROX] (0 of 769 unflagged texts do): the marker is likely [PROX], not [ZLT]")
	require.NotContains(t, n, "truncated")

	own, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "proximity_transfer"})
	require.NoError(t, err)
	n = note(own)
	require.Contains(t, n, "15 completions the origin flagged have no hit in the stored text (every one of them is exactly 500 characters long")
	require.NotContains(t, n, "likely")
}
