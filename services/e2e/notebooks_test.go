package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// notebookQueries splits a notebook into its named statements.
func notebookQueries(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "notebooks", name))
	require.NoError(t, err)
	out := map[string]string{}
	for _, part := range strings.Split(string(b), "\n-- ---\n") {
		for _, line := range strings.Split(part, "\n") {
			if name, ok := strings.CutPrefix(line, "-- query: "); ok {
				out[strings.TrimSpace(name)] = part
			}
		}
	}
	return out
}

// The i81 notebook reproduces the published numbers of EXPERIMENT.md §9.
func TestNotebookI81PublishedNumbers(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	q := notebookQueries(t, "01_i81_published_numbers.sql")
	require.Len(t, q, 3)
	ctx := context.Background()
	rows := func(name string) map[string][]any {
		res, err := e.SQL(ctx, q[name])
		require.NoError(t, err, name)
		out := map[string][]any{}
		for _, r := range res.Rows {
			out[r[0].(string)] = r[1:]
		}
		return out
	}
	self := rows("self-implant")
	for s, want := range map[string]float64{"person": 93.0, "chef": 92.5, "pirate": 86.0, "child": 98.5, "robot": 95.0} {
		require.InDelta(t, want, self[s][0], 1e-9, s)
	}
	cross := rows("a2-cross-noun")
	for s, want := range map[string]float64{"person": 27.125, "chef": 37.5, "pirate": 0.375, "child": 24.5, "robot": 3.5} {
		require.InDelta(t, want, cross[s][0], 1e-9, s)
		require.Equal(t, int64(4), cross[s][1], s)
	}
	coh := rows("coherence")
	for s, want := range map[string][3]float64{
		"person": {35, 0.428, 23}, "chef": {130, 0.413, 89}, "pirate": {130, 0.444, 89}, "child": {130, 0.468, 79}, "robot": {130, 0.484, 75},
	} {
		require.Equal(t, int64(want[0]), coh[s][0], "%s cells scored", s)
		require.InDelta(t, want[1], coh[s][1], 1e-9, "%s mean coherence", s)
		require.Equal(t, int64(want[2]), coh[s][2], "%s low-coherence cells", s)
	}
}
