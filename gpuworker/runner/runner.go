// Package runner is the publishing path every worker engine shares (the
// replay engine, and the GPU engine to come): it announces a run with its
// plan, publishes completions with the marker hits of every detector,
// beats a heartbeat while the run is in progress, and closes the run with
// run_finished.
package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/events/marker"
)

// Publisher sends one event and returns its stream sequence.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) (uint64, error)
}

// BusPublisher publishes on the bus; with Discard it publishes nothing
// (to measure what publishing costs).
type BusPublisher struct {
	Bus     *bus.Bus
	Discard bool
}

// Publish sends e and returns its stream sequence (0 when discarding).
func (p BusPublisher) Publish(ctx context.Context, e events.Event) (uint64, error) {
	if p.Discard {
		return 0, nil
	}
	ack, err := p.Bus.Publish(ctx, e)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// BatchPublisher sends events together, waiting for every acknowledgement,
// and returns the highest stream sequence among them.
type BatchPublisher interface {
	PublishBatch(ctx context.Context, evs []events.Event) (uint64, error)
}

// PublishBatch sends evs asynchronously with bus.PublishAll (nothing when
// discarding).
func (p BusPublisher) PublishBatch(ctx context.Context, evs []events.Event) (uint64, error) {
	if p.Discard {
		return 0, nil
	}
	res, err := p.Bus.PublishAll(ctx, evs, nil)
	return res.LastSeq, err
}

// Config names the run and the worker.
type Config struct {
	Experiment, RunID string
	// Worker identifies the process; keep it across restarts of the same run.
	Worker string
	// Heartbeat is the interval of worker_heartbeat events (0: 1 s).
	Heartbeat time.Duration
	// MaxOutage is how long a publish keeps retrying while the bus is
	// unreachable (0: 10 minutes); the event IDs make a retried publish safe.
	MaxOutage time.Duration
	Now       func() time.Time
	// AlreadyDone counts completions an earlier attempt at the run stored:
	// heartbeats and run_finished count them too.
	AlreadyDone int
}

// Runner publishes one run. Completion is safe for concurrent use (a GPU
// worker publishes from several goroutines to keep up with sampling).
type Runner struct {
	cfg    Config
	pub    Publisher
	marker string
	mu     sync.Mutex
	done   int
	last   uint64
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Start publishes run_started (run carries marker, sweep and plan) and
// starts the heartbeat.
func Start(ctx context.Context, cfg Config, pub Publisher, run *events.Run) (*Runner, error) {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxOutage <= 0 {
		cfg.MaxOutage = 10 * time.Minute
	}
	if cfg.Worker == "" {
		return nil, errors.New("runner: worker name is empty")
	}
	r := &Runner{cfg: cfg, pub: pub, marker: run.Marker, stop: make(chan struct{}), done: cfg.AlreadyDone}
	if err := r.publish(ctx, run); err != nil {
		return nil, err
	}
	if err := r.beat(ctx, "running"); err != nil {
		return nil, err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_ = r.beat(ctx, "running")
			}
		}
	}()
	return r, nil
}

func (r *Runner) publish(ctx context.Context, p events.Payload) error {
	e, err := events.New(r.cfg.Experiment, r.cfg.RunID, r.cfg.Now(), p)
	if err != nil {
		return err
	}
	return r.retry(ctx, string(e.Type), func() (uint64, error) { return r.pub.Publish(ctx, e) })
}

// retry calls send until it succeeds, ctx ends, the bus has been away
// for MaxOutage or the server refuses the message as too large, and records the sequence it returns. While the server is
// away (restart, network) the client reconnects by itself, and a repeated
// event is a duplicate the server and ingest drop.
func (r *Runner) retry(ctx context.Context, what string, send func() (uint64, error)) error {
	wait, deadline := 100*time.Millisecond, time.Now().Add(r.cfg.MaxOutage)
	for {
		seq, err := send()
		if err == nil {
			r.mu.Lock()
			r.last = max(r.last, seq)
			r.mu.Unlock()
			return nil
		}
		if bus.TooLarge(err) { // no retry can make it fit
			return fmt.Errorf("publish %s: larger than the bus's max payload: %w", what, err)
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("publish %s (bus unreachable for %s): %w", what, r.cfg.MaxOutage, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// beat publishes a heartbeat; its number is the emission time in ms, so
// beats stay distinct when a worker restarts the same run.
func (r *Runner) beat(ctx context.Context, status string) error {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	return r.publish(ctx, &events.Heartbeat{Worker: r.cfg.Worker, Beat: int(r.cfg.Now().UnixMilli()),
		IntervalMS: int(r.cfg.Heartbeat / time.Millisecond), Done: done, Status: status})
}

// Completion detects the run's marker with every detector and publishes
// the completion.
func (r *Runner) Completion(ctx context.Context, c events.Completion) error {
	r.detect(&c)
	if err := r.publish(ctx, &c); err != nil {
		return fmt.Errorf("publish completion %s/%s #%d: %w", c.Persona, c.Question, c.SampleIndex, err)
	}
	r.mu.Lock()
	r.done++
	r.mu.Unlock()
	return nil
}

// detect sets c's marker hits to those of every detector for the run's marker.
func (r *Runner) detect(c *events.Completion) {
	c.MarkerHits = nil
	for _, name := range marker.Names() {
		d, _ := marker.Get(name)
		c.MarkerHits = append(c.MarkerHits, d.Detect(r.marker, c.Text)...)
	}
}

// Completions is Completion for a batch: every completion is validated and
// built first (nothing is published when one is bad; the error names its
// index), then the batch is published together with acknowledgements
// (the Publisher must be a BatchPublisher) and retried as a whole while
// the bus is away — the event IDs make the repeats duplicates.
func (r *Runner) Completions(ctx context.Context, cs []events.Completion) error {
	bp, ok := r.pub.(BatchPublisher)
	if !ok {
		return errors.New("runner: the publisher cannot publish batches")
	}
	evs := make([]events.Event, 0, len(cs))
	for i := range cs {
		c := cs[i]
		r.detect(&c)
		e, err := events.New(r.cfg.Experiment, r.cfg.RunID, r.cfg.Now(), &c)
		if err != nil {
			return fmt.Errorf("completion [%d] %s/%q #%d: %w", i, c.Persona, c.Question, c.SampleIndex, err)
		}
		evs = append(evs, e)
	}
	if err := r.retry(ctx, fmt.Sprintf("%d completions", len(evs)), func() (uint64, error) { return bp.PublishBatch(ctx, evs) }); err != nil {
		return err
	}
	r.mu.Lock()
	r.done += len(evs)
	r.mu.Unlock()
	return nil
}

// Finish stops the heartbeat and publishes run_finished: finished, or
// failed with runErr's message.
// An adaptive run passes each cell's final n and stop reason (cells).
func (r *Runner) Finish(ctx context.Context, runErr error, cells ...events.CellOutcome) error {
	close(r.stop)
	r.wg.Wait()
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	fin := &events.RunFinished{Status: "finished", Completions: done, Cells: cells}
	if runErr != nil {
		fin.Status, fin.Error = "failed", runErr.Error()
	}
	if err := r.beat(ctx, "finished"); err != nil {
		return err
	}
	return r.publish(ctx, fin)
}

// LastSeq is the highest stream sequence this runner published.
func (r *Runner) LastSeq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}
