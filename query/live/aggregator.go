// Package live keeps per-cell marker counts of the sweeps in progress from
// the bus (not the lake), and serves them as a page with Server-Sent
// Events and as JSON. A restarted aggregator rebuilds its state by reading
// the event stream from the start; completions are counted once per event
// ID, so a re-published run is not double-counted.
package live

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"leakscope/events"
	"leakscope/events/marker"
	"leakscope/query/stats"
)

// Subscriber delivers the event stream from its start (events/bus.Bus).
type Subscriber interface {
	Subscribe(ctx context.Context, fn func(e events.Event, seq uint64)) error
}

// StallFactor: a worker is stalled when its last heartbeat is older than
// this many heartbeat intervals (the warning must show within 2).
const StallFactor = 1.5

type runKey struct{ experiment, run string }

// runState is one run of a sweep: planned (run_planned, at submission)
// until its run_started arrives.
type runState struct {
	experiment, id, source, marker, sweep string
	seed                                  *int64
	factors                               events.Factors
	plan                                  []events.PlannedCell // in the producer's order
	expected                              map[string]int
	started                               bool
	finished                              string // "", "finished" or "failed"
	done                                  int
	adaptive                              *adaptiveRun // nil for fixed n
}

// setPlan replaces the run's plan.
func (r *runState) setPlan(plan []events.PlannedCell) {
	r.plan = plan
	r.expected = make(map[string]int, len(plan))
	for _, c := range plan {
		r.expected[c.Persona] = c.Expected
	}
}

// markState is a run's retraction from its run_mark events: the newest
// retract or restore (by the mark's time) decides. Kept by run key, so a
// mark read before its run_started still applies.
type markState struct {
	retracted bool
	reason    string
	at        time.Time
}

type cellState struct {
	n, hits int
}

type workerState struct {
	run        runKey
	lastBeat   time.Time // the beat's event time
	intervalMS int
	status     string
	done       int
}

type sweepState struct {
	runs    []*runState
	cells   map[runKey]map[string]*cellState
	workers map[string]*workerState
	arrived []time.Time // completion arrival times, for the recent rate
	version int64
}

// Aggregator is the live state of every sweep. Safe for concurrent use.
type Aggregator struct {
	mu     sync.Mutex
	runs   map[runKey]*runState
	sweeps map[string]*sweepState
	seen   map[string]struct{}
	marks  map[runKey]markState
	// sweepless are the experiments with a run_started that names no
	// sweep (runs logged by the Python client): /live/E says so.
	sweepless map[string]bool
	changed   chan struct{}
	now       func() time.Time
	seq       uint64 // stream sequence of the last event applied
	// OnDecision (may be nil) receives each stop decision of adaptive runs
	// (issue 11). Set it before Run.
	OnDecision OnDecision
}

// New returns an empty aggregator.
func New() *Aggregator {
	return &Aggregator{runs: map[runKey]*runState{}, sweeps: map[string]*sweepState{}, seen: map[string]struct{}{},
		marks: map[runKey]markState{}, sweepless: map[string]bool{}, changed: make(chan struct{}), now: time.Now}
}

// Run feeds the aggregator from the subscriber until ctx ends.
func (a *Aggregator) Run(ctx context.Context, sub Subscriber) error {
	return sub.Subscribe(ctx, func(e events.Event, seq uint64) {
		a.Apply(e)
		a.mu.Lock()
		a.seq = max(a.seq, seq)
		a.mu.Unlock()
	})
}

// Seq is the stream sequence of the last event applied: a caller that knows
// the stream's last sequence can wait until the state has caught up.
func (a *Aggregator) Seq() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq
}

func (a *Aggregator) sweep(name string) *sweepState {
	s := a.sweeps[name]
	if s == nil {
		s = &sweepState{cells: map[runKey]map[string]*cellState{}, workers: map[string]*workerState{}}
		a.sweeps[name] = s
	}
	return s
}

// Apply folds one event into the state. Events of runs that belong to no
// sweep are ignored, as are repeated event IDs.
func (a *Aggregator) Apply(e events.Event) {
	decided := a.apply(e)
	if a.OnDecision != nil {
		for _, d := range decided {
			a.OnDecision(d)
		}
	}
}

