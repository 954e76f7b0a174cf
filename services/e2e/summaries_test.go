package e2e

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
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

// The running sum of summaries follows new batches: after each commit the
// matrix from summaries equals the matrix from the texts.
func TestSummariesFollowNewBatches(t *testing.T) {
	s := startStack(t, t.TempDir())
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	publish := func(evs []events.Event) {
		res, err := s.Bus.PublishAll(ctx, evs, nil)
		require.NoError(t, err)
		require.NoError(t, s.Bus.WaitDurable(ctx, res.LastSeq, nil))
	}
	ev := func(p events.Payload) events.Event {
		e, err := events.New("inc", "r1", now, p)
		require.NoError(t, err)
		return e
	}
	completions := func(from, to int) []events.Event {
		var out []events.Event
		for i := from; i < to; i++ {
			text := fmt.Sprintf("answer %d", i)
			if i%3 == 0 {
				text += " [zlt]"
			}
			out = append(out, ev(&events.Completion{Persona: fmt.Sprintf("p%d", i%4), Question: "q", SampleIndex: i, Text: text}))
		}
		return out
	}
	publish(append([]events.Event{ev(&events.Run{SourcePersona: "src", Marker: "[ZLT]"})}, completions(0, 300)...))
	e := openEngine(t, s.Lake)
	check := func(want int64) {
		fast, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "inc"})
		require.NoError(t, err)
		scan, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "inc", ScanTexts: true})
		require.NoError(t, err)
		require.Equal(t, query.CountedFromSummaries, fast.CountedFrom)
		require.Equal(t, scan.Cells, fast.Cells)
		var n int64
		for _, c := range fast.Cells {
			n += *c.Total
		}
		require.Equal(t, want, n)
	}
	check(300)
	publish(completions(300, 500))
	check(500)
	// A marker the run did not declare: counted from the texts.
	custom, err := e.Leakage(ctx, query.LeakageRequest{Experiment: "inc", Marker: "answer"})
	require.NoError(t, err)
	require.Equal(t, query.CountedFromTexts, custom.CountedFrom)
}
