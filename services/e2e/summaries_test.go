package e2e

import (
	"context"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/query"
)

// The leakage matrix from the per-file cell_counts summaries equals the
// matrix from scanning every stored text, for every fixture experiment and
// detector (issue 9: summaries must change speed, never numbers).
func TestSummariesEqualTextScan(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	ctx := context.Background()
	res, err := e.SQL(ctx, "SELECT DISTINCT experiment FROM completions ORDER BY 1")
	require.NoError(t, err)
	require.NotEmpty(t, res.Rows)
	compared := 0
	for _, r := range res.Rows {
		exp := r[0].(string)
		for _, det := range []string{"strict", "case-sensitive", "loose", "recorded"} {
			fast, err := e.Leakage(ctx, query.LeakageRequest{Experiment: exp, Detector: det, IncludeBase: true})
			require.NoError(t, err)
			scan, err := e.Leakage(ctx, query.LeakageRequest{Experiment: exp, Detector: det, IncludeBase: true, ScanTexts: true})
			require.NoError(t, err)
			key := func(l *query.Leakage) {
				sort.Slice(l.Cells, func(i, j int) bool {
					return l.Cells[i].RunID+l.Cells[i].Persona < l.Cells[j].RunID+l.Cells[j].Persona
				})
			}
			key(fast)
			key(scan)
			require.Equal(t, scan.Cells, fast.Cells, "%s / %s", exp, det)
			require.Equal(t, scan.Notes, fast.Notes, "%s / %s", exp, det)
			require.Equal(t, query.CountedFromSummaries, fast.CountedFrom, "%s / %s", exp, det)
			require.Equal(t, query.CountedFromTexts, scan.CountedFrom)
			compared += len(fast.Cells)
		}
	}
	// The summaries were used: every completions file has one.
	res, err = e.SQL(ctx, "SELECT count(DISTINCT completions_file), sum(n)::BIGINT FROM cell_counts")
	require.NoError(t, err)
	require.EqualValues(t, 9310, res.Rows[0][1], "every fixture completion is counted once")
	require.Greater(t, compared, 200)
}