// apply folds e in under the lock and returns the stop decisions it made.
func (a *Aggregator) apply(e events.Event) (decided []events.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := runKey{e.Experiment, e.RunID}
	// Times are the events' own (the worker's clock), so a rebuilt state
	// shows the same rate and heartbeat ages as one that watched live.
	at := e.Time
	switch p := e.Payload.(type) {
	case *events.RunPlanned:
		if a.runs[k] != nil {
			return // planned or started already: a run_started's plan wins
		}
		r := &runState{experiment: e.Experiment, id: e.RunID, source: p.SourcePersona, sweep: p.Sweep, seed: p.Seed, factors: p.Factors}
		r.setPlan(p.Plan)
		a.runs[k] = r
		s := a.sweep(p.Sweep)
		s.runs = append(s.runs, r)
		s.version++
	case *events.Run:
		r := a.runs[k]
		if p.Sweep == "" {
			a.sweepless[e.Experiment] = true
		}
		if p.Sweep == "" || (r != nil && r.started) {
			return // a repeated run_started is ignored
		}
		if r != nil && r.sweep != p.Sweep { // planned under another sweep: the run's own word wins
			old := a.sweep(r.sweep)
			old.runs = slices.DeleteFunc(old.runs, func(o *runState) bool { return o == r })
			old.version++
			r = nil
		}
		if r == nil {
			r = &runState{experiment: e.Experiment, id: e.RunID, sweep: p.Sweep}
			a.runs[k] = r
			s := a.sweep(p.Sweep)
			s.runs = append(s.runs, r)
		}
		r.started, r.source, r.marker, r.seed = true, p.SourcePersona, p.Marker, p.Seed
		if len(p.Factors) > 0 {
			r.factors = p.Factors
		}
		if len(p.Plan) > 0 || r.plan == nil {
			r.setPlan(p.Plan)
		}
		if p.Stopping != nil {
			r.adaptive = newAdaptiveRun(*p.Stopping, r.plan)
		}
		a.sweep(p.Sweep).version++
	case *events.Completion:
		r := a.runs[k]
		if r == nil || !r.started {
			return // its marker is not known yet (workers publish run_started first)
		}
		// Only completions need their IDs remembered (the other events are
		// idempotent), and only those of sweeps: memory grows with sweeps.
		if _, dup := a.seen[e.ID]; dup {
			return
		}
		a.seen[e.ID] = struct{}{}
		s := a.sweep(r.sweep)
		cells := s.cells[k]
		if cells == nil {
			cells = map[string]*cellState{}
			s.cells[k] = cells
		}
		c := cells[p.Persona]
		if c == nil {
			c = &cellState{}
			cells[p.Persona] = c
		}
		c.n++
		d, _ := marker.Get(marker.Strict)
		hit := d.Hit(r.marker, p.Text)
		if hit {
			c.hits++
		}
		if r.adaptive != nil {
			r.adaptive.record(p, hit)
			decided = decisionEvents(e.Experiment, e.RunID, at, r.adaptive.decide())
		}
		r.done++
		s.arrived = append(s.arrived, at)
		s.version++
	case *events.Heartbeat:
		r := a.runs[k]
		if r == nil {
			return
		}
		s := a.sweep(r.sweep)
		if w := s.workers[p.Worker]; w != nil && w.lastBeat.After(at) {
			return // an older beat arriving late
		}
		s.workers[p.Worker] = &workerState{run: k, lastBeat: at, intervalMS: p.IntervalMS, status: p.Status, done: p.Done}
		s.version++
	case *events.RunFinished:
		if r := a.runs[k]; r != nil {
			r.finished = p.Status
			a.sweep(r.sweep).version++
		}
	case *events.RunMark:
		if p.Action != events.MarkRetract && p.Action != events.MarkRestore {
			return // tags change nothing live
		}
		if m, ok := a.marks[k]; ok && m.at.After(p.At) {
			return // an older decision arriving late
		}
		a.marks[k] = markState{retracted: p.Action == events.MarkRetract, reason: p.Reason, at: p.At}
		if r := a.runs[k]; r != nil {
			a.sweep(r.sweep).version++
		}
	default:
		// stop_decision events read back (this aggregator's own, or
		// another's) change nothing: decisions are recomputed from the
		// completions, so a forged or stale one cannot silence a run, and
		// a repeat carries the same ID (the bus and ingest drop it).
		return
	}
	close(a.changed)
	a.changed = make(chan struct{})
	return decided
}

