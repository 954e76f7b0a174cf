package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"leakscope/events"
	"leakscope/gpuworker/engine"
)

// Worker takes jobs from the queue and runs them on an engine.
type Worker struct {
	Queue *Queue
	// NewEngine starts an engine; the worker starts one lazily and again
	// after a job whose failure may have left it broken.
	NewEngine func(ctx context.Context) (engine.Engine, engine.Info, error)
	// Name identifies the worker in job states, job_status events and heartbeats.
	Name string
	// WorkDir holds downloaded adapters and training outputs.
	WorkDir string
	// AckWait is how long the queue waits for a sign of life before it
	// gives the job to another worker (default 60 s); the worker signals
	// progress every AckWait/3.
	AckWait time.Duration
	// Heartbeat is the interval of worker_heartbeat events during eval (default 5 s).
	Heartbeat time.Duration
	// MaxAttempts bounds the tries of a job that keeps failing (default 3).
	MaxAttempts int
	// Publishers is how many goroutines publish completions (default 8):
	// sampling never waits for the bus.
	Publishers int
	// NoPublish samples and detects markers but publishes no completion
	// (to measure the publishing overhead).
	NoPublish bool
	Log       io.Writer

	eng  engine.Engine
	info engine.Info
}

// ErrIdle is returned by Run with untilIdle when the queue is empty.
var ErrIdle = errors.New("job queue is empty")

func (w *Worker) defaults() {
	if w.AckWait <= 0 {
		w.AckWait = time.Minute
	}
	if w.Heartbeat <= 0 {
		w.Heartbeat = 5 * time.Second
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = 3
	}
	if w.Publishers <= 0 {
		w.Publishers = 8
	}
	if w.Log == nil {
		w.Log = io.Discard
	}
}

func (w *Worker) logf(format string, a ...any) {
	fmt.Fprintf(w.Log, "%s %s: %s\n", time.Now().UTC().Format("15:04:05"), w.Name, fmt.Sprintf(format, a...))
}

// Run takes jobs until ctx ends, or, with untilIdle, until no job is
// left on the queue (then it returns nil).
func (w *Worker) Run(ctx context.Context, untilIdle bool) error {
	w.defaults()
	defer func() {
		if w.eng != nil {
			_ = w.eng.Close()
		}
	}()
	cons, err := w.Queue.B.JS.CreateOrUpdateConsumer(ctx, Stream, jetstream.ConsumerConfig{Durable: Consumer,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: w.AckWait, MaxDeliver: -1, MaxAckPending: 1000,
		Description: "GPU workers share this consumer; each job goes to one of them"})
	if err != nil {
		return fmt.Errorf("job consumer: %w", err)
	}
	for ctx.Err() == nil {
		msg, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			if untilIdle {
				n, err := w.Queue.Pending(ctx)
				if err == nil && n == 0 {
					return nil
				}
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.logf("fetch: %v (retrying)", err)
			time.Sleep(time.Second)
			continue
		}
		w.handle(ctx, msg)
	}
	return ctx.Err()
}

// handle runs one delivery of a job to its end: ack (done), nak with a
// delay (dependencies not done, or a failure to retry) or term (final).
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) {
	var m Message
	if err := json.Unmarshal(msg.Data(), &m); err != nil {
		w.logf("unreadable job message on %s: %v (dropped)", msg.Subject(), err)
		_ = msg.Term()
		return
	}
	j := m.Job
	st, err := w.Queue.Get(ctx, j.ID)
	if err != nil {
		w.logf("%v (retrying later)", err)
		_ = msg.NakWithDelay(2 * time.Second)
		return
	}
	if st != nil && st.Status == "finished" {
		_ = msg.Ack() // a second copy of a finished job
		return
	}
	for _, d := range j.DependsOn {
		ds, err := w.Queue.Get(ctx, d)
		switch {
		case err != nil:
			_ = msg.NakWithDelay(2 * time.Second)
			return
		case ds != nil && ds.Status == "failed" && ds.Final:
			w.finish(ctx, msg, m, 0, fmt.Errorf("dependency %s failed: %s", d, ds.Error), true)
			return
		case ds == nil || ds.Status != "finished":
			_ = msg.NakWithDelay(time.Second) // not ready: no attempt spent
			return
		}
	}
	attempt := 1
	if st != nil {
		attempt = st.Attempt + 1
	}
	_ = w.Queue.put(ctx, j.ID, State{Status: "running", Attempt: attempt, Worker: w.Name})
	w.status(ctx, m, &events.JobStatus{Status: events.JobRunning, Attempt: attempt})
	w.logf("%s: attempt %d", j.ID, attempt)

	// Keep the delivery alive while the job runs (training can take an hour).
	jctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(w.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-jctx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	detail, err := w.execute(jctx, m, attempt)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the job comes back after AckWait
	}
	if err != nil {
		var ee *engine.Error
		final := attempt >= w.MaxAttempts || (errors.As(err, &ee) && ee.BadRequest)
		w.finish(ctx, msg, m, attempt, err, final)
		return
	}
	_ = w.Queue.put(ctx, j.ID, State{Status: "finished", Attempt: attempt, Worker: w.Name, Detail: detail.raw()})
	w.status(ctx, m, &events.JobStatus{Status: events.JobFinished, Attempt: attempt, Done: detail.Done, Expected: detail.Expected, Detail: detail.raw()})
	if err := msg.DoubleAck(ctx); err != nil {
		w.logf("%s: ack: %v (the job may run again; its events are idempotent)", j.ID, err)
	}
	w.logf("%s: finished (%d/%d)", j.ID, detail.Done, detail.Expected)
}

// finish records a failed attempt: retried later, or final.
func (w *Worker) finish(ctx context.Context, msg jetstream.Msg, m Message, attempt int, err error, final bool) {
	w.logf("%s: attempt %d failed: %v (final: %v)", m.Job.ID, attempt, err, final)
	_ = w.Queue.put(ctx, m.Job.ID, State{Status: "failed", Attempt: attempt, Worker: w.Name, Error: err.Error(), Final: final})
	w.status(ctx, m, &events.JobStatus{Status: events.JobFailed, Attempt: max(attempt, 1), Error: err.Error(), Final: final})
	// An engine that failed may be broken: start a fresh one next time.
	if w.eng != nil {
		_ = w.eng.Close()
		w.eng = nil
	}
	if final {
		_ = msg.Term()
		return
	}
	_ = msg.NakWithDelay(time.Duration(attempt*attempt) * 5 * time.Second)
}

// status publishes a job_status event in the job's run.
func (w *Worker) status(ctx context.Context, m Message, s *events.JobStatus) {
	s.Job, s.Kind, s.Worker = m.Job.ID, m.Job.Kind, w.Name
	e, err := events.New(m.Spec.Experiment, m.Job.RunID, time.Now(), s)
	if err == nil {
		_, err = w.Queue.B.Publish(ctx, e)
	}
	if err != nil {
		w.logf("%s: job_status %s not published: %v", m.Job.ID, s.Status, err)
	}
}

// engine returns the running engine, starting one when needed.
func (w *Worker) engine(ctx context.Context) (engine.Engine, engine.Info, error) {
	if w.eng == nil {
		e, info, err := w.NewEngine(ctx)
		if err != nil {
			return nil, engine.Info{}, err
		}
		w.eng, w.info = e, info
	}
	return w.eng, w.info, nil
}

// result is what a job reports on success.
type result struct {
	Done, Expected int
	Detail         map[string]any
}

func (r result) raw() json.RawMessage {
	if r.Detail == nil {
		return nil
	}
	b, _ := json.Marshal(r.Detail)
	return b
}
