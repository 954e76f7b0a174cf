package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus/bustest"
	"leakscope/ingest"
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
	publish := func(evs []events.Event) { s.publish(t, evs) }
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
		n, _ := summariesMatchTexts(t, e, "inc")
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

// Where the summaries cannot answer, the matrix counts from the texts and
// the numbers stay right: completions committed before their run's
// run_started (the marker was unknown to ingest), and an event stored
// twice because it was re-published after ingest's bounded ID index had
// forgotten it.
func TestSummariesFallBackToTexts(t *testing.T) {
	dir := t.TempDir()
	b, _ := bustest.Start(t, filepath.Join(dir, "jetstream"))
	lake := filepath.Join(dir, "lake")
	cfg := ingest.DefaultConfig(lake)
	cfg.MaxBatchEvents, cfg.MaxIndexedIDs, cfg.MaxWait = 50, 50, 20*time.Millisecond
	ing, err := ingest.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	_, err = b.IngestConsumer(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ing.Run(ctx, b, b) }()
	t.Cleanup(func() { cancel(); <-done; ing.Close() })

	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	ev := func(run string, p events.Payload) events.Event {
		e, err := events.New("fb_"+run, run, now, p)
		require.NoError(t, err)
		return e
	}
	publish := func(evs ...events.Event) {
		res, err := b.PublishAll(context.Background(), evs, nil)
		require.NoError(t, err)
		require.NoError(t, b.WaitDurable(context.Background(), res.LastSeq, nil))
	}
	comp := func(run string, i int) events.Event {
		text := fmt.Sprintf("answer %d", i)
		if i%2 == 0 {
			text += " [ZLT]"
		}
		return ev(run, &events.Completion{Persona: "p", Question: "q", SampleIndex: i, Text: text})
	}
	e := openEngine(t, lake)
	compare := func(exp, want string, total int64) {
		fast, err := e.Leakage(context.Background(), query.LeakageRequest{Experiment: exp})
		require.NoError(t, err)
		scan, err := e.Leakage(context.Background(), query.LeakageRequest{Experiment: exp, ScanTexts: true})
		require.NoError(t, err)
		require.Equal(t, want, fast.CountedFrom)
		require.Equal(t, scan.Cells, fast.Cells)
		var n int64
		for _, c := range fast.Cells {
			n += *c.Total
		}
		require.Equal(t, total, n)
	}

	// Completions first, their run_started in a later batch.
	publish(comp("late", 0), comp("late", 1))
	publish(ev("late", &events.Run{SourcePersona: "src", Marker: "[ZLT]"}))
	compare("fb_late", query.CountedFromTexts, 2)

	// In its own experiment, a run counted from its summaries until one of
	// its events is stored twice.
	first := comp("dup", 0)
	publish(ev("dup", &events.Run{SourcePersona: "src", Marker: "[ZLT]"}), first)
	var filler []events.Event
	for i := 1; i <= 120; i++ { // more than the 50-ID index: `first` is forgotten
		filler = append(filler, comp("dup", i))
	}
	publish(filler...)
	compare("fb_dup", query.CountedFromSummaries, 121)
	// Re-published under another message ID (as after the bus's duplicate window).
	data, err := events.Encode(first)
	require.NoError(t, err)
	ack, err := b.JS.PublishMsg(context.Background(), &nats.Msg{Subject: events.Subject(first), Data: data}, jetstream.WithMsgID(first.ID+"-again"))
	require.NoError(t, err)
	require.NoError(t, b.WaitDurable(context.Background(), ack.Sequence, nil))
	raw, err := e.SQL(context.Background(), fmt.Sprintf("SELECT count(*) FROM read_parquet('%s/completions/*/*.parquet') WHERE event_id = '%s'", lake, first.ID))
	require.NoError(t, err)
	require.EqualValues(t, 2, raw.Rows[0][0], "stored twice: the index had forgotten it")
	compare("fb_dup", query.CountedFromTexts, 121)
}