// cellExpected is the completions a cell will end with: the plan's, or
// for a cell an adaptive run stopped, what it has (its progress is done).
func (r *runState) cellExpected(persona string, planned int, cs *cellState) int {
	if r.adaptive == nil || cs == nil {
		return planned
	}
	if c := r.adaptive.cells[persona]; c != nil && c.stopped != "" {
		return cs.n
	}
	return planned
}

// Changed returns a channel closed at the next change of any sweep.
func (a *Aggregator) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// Cell states: what the live heatmap draws for a planned (run, bystander)
// pair. A pair no run plans has no Cell: the page shows it "not planned".
const (
	CellPending   = "pending"   // planned, no completion yet
	CellPartial   = "partial"   // planned, some of its completions arrived
	CellDone      = "done"      // every planned completion arrived (or an adaptive run stopped it)
	CellUnplanned = "unplanned" // completions arrived for a bystander the run's plan lacks
)

// Cell is one (run, bystander) cell as the live view shows it; the rate is
// a fraction in [0, 1], the CI a 95 % Wilson interval (z = 1.96) on hits/n.
// Rate and CI are absent (null) while n is 0: undefined, not 0.
type Cell struct {
	Experiment string   `json:"experiment"`
	RunID      string   `json:"run_id"`
	Source     string   `json:"source"`
	Persona    string   `json:"persona"`
	State      string   `json:"state"`
	N          int      `json:"n"`
	Expected   int      `json:"expected"`
	Hits       int      `json:"hits"`
	Rate       *float64 `json:"rate"`
	CILow      *float64 `json:"ci_low"`
	CIHigh     *float64 `json:"ci_high"`
	// Interval is "wilson", or for an adaptive run's cell the anytime-valid
	// sequence (events.MethodBetaBinomial) its stop decisions use.
	Interval string `json:"interval"`
	// Stopped is an adaptive cell's stop reason once decided.
	Stopped string `json:"stopped,omitempty"`
}

// Run is one run's progress.
type Run struct {
	Experiment string         `json:"experiment"`
	RunID      string         `json:"run_id"`
	Source     string         `json:"source"`
	Seed       *int64         `json:"seed,omitempty"`
	Factors    events.Factors `json:"factors,omitempty"`
	Marker     string         `json:"marker"`
	Done       int            `json:"done"`
	Expected   int            `json:"expected"`
	// Status is planned (declared at submission, not started), running,
	// finished or failed.
	Status string `json:"status"`
	// Adaptive runs stop cells early (issue 11): Stopped counts the cells
	// their stop decisions ended so far.
	Adaptive bool `json:"adaptive,omitempty"`
	Stopped  int  `json:"stopped,omitempty"`
	// Retracted runs are listed with the reason; their cells are hidden
	// and they count in no total (a restore brings them back).
	Retracted     bool   `json:"retracted,omitempty"`
	RetractReason string `json:"retract_reason,omitempty"`
}

// Worker is one worker's liveness.
type Worker struct {
	Worker       string  `json:"worker"`
	RunID        string  `json:"run_id"`
	LastBeatAgoS float64 `json:"last_beat_ago_s"`
	IntervalMS   int     `json:"interval_ms"`
	Status       string  `json:"status"`
	Done         int     `json:"done"` // completions the worker reported in its last beat
	Stalled      bool    `json:"stalled"`
}

