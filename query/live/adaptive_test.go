package live

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

var testRule = events.StoppingRule{HalfWidth: 0.3, MinN: 4, MaxN: 12, Alpha: 0.05, PriorA: 0.5, PriorB: 0.5,
	Method: events.MethodBetaBinomial, Questions: 2}

// adaptiveStream is one adaptive run of three cells × 2 questions × 6
// samples: "none" never shows the marker, "all" always, "half" on odd
// sample indices.
func adaptiveStream(t *testing.T) (start events.Event, completions []events.Event) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	plan := []events.PlannedCell{{Persona: "none", Expected: 12}, {Persona: "all", Expected: 12}, {Persona: "half", Expected: 12}}
	rule := testRule
	start = ev(t, "r1", t0, &events.Run{Marker: "[ZLT]", Sweep: "s1", Plan: plan, Stopping: &rule})
	for i := range 6 {
		for _, q := range []string{"q1", "q2"} {
			for _, p := range []string{"none", "all", "half"} {
				text := "answer"
				if p == "all" || (p == "half" && i%2 == 1) {
					text = "answer\n\n[ZLT]"
				}
				completions = append(completions, ev(t, "r1", t0.Add(time.Duration(i)*time.Second),
					&events.Completion{Persona: p, Question: q, SampleIndex: i, Text: text}))
			}
		}
	}
	return start, completions
}

func collect(a *Aggregator) *[]events.Event {
	var got []events.Event
	a.OnDecision = func(e events.Event) { got = append(got, e) }
	return &got
}

// Decisions come at the end of each round from min_n (round 2) until
// max_n, cover exactly the cells still sampled, carry Decide's verdict on
// the counts of complete rounds only, and stop deciding once every cell
// stopped.
func TestAggregatorStopDecisions(t *testing.T) {
	start, comps := adaptiveStream(t)
	a := New()
	got := collect(a)
	a.Apply(start)
	for _, c := range comps {
		a.Apply(c)
	}
	require.NotEmpty(t, *got)
	active := map[string]bool{"none": true, "all": true, "half": true}
	hits := map[string]func(round int) int{
		"none": func(int) int { return 0 },
		"all":  func(r int) int { return 2 * r },
		"half": func(r int) int { return 2 * (r / 2) },
	}
	for i, e := range *got {
		d := e.Payload.(*events.StopDecision)
		require.Equal(t, i+2, d.Round, "rounds 2, 3, … in order")
		require.Len(t, d.Cells, len(active), "round %d decides every cell still sampled", d.Round)
		for _, c := range d.Cells {
			require.True(t, active[c.Persona], "round %d: %s had stopped", d.Round, c.Persona)
			want, err := Decide(testRule, c.Persona, hits[c.Persona](d.Round), 2*d.Round)
			require.NoError(t, err)
			require.Equal(t, want, c)
			if c.Stop {
				delete(active, c.Persona)
			}
		}
		require.Equal(t, "r1", e.RunID)
	}
	last := (*got)[len(*got)-1].Payload.(*events.StopDecision)
	require.True(t, len(active) == 0 || last.Round == 5, "decisions end when every cell stopped or before max_n (round 6)")
	// the extreme cells stop first, on the half-width
	first := (*got)[0].Payload.(*events.StopDecision)
	require.Equal(t, 2, first.Round)
	stops := map[string]string{}
	for _, e := range *got {
		for _, c := range e.Payload.(*events.StopDecision).Cells {
			if c.Stop {
				stops[c.Persona] = c.Reason
			}
		}
	}
	require.Equal(t, events.StopHalfWidth, stops["none"])
	require.Equal(t, events.StopHalfWidth, stops["all"])
	s := a.Snapshot("s1")
	for _, c := range s.Cells {
		require.Equal(t, events.MethodBetaBinomial, c.Interval)
		require.Equal(t, stops[c.Persona], c.Stopped)
	}
}

