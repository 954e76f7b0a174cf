package live

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

func ev(t *testing.T, run string, at time.Time, p events.Payload) events.Event {
	t.Helper()
	e, err := events.New("exp1", run, at, p)
	require.NoError(t, err)
	return e
}

// A sweep of one run planned at 2 cells × 2 completions: counts, the strict
// detector with the run's marker, Wilson CIs, duplicates ignored, progress,
// and a worker whose beats stop is flagged after 1.5 intervals.
func TestAggregator(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	now := t0
	a := New()
	a.now = func() time.Time { return now }
	a.Apply(ev(t, "r1", t0, &events.Run{Marker: "[ZLT]", Sweep: "s1", Plan: []events.PlannedCell{{Persona: "chef", Expected: 2}, {Persona: "pirate", Expected: 2}}}))
	a.Apply(ev(t, "other", t0, &events.Run{Marker: "[ZLT]"})) // no sweep: not followed
	a.Apply(ev(t, "r1", t0, &events.Heartbeat{Worker: "w1", Beat: 1, IntervalMS: 1000, Status: "running"}))
	c1 := ev(t, "r1", t0.Add(time.Second), &events.Completion{Persona: "chef", Question: "q", SampleIndex: 0, Text: "yes [zlt]"})
	a.Apply(c1)
	a.Apply(c1) // a re-published event counts once
	a.Apply(ev(t, "r1", t0.Add(2*time.Second), &events.Completion{Persona: "chef", Question: "q", SampleIndex: 1, Text: "ZLT] only"}))
	a.Apply(ev(t, "r1", t0.Add(2*time.Second), &events.Completion{Persona: "pirate", Question: "q", SampleIndex: 0, Text: "arr [ZLT]"}))
	a.Apply(ev(t, "other", t0, &events.Completion{Persona: "chef", Question: "q", Text: "x"}))

	now = t0.Add(1200 * time.Millisecond) // 1.2 intervals after the beat: fine
	s := a.Snapshot("s1")
	require.True(t, s.Known)
	require.Equal(t, 3, s.Done)
	require.Equal(t, 4, s.Expected)
	require.False(t, s.Finished)
	require.Len(t, s.Cells, 2)
	chef := s.Cells[0]
	require.Equal(t, []any{"chef", 2, 2, 1, 0.5, CellDone}, []any{chef.Persona, chef.N, chef.Expected, chef.Hits, *chef.Rate, chef.State}, "strict: [zlt] counts, ZLT] does not")
	require.InDelta(t, 0.0945, *chef.CILow, 1e-4)
	require.InDelta(t, 0.9055, *chef.CIHigh, 1e-4)
	require.Len(t, s.Workers, 1)
	require.False(t, s.Workers[0].Stalled)

	now = t0.Add(1600 * time.Millisecond) // 1.6 intervals: stalled
	require.True(t, a.Snapshot("s1").Workers[0].Stalled)

	a.Apply(ev(t, "r1", t0.Add(3*time.Second), &events.Completion{Persona: "pirate", Question: "q", SampleIndex: 1, Text: "arr"}))
	a.Apply(ev(t, "r1", t0.Add(3*time.Second), &events.Heartbeat{Worker: "w1", Beat: 2, IntervalMS: 1000, Done: 4, Status: "finished"}))
	a.Apply(ev(t, "r1", t0.Add(3*time.Second), &events.RunFinished{Status: "finished", Completions: 4}))
	now = t0.Add(10 * time.Second)
	s = a.Snapshot("s1")
	require.True(t, s.Finished)
	require.Equal(t, 4, s.Done)
	require.False(t, s.Workers[0].Stalled, "a finished worker is not stalled")
	require.Nil(t, s.ETASeconds)
	require.False(t, a.Snapshot("nope").Known)
	require.Equal(t, []string{"s1"}, a.Sweeps())
}

// A retracted run leaves the live view (its cells hidden, its counts out of
// the totals, a note naming it); a restore brings it back unchanged; an
// older mark arriving late changes nothing; tags change nothing.
func TestAggregatorHidesRetractedRun(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := New()
	a.now = func() time.Time { return t0.Add(time.Minute) }
	for _, r := range []string{"r1", "r2"} {
		a.Apply(ev(t, r, t0, &events.Run{Marker: "[ZLT]", Sweep: "s1", Plan: []events.PlannedCell{{Persona: "chef", Expected: 1}}}))
		a.Apply(ev(t, r, t0, &events.Completion{Persona: "chef", Question: "q", Text: "[ZLT]"}))
		a.Apply(ev(t, r, t0, &events.RunFinished{Status: "finished", Completions: 1}))
	}
	before := a.Snapshot("s1")
	require.Len(t, before.Cells, 2)
	require.Empty(t, before.Notes)

	// A mark for a run not started yet is kept and applies once it starts.
	a.Apply(ev(t, "r3", t0, &events.RunMark{Action: events.MarkRetract, Reason: "early", At: t0}))
	a.Apply(ev(t, "r3", t0, &events.Run{Marker: "[ZLT]", Sweep: "s1", Plan: []events.PlannedCell{{Persona: "chef", Expected: 1}}}))

	a.Apply(ev(t, "r2", t0, &events.RunMark{Action: events.MarkRetract, Reason: "wrong negatives", At: t0.Add(time.Second)}))
	a.Apply(ev(t, "r2", t0, &events.RunMark{Action: events.MarkTag, Tag: "pilot", At: t0.Add(2 * time.Second)}))
	s := a.Snapshot("s1")
	require.Len(t, s.Cells, 1)
	require.Equal(t, "r1", s.Cells[0].RunID)
	require.Equal(t, 1, s.Done)
	require.Equal(t, 1, s.Expected)
	require.True(t, s.Finished, "the retracted, unfinished r3 does not hold the sweep open")
	require.Len(t, s.Runs, 3)
	require.True(t, s.Runs[1].Retracted)
	require.Equal(t, "wrong negatives", s.Runs[1].RetractReason)
	require.Len(t, s.Notes, 2)
	require.Contains(t, s.Notes[0], "run r2 is retracted (wrong negatives)")

	// A late, older restore changes nothing; a newer one brings r2 back.
	a.Apply(ev(t, "r2", t0, &events.RunMark{Action: events.MarkRestore, At: t0}))
	require.Len(t, a.Snapshot("s1").Cells, 1)
	a.Apply(ev(t, "r2", t0, &events.RunMark{Action: events.MarkRestore, At: t0.Add(3 * time.Second)}))
	after := a.Snapshot("s1")
	require.Equal(t, before.Cells, after.Cells)
	require.Len(t, after.Notes, 1, "only r3 is still retracted")
}