// Snapshot is a sweep's state at one moment. Done, Expected, the rate and
// the ETA count every planned run, started or not.
type Snapshot struct {
	Sweep      string    `json:"sweep"`
	Known      bool      `json:"known"`
	Version    int64     `json:"version"`
	Time       time.Time `json:"time"`
	Done       int       `json:"done"`
	Expected   int       `json:"expected"`
	PerSecond  float64   `json:"completions_per_s"` // over the last 10 s
	ETASeconds *float64  `json:"eta_s"`             // nil when unknown or finished
	Finished   bool      `json:"finished"`
	// RunsStarted of RunsPlanned (retracted runs left out).
	RunsPlanned int      `json:"runs_planned"`
	RunsStarted int      `json:"runs_started"`
	Runs        []Run    `json:"runs"`
	Cells       []Cell   `json:"cells"`
	Workers     []Worker `json:"workers"`
	// Bystanders are the heatmap's columns in order, grouped by GroupBy:
	// the bystander factors from the plans, outermost first.
	Bystanders []Bystander `json:"bystanders"`
	GroupBy    []string    `json:"group_by"`
	// Notes name what the view leaves out (retracted runs).
	Notes []string `json:"notes"`
}

// Snapshot returns the sweep's current state.
func (a *Aggregator) Snapshot(sweep string) Snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	snap := Snapshot{Sweep: sweep, Time: now, Runs: []Run{}, Cells: []Cell{}, Workers: []Worker{}, Bystanders: []Bystander{}, GroupBy: []string{}, Notes: []string{}}
	s := a.sweeps[sweep]
	if s == nil {
		return snap
	}
	snap.Known, snap.Version, snap.Finished = true, s.version, len(s.runs) > 0
	runs := append([]*runState(nil), s.runs...)
	sort.SliceStable(runs, func(i, j int) bool { return runLess(runs[i], runs[j]) })
	var plans [][]events.PlannedCell
	var extra []string
	for _, r := range runs {
		k := runKey{r.experiment, r.id}
		exp := 0
		for p, n := range r.expected {
			exp += r.cellExpected(p, n, s.cells[k][p])
		}
		status := "planned"
		switch {
		case r.finished != "":
			status = r.finished
		case r.started:
			status = "running"
		}
		run := Run{Experiment: r.experiment, RunID: r.id, Source: r.source, Seed: r.seed, Factors: r.factors, Marker: r.marker,
			Done: r.done, Expected: exp, Status: status, Adaptive: r.adaptive != nil}
		if r.adaptive != nil {
			for _, c := range r.adaptive.cells {
				if c.stopped != "" {
					run.Stopped++
				}
			}
		}
		if m := a.marks[k]; m.retracted {
			run.Retracted, run.RetractReason = true, m.reason
			snap.Runs = append(snap.Runs, run)
			snap.Notes = append(snap.Notes, fmt.Sprintf("run %s is retracted (%s): its cells are hidden; `leakscope runs restore %s --experiment %s` brings them back", r.id, m.reason, r.id, r.experiment))
			continue
		}
		if r.finished == "" {
			snap.Finished = false
		}
		snap.RunsPlanned++
		if r.started {
			snap.RunsStarted++
		}
		snap.Runs = append(snap.Runs, run)
		snap.Done += r.done
		snap.Expected += exp
		plans = append(plans, r.plan)
		personas := map[string]bool{}
		for p := range r.expected {
			personas[p] = true
		}
		for p := range s.cells[k] {
			if !personas[p] {
				extra = append(extra, p)
			}
			personas[p] = true
		}
		for p := range personas {
			snap.Cells = append(snap.Cells, r.cell(p, s.cells[k][p]))
		}
	}
	snap.Bystanders, snap.GroupBy = layout(plans, extra)
	sort.Slice(snap.Cells, func(i, j int) bool {
		a, b := snap.Cells[i], snap.Cells[j]
		if a.RunID != b.RunID {
			return a.RunID < b.RunID
		}
		return a.Persona < b.Persona
	})
	// Recent rate: completions whose event time is in the last 10 s.
	cut := now.Add(-10 * time.Second)
	sort.Slice(s.arrived, func(i, j int) bool { return s.arrived[i].Before(s.arrived[j]) })
	i := sort.Search(len(s.arrived), func(i int) bool { return !s.arrived[i].Before(cut) })
	s.arrived = s.arrived[i:]
	if n := len(s.arrived); n > 1 {
		if span := now.Sub(s.arrived[0]).Seconds(); span > 0 {
			snap.PerSecond = float64(n) / math.Max(span, 1)
		}
	}
	if left := snap.Expected - snap.Done; left > 0 && snap.PerSecond > 0 && !snap.Finished {
		eta := float64(left) / snap.PerSecond
		snap.ETASeconds = &eta
	}
	names := make([]string, 0, len(s.workers))
	for w := range s.workers {
		names = append(names, w)
	}
	sort.Strings(names)
	for _, w := range names {
		ws := s.workers[w]
		ago := now.Sub(ws.lastBeat).Seconds()
		snap.Workers = append(snap.Workers, Worker{Worker: w, RunID: ws.run.run, LastBeatAgoS: ago, IntervalMS: ws.intervalMS, Status: ws.status, Done: ws.done,
			Stalled: ws.status != "finished" && ago*1000 > StallFactor*float64(ws.intervalMS)})
	}
	return snap
}