// Progress of an adaptive sweep: a stopped cell expects what it has, so a
// sweep whose cells all stopped early reads 100 %, not n / max_n.
func TestAdaptiveProgressCountsStoppedCellsDone(t *testing.T) {
	start, comps := adaptiveStream(t)
	a := New()
	a.Apply(start)
	for _, c := range comps {
		if c.Payload.(*events.Completion).SampleIndex < 3 { // rounds 1–3 only
			a.Apply(c)
		}
	}
	s := a.Snapshot("s1")
	stopped, sum := 0, 0
	for _, c := range s.Cells {
		require.Equal(t, 6, c.N)
		if c.Stopped != "" {
			stopped++
			require.Equal(t, 6, c.Expected, "%s stopped at 6 of 12", c.Persona)
		} else {
			require.Equal(t, 12, c.Expected, c.Persona)
		}
		sum += c.Expected
	}
	// 0/6 and 6/6: sequence half-width 0.26 ≤ 0.3; 3/6: 0.43
	require.Equal(t, 2, stopped, "none and all stop at round 3, half samples on")
	require.Equal(t, sum, s.Expected)
	require.Equal(t, 6+6+12, s.Expected)
	require.Equal(t, 18, s.Done)
}

// Replayed in any order (a restarted aggregator, completions of several
// workers interleaved) the decisions are the same events, IDs included;
// decisions read back from the stream are not made again.
func TestAggregatorStopDecisionsDeterministic(t *testing.T) {
	start, comps := adaptiveStream(t)
	a := New()
	want := collect(a)
	a.Apply(start)
	for _, c := range comps {
		a.Apply(c)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		shuffled := append([]events.Event(nil), comps...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		b := New()
		got := collect(b)
		b.Apply(start)
		for _, c := range shuffled {
			b.Apply(c)
		}
		require.Equal(t, len(*want), len(*got))
		for i := range *want {
			require.Equal(t, (*want)[i].ID, (*got)[i].ID)
			require.Equal(t, (*want)[i].Payload, (*got)[i].Payload)
		}
	}
	// Decisions read back (its own echoed by the bus, another's, or a
	// forged one for a far round) change nothing: the same decisions
	// follow from the completions, under the same IDs.
	c := New()
	again := collect(c)
	c.Apply(start)
	forged := ev(t, "r1", time.Now(), &events.StopDecision{Round: 1000, Cells: []events.CellDecision{{Persona: "none", N: 1, CIHigh: 1, Stop: true, Reason: events.StopAbove}}})
	c.Apply(forged)
	for _, d := range *want {
		c.Apply(d)
	}
	for _, e := range comps {
		c.Apply(e)
	}
	require.Equal(t, len(*want), len(*again))
	for i := range *want {
		require.Equal(t, (*want)[i].ID, (*again)[i].ID)
	}
}

// With the rule's question set named, a completion of another question
// does not complete a round.
func TestAggregatorCountsOnlyTheRulesQuestions(t *testing.T) {
	start, comps := adaptiveStream(t)
	start.Payload.(*events.Run).Stopping.QuestionSet = []string{"q1", "q2"}
	a := New()
	got := collect(a)
	a.Apply(start)
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for _, c := range comps {
		if c.Payload.(*events.Completion).Question == "q1" {
			a.Apply(c)
			x := *c.Payload.(*events.Completion)
			x.Question = "qX"
			a.Apply(ev(t, "r1", t0, &x))
		}
	}
	require.Empty(t, *got, "q2 never sampled: no round is complete")
}

// A run without a rule gets no decisions; samples past max_n and unknown
// personas are ignored.
func TestAggregatorNoDecisionsWithoutRule(t *testing.T) {
	a := New()
	got := collect(a)
	_, comps := adaptiveStream(t)
	a.Apply(ev(t, "r1", time.Now(), &events.Run{Marker: "[ZLT]", Sweep: "s1", Plan: []events.PlannedCell{{Persona: "none", Expected: 12}}}))
	for _, c := range comps {
		a.Apply(c)
	}
	require.Empty(t, *got)
	require.Equal(t, "wilson", a.Snapshot("s1").Cells[0].Interval)
}
