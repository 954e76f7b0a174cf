package live

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// fiveRunPlan is a sweep of 5 runs × 4 bystanders × 10 completions (200
// in all), planned at submission: A1 cells grouped by noun and level, an
// A2 cell per noun, and the assistant, which has no factors.
func fiveRunPlan(t *testing.T, a *Aggregator, t0 time.Time) []string {
	plan := []events.PlannedCell{
		{Persona: "a1_x_l1", Expected: 10, Factors: events.Factors{"kind": "A1", "noun": "x", "level": "L1"}},
		{Persona: "a1_x_l2", Expected: 10, Factors: events.Factors{"kind": "A1", "noun": "x", "level": "L2"}},
		{Persona: "a2_x", Expected: 10, Factors: events.Factors{"kind": "A2", "noun": "x"}},
		{Persona: "assistant", Expected: 10},
	}
	var runs []string
	for i := range 5 {
		run := fmt.Sprintf("lg81-sweep001-src%d", i)
		runs = append(runs, run)
		a.Apply(ev(t, run, t0, &events.RunPlanned{Sweep: "lg81-sweep001", SourcePersona: fmt.Sprintf("src%d", i), Plan: plan}))
	}
	return runs
}

// Progress counts the whole plan from the start: at 10 % of a 5-run
// sweep's completions (half of the first run) it reads 10 %, not the 50 %
// of the started run, and the ETA is over every planned run.
func TestProgressCountsEveryPlannedRun(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	a := New()
	a.now = func() time.Time { return t0.Add(10 * time.Second) }
	runs := fiveRunPlan(t, a, t0)
	s := a.Snapshot("lg81-sweep001")
	require.True(t, s.Known, "a planned sweep is known before any run starts")
	require.Equal(t, []int{0, 200, 5, 0}, []int{s.Done, s.Expected, s.RunsPlanned, s.RunsStarted})
	require.Equal(t, "planned", s.Runs[0].Status)
	require.False(t, s.Finished)
	require.Len(t, s.Cells, 20, "every planned cell, pending")
	for _, c := range s.Cells {
		require.Equal(t, CellPending, c.State)
		require.Nil(t, c.Rate, "no completion: the rate is undefined, not 0")
	}

	a.Apply(ev(t, runs[0], t0, &events.Run{SourcePersona: "src0", Marker: "[ZLT]", Sweep: "lg81-sweep001"}))
	for i := range 20 { // 20 of 200 completions: 10 %, half of run 0
		p := []string{"a1_x_l1", "a1_x_l2"}[i/10]
		text := "no"
		if i%2 == 0 {
			text = "[ZLT]"
		}
		a.Apply(ev(t, runs[0], t0.Add(time.Duration(i)*250*time.Millisecond), &events.Completion{Persona: p, Question: "q", SampleIndex: i % 10, Text: text}))
	}
	s = a.Snapshot("lg81-sweep001")
	require.Equal(t, 20, s.Done)
	require.Equal(t, 200, s.Expected, "the plan, not the started run's 40")
	require.InDelta(t, 0.10, float64(s.Done)/float64(s.Expected), 1e-12)
	require.Equal(t, 1, s.RunsStarted)
	require.Equal(t, []any{"running", 20, 40}, []any{s.Runs[0].Status, s.Runs[0].Done, s.Runs[0].Expected})
	require.Equal(t, "planned", s.Runs[1].Status)
	require.NotNil(t, s.ETASeconds)
	require.InDelta(t, 180/s.PerSecond, *s.ETASeconds, 1e-9, "ETA over the 180 completions left in all five runs")
	require.InDelta(t, 2.0, s.PerSecond, 1e-9, "20 completions in the last 10 s")
}

// Cells are pending (planned, none yet), partial (some), done (all) or
// unplanned (completions the plan lacks); pairs no run plans have no cell.
func TestCellStates(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	a := New()
	a.now = func() time.Time { return t0 }
	a.Apply(ev(t, "r1", t0, &events.Run{Marker: "[ZLT]", Sweep: "s", Plan: []events.PlannedCell{{Persona: "done", Expected: 2}, {Persona: "partial", Expected: 4}, {Persona: "pending", Expected: 1}}}))
	a.Apply(ev(t, "r2", t0, &events.Run{Marker: "[ZLT]", Sweep: "s", Plan: []events.PlannedCell{{Persona: "done", Expected: 1}}}))
	for i, p := range []string{"done", "done", "partial", "extra"} {
		a.Apply(ev(t, "r1", t0, &events.Completion{Persona: p, Question: "q", SampleIndex: i, Text: "[ZLT]"}))
	}
	got := map[string]string{}
	for _, c := range a.Snapshot("s").Cells {
		got[c.RunID+"/"+c.Persona] = c.State
	}
	require.Equal(t, map[string]string{"r1/done": CellDone, "r1/partial": CellPartial, "r1/pending": CellPending, "r1/extra": CellUnplanned,
		"r2/done": CellPending}, got, "r2 plans only one bystander: its other pairs are not planned (no cell)")
	s := a.Snapshot("s")
	require.Equal(t, []string{"done", "partial", "pending", "extra"}, personas(s.Bystanders), "plan order, then what only completions named")
}

