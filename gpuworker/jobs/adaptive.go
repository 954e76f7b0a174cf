package jobs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/sweep"
)

// decisionWatch follows the live aggregator's stop decisions for one
// adaptive run (issue 11), from the stream's start, so a resumed worker
// knows the rounds already decided.
type decisionWatch struct {
	mu      sync.Mutex
	rounds  map[int]*events.StopDecision
	changed chan struct{}
	stop    context.CancelFunc
	done    chan struct{}
}

// A decision is taken only when it is consistent with the rule: every
// cell at n = round × questions, no more hits than n. (Who may publish
// decisions at all is the bus's business: deploy/nats.conf lets only the
// query service's user publish them.)
func consistent(d *events.StopDecision, questions int) bool {
	for _, c := range d.Cells {
		if c.N != d.Round*questions || c.Hits > c.N {
			return false
		}
	}
	return true
}

func watchDecisions(ctx context.Context, b *bus.Bus, experiment, runID string, questions int, logf func(string, ...any)) *decisionWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &decisionWatch{rounds: map[int]*events.StopDecision{}, changed: make(chan struct{}), stop: cancel, done: make(chan struct{})}
	subject := fmt.Sprintf("%s.%s.%s", events.SubjectPrefix, experiment, events.TypeStopDecision)
	go func() {
		defer close(w.done)
		_ = b.SubscribeSubject(ctx, subject, func(e events.Event, _ uint64) {
			d, ok := e.Payload.(*events.StopDecision)
			if !ok || e.RunID != runID {
				return
			}
			if !consistent(d, questions) {
				logf("run %s: stop decision %s for round %d ignored: its counts are not %d per cell", runID, e.ID, d.Round, d.Round*questions)
				return
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.rounds[d.Round] == nil {
				w.rounds[d.Round] = d
				close(w.changed)
				w.changed = make(chan struct{})
			}
		})
	}()
	return w
}

func (w *decisionWatch) close() { w.stop(); <-w.done }

// upTo returns the decisions received for rounds ≤ round, in round order:
// one that arrived after its wait timed out still stops its cells.
func (w *decisionWatch) upTo(round int) []*events.StopDecision {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*events.StopDecision
	for r := 1; r <= round; r++ {
		if d := w.rounds[r]; d != nil {
			out = append(out, d)
		}
	}
	return out
}

// wait returns the decision of round (rounds complete), or nil when none
// came within timeout: sampling then goes on with every cell — a late
// decision costs GPU time, never data.
func (w *decisionWatch) wait(ctx context.Context, round int, timeout time.Duration) (*events.StopDecision, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		d, changed := w.rounds[round], w.changed
		w.mu.Unlock()
		if d != nil {
			return d, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// sampleRounds is the eval of an adaptive run: round r samples index r of
// every question for the cells still active — so each question of a cell
// is equally sampled whenever it stops — and before round r (once r
// rounds reach min_n) waits for the aggregator's decision on the r rounds
// done. sample runs one round and returns when its completions are
// acknowledged by the bus. Completions an earlier attempt stored are not
// sampled again; its decisions are read back. It returns each cell's
// final n and reason, and how many completions it asked the engine for.
func (w *Worker) sampleRounds(ctx context.Context, m Message, rule events.StoppingRule, personas []sweep.Persona,
	stored map[string]bool, idOf func(p, q string, i int) string,
	promptsFor func(from, to int, active map[string]bool) ([]engine.Prompt, int), sample func([]engine.Prompt) error) ([]events.CellOutcome, int, error) {
	s, j := m.Spec, m.Job
	q := rule.Questions
	watch := watchDecisions(ctx, w.Queue.B, s.Experiment, j.RunID, q, w.logf)
	defer watch.close()
	active, reason := map[string]bool{}, map[string]string{}
	for _, p := range personas {
		active[p.Key] = true
	}
	asked, rounds := 0, rule.MaxN/q
	// Waiting costs GPU time: after a wait that timed out, the next waits
	// are short (2 s) — or none at all when no decision ever came (no live
	// aggregator follows this bus); a decision that arrives still counts.
	timeout, decided := w.DecisionTimeout, false
	for r := 0; r < rounds && len(active) > 0; r++ {
		if r*q >= rule.MinN {
			d, err := watch.wait(ctx, r, timeout)
			if err != nil {
				return nil, asked, err
			}
			stopped := 0
			for _, d := range watch.upTo(r) {
				decided = true
				for _, c := range d.Cells {
					if c.Stop && active[c.Persona] {
						delete(active, c.Persona)
						reason[c.Persona] = c.Reason
						stopped++
					}
				}
			}
			switch {
			case d != nil:
				timeout = w.DecisionTimeout
				w.logf("%s: round %d decided: %d cells stop, %d sampled on", j.ID, r, stopped, len(active))
			case timeout > 0:
				next := min(timeout, 2*time.Second)
				if !decided {
					next = 0
				}
				w.logf("%s: no stop decision for round %d within %s (is the live aggregator running?): %d cells stop on earlier decisions, sampling the %d active; next waits %s",
					j.ID, r, timeout, stopped, len(active), next)
				timeout = next
			}
			if len(active) == 0 {
				break
			}
		}
		prompts, missing := promptsFor(r, r+1, active)
		asked += missing
		if err := sample(prompts); err != nil {
			return nil, asked, err
		}
		for _, p := range prompts {
			for _, i := range p.SampleIndices {
				stored[idOf(p.Key, p.User, i)] = true
			}
		}
	}
	var out []events.CellOutcome
	for _, p := range personas {
		n := 0
		for _, qu := range s.EvalQuestions {
			for i := 0; i < rounds; i++ {
				if stored[idOf(p.Key, qu, i)] {
					n++
				}
			}
		}
		why := reason[p.Key]
		switch {
		case why != "":
		case decided:
			why = events.StopMaxN
		default:
			why = events.StopNoDecision
		}
		out = append(out, events.CellOutcome{Persona: p.Key, N: n, Reason: why})
	}
	return out, asked, nil
}
