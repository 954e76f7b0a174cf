package live

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"leakscope/events"
)

// adaptiveRun tracks an adaptive run's cells by question and sample index,
// so a round is complete exactly when every question of a cell has samples
// 0…round−1 — whatever order the completions arrive in, and the same after
// a restart that replays the stream. That makes every decision a function
// of the stored completions alone: a replayed aggregator publishes the same
// decision under the same event ID.
type adaptiveRun struct {
	rule     events.StoppingRule
	personas []string // the plan's, sorted: the cells sampled from round 1
	cells    map[string]*adaptiveCell
	decided  int // the last round decided
}

type adaptiveCell struct {
	samples map[string][]int8 // question → sample index → 0 unseen, 1 miss, 2 hit
	stopped string            // the stop reason, once decided
}

func newAdaptiveRun(rule events.StoppingRule, plan []events.PlannedCell) *adaptiveRun {
	ar := &adaptiveRun{rule: rule, cells: map[string]*adaptiveCell{}}
	for _, c := range plan {
		ar.personas = append(ar.personas, c.Persona)
		ar.cells[c.Persona] = &adaptiveCell{samples: map[string][]int8{}}
	}
	sort.Strings(ar.personas)
	return ar
}

// record notes one completion; indices beyond max_n, and questions
// outside the rule's question set (when it names one), are ignored: a
// round completes only with a sample of every eval question.
func (ar *adaptiveRun) record(c *events.Completion, hit bool) {
	cell := ar.cells[c.Persona]
	if cell == nil || c.SampleIndex < 0 || c.SampleIndex >= ar.rule.MaxN/ar.rule.Questions {
		return
	}
	if len(ar.rule.QuestionSet) > 0 && !slices.Contains(ar.rule.QuestionSet, c.Question) {
		return
	}
	s := cell.samples[c.Question]
	for len(s) <= c.SampleIndex {
		s = append(s, 0)
	}
	s[c.SampleIndex] = 1
	if hit {
		s[c.SampleIndex] = 2
	}
	cell.samples[c.Question] = s
}

// rounds is how many rounds of the cell are complete: the shortest run of
// seen samples from index 0 over its questions.
func (cell *adaptiveCell) rounds(questions int) int {
	if len(cell.samples) < questions {
		return 0
	}
	min := -1
	for _, s := range cell.samples {
		n := 0
		for n < len(s) && s[n] != 0 {
			n++
		}
		if min < 0 || n < min {
			min = n
		}
	}
	return min
}

func (cell *adaptiveCell) hits(round int) int {
	h := 0
	for _, s := range cell.samples {
		for i := 0; i < round && i < len(s); i++ {
			if s[i] == 2 {
				h++
			}
		}
	}
	return h
}

// decide returns the decisions of every round that became decidable: the
// next round at which a cell may stop (n ≥ min_n, below max_n), once every
// cell still sampled has completed it.
func (ar *adaptiveRun) decide() []*events.StopDecision {
	var out []*events.StopDecision
	q := ar.rule.Questions
	for {
		round := max(ar.decided+1, ar.rule.MinN/q)
		if round*q >= ar.rule.MaxN {
			return out // at max_n every cell stops undecided: the worker knows
		}
		d := &events.StopDecision{Round: round}
		for _, p := range ar.personas {
			cell := ar.cells[p]
			if cell.stopped != "" {
				continue
			}
			if cell.rounds(q) < round {
				return out
			}
			cd, err := Decide(ar.rule, p, cell.hits(round), round*q)
			if err != nil {
				return out // counts come from our own tracking; a bad rule was refused at validation
			}
			d.Cells = append(d.Cells, cd)
		}
		if len(d.Cells) == 0 {
			return out // every cell stopped
		}
		ar.apply(d)
		out = append(out, d)
	}
}

// apply marks the cells a decision of this aggregator stops.
func (ar *adaptiveRun) apply(d *events.StopDecision) {
	for _, c := range d.Cells {
		if cell := ar.cells[c.Persona]; cell != nil && c.Stop {
			cell.stopped = c.Reason
		}
	}
	ar.decided = d.Round
}

// OnDecision is called, outside the aggregator's lock and in stream order,
// with each stop decision the aggregator makes: the service publishes it
// (its ID is deterministic, so a decision made again after a restart is a
// duplicate the bus drops).
type OnDecision func(events.Event)

func decisionEvents(experiment, run string, at time.Time, ds []*events.StopDecision) []events.Event {
	var out []events.Event
	for _, d := range ds {
		if e, err := events.New(experiment, run, at, d); err == nil {
			out = append(out, e)
		}
	}
	return out
}

// PublishDecisions returns an OnDecision that publishes each decision with
// publish, retrying while the bus is away (the decision's ID is
// deterministic, so a repeat is a duplicate) until ctx ends; failures are
// logged to log, never fatal: a worker that sees no decision samples on.
func PublishDecisions(ctx context.Context, publish func(context.Context, events.Event) error, log io.Writer) OnDecision {
	return func(e events.Event) {
		wait := 100 * time.Millisecond
		// About 30 s of retries: a bus that refuses for longer (a user
		// without permission to publish decisions) must not freeze the
		// aggregator, whose subscription waits on this call.
		for try := 1; ; try++ {
			err := publish(ctx, e)
			if err == nil {
				return
			}
			if try == 8 {
				fmt.Fprintf(log, "live: publish stop decision of run %s failed %d times, giving up (workers sample on): %v\n", e.RunID, try, err)
				return
			}
			fmt.Fprintf(log, "live: publish stop decision of run %s: %v (retrying)\n", e.RunID, err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 10*time.Second)
		}
	}
}