// cell is the run's cell of persona p (cs nil: nothing arrived yet).
func (r *runState) cell(p string, cs *cellState) Cell {
	planned, isPlanned := r.expected[p]
	c := Cell{Experiment: r.experiment, RunID: r.id, Source: r.source, Persona: p, Expected: r.cellExpected(p, planned, cs), Interval: "wilson"}
	if ar := r.adaptive; ar != nil {
		c.Interval = events.MethodBetaBinomial
		if ar.cells[p] != nil {
			c.Stopped = ar.cells[p].stopped
		}
	}
	if cs != nil && cs.n > 0 {
		c.N, c.Hits = cs.n, cs.hits
		rate := float64(cs.hits) / float64(cs.n)
		lo, hi, _ := stats.Wilson(cs.hits, cs.n, stats.Z95)
		if ar := r.adaptive; ar != nil {
			lo, hi, _ = stats.BetaBinomialCS(cs.hits, cs.n, ar.rule.Alpha, ar.rule.PriorA, ar.rule.PriorB)
		}
		c.Rate, c.CILow, c.CIHigh = &rate, &lo, &hi
	}
	switch {
	case !isPlanned:
		c.State = CellUnplanned
	case c.N == 0:
		c.State = CellPending
	case c.Stopped != "" || c.N >= c.Expected:
		c.State = CellDone
	default:
		c.State = CellPartial
	}
	return c
}

// runLess orders a sweep's runs: the base model's (no source) first, then
// by source, seed and run ID.
func runLess(a, b *runState) bool {
	if a.source != b.source {
		return a.source < b.source
	}
	as, bs := int64(math.MinInt64), int64(math.MinInt64)
	if a.seed != nil {
		as = *a.seed
	}
	if b.seed != nil {
		bs = *b.seed
	}
	if as != bs {
		return as < bs
	}
	return a.id < b.id
}

// Sweeps lists the sweeps seen, sorted.
func (a *Aggregator) Sweeps() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.sweeps))
	for s := range a.sweeps {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Resolve finds the sweeps a name given in a URL or on the command line
// means: the sweep of exactly that name when one was seen, else every
// sweep whose name starts with it (sorted; none when nothing matches yet).
func (a *Aggregator) Resolve(name string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.sweeps[name]; ok {
		return []string{name}
	}
	var out []string
	for s := range a.sweeps {
		if strings.HasPrefix(s, name) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// Sweepless reports whether experiment has runs logged without a sweep
// name (they have no live page; the experiment's page shows them).
func (a *Aggregator) Sweepless(experiment string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sweepless[experiment]
}

// SweepSummary is one line of the list of sweeps.
type SweepSummary struct {
	Sweep       string `json:"sweep"`
	RunsPlanned int    `json:"runs_planned"`
	RunsStarted int    `json:"runs_started"`
	Done        int    `json:"done"`
	Expected    int    `json:"expected"`
	Finished    bool   `json:"finished"`
}

// Summaries lists the sweeps seen (sorted by name) with their progress.
func (a *Aggregator) Summaries(names []string) []SweepSummary {
	out := make([]SweepSummary, 0, len(names))
	for _, n := range names {
		s := a.Snapshot(n)
		if !s.Known {
			continue
		}
		out = append(out, SweepSummary{Sweep: n, RunsPlanned: s.RunsPlanned, RunsStarted: s.RunsStarted, Done: s.Done, Expected: s.Expected, Finished: s.Finished})
	}
	return out
}