func personas(bs []Bystander) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Persona)
	}
	return out
}

// A run_started after its run_planned takes over the run (its marker
// counts hits) without doubling it; its plan replaces the submitted one.
func TestStartedRunReplacesItsPlan(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	a := New()
	runs := fiveRunPlan(t, a, t0)
	a.Apply(ev(t, runs[0], t0, &events.Completion{Persona: "a2_x", Question: "q", Text: "[ZLT]"}))
	require.Zero(t, a.Snapshot("lg81-sweep001").Done, "no marker before run_started: not counted")
	a.Apply(ev(t, runs[0], t0, &events.Run{Marker: "[ZLT]", Sweep: "lg81-sweep001", SourcePersona: "src0", Plan: []events.PlannedCell{{Persona: "a2_x", Expected: 3}}}))
	a.Apply(ev(t, runs[0], t0, &events.RunPlanned{Sweep: "lg81-sweep001", Plan: []events.PlannedCell{{Persona: "a2_x", Expected: 99}}})) // a late resubmission changes nothing
	a.Apply(ev(t, runs[0], t0, &events.Completion{Persona: "a2_x", Question: "q", SampleIndex: 1, Text: "[ZLT]"}))
	s := a.Snapshot("lg81-sweep001")
	require.Len(t, s.Runs, 5)
	require.Equal(t, 1, s.Done)
	require.Equal(t, 3+4*40, s.Expected)
	require.Equal(t, []any{"running", 3}, []any{s.Runs[0].Status, s.Runs[0].Expected})
}

// The heatmap's columns are grouped by the bystander factors, outermost
// (fewest changes along the plan) first; the assistant, without factors,
// comes last.
func TestLayoutGroupsByFactors(t *testing.T) {
	a := New()
	fiveRunPlan(t, a, time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	s := a.Snapshot("lg81-sweep001")
	require.Equal(t, []string{"kind", "level"}, s.GroupBy, "noun has one value: it groups nothing")
	require.Equal(t, []string{"a1_x_l1", "a1_x_l2", "a2_x", "assistant"}, personas(s.Bystanders))

	cols, by := layout([][]events.PlannedCell{{
		{Persona: "t1", Factors: events.Factors{"noun": "b", "trait": "1"}},
		{Persona: "t2", Factors: events.Factors{"noun": "b", "trait": "2"}},
		{Persona: "u1", Factors: events.Factors{"noun": "a", "trait": "1"}},
		{Persona: "u2", Factors: events.Factors{"noun": "a", "trait": "2"}},
		{Persona: "solo"},
	}}, []string{"zz", "t1"})
	require.Equal(t, []string{"noun", "trait"}, by, "trait changes at every column, noun once: noun is outer")
	require.Equal(t, []string{"t1", "t2", "u1", "u2", "solo", "zz"}, personas(cols))
}

// A name resolves to the sweep of exactly that name, else to every sweep
// it begins: one, several or none.
func TestResolveByPrefix(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	a := New()
	require.Empty(t, a.Resolve("lg81"), "none yet")
	fiveRunPlan(t, a, t0)
	require.Equal(t, []string{"lg81-sweep001"}, a.Resolve("lg81"))
	a.Apply(ev(t, "x", t0, &events.RunPlanned{Sweep: "lg81-sweep002", Plan: []events.PlannedCell{{Persona: "p", Expected: 1}}}))
	a.Apply(ev(t, "y", t0, &events.RunPlanned{Sweep: "lg8", Plan: []events.PlannedCell{{Persona: "p", Expected: 1}}}))
	require.Equal(t, []string{"lg81-sweep001", "lg81-sweep002"}, a.Resolve("lg81"))
	require.Equal(t, []string{"lg8"}, a.Resolve("lg8"), "an exact name wins over the sweeps it begins")
	require.Empty(t, a.Resolve("demo"))
	sum := a.Summaries(a.Resolve("lg81"))
	require.Equal(t, SweepSummary{Sweep: "lg81-sweep001", RunsPlanned: 5, Expected: 200}, sum[0])
}
