package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"leakscope/events"
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/sweep"
)

// Worker takes jobs from the queue and runs them on an engine.
type Worker struct {
	Queue *Queue
	// NewEngine starts an engine; the worker starts one lazily and again
	// after a job whose failure may have left it broken.
	NewEngine func(ctx context.Context) (engine.Engine, engine.Info, error)
	// Takes lists the job kinds (events.JobOnPolicy, …) this worker runs;
	// nil: all. A job of another kind goes back to the queue for another
	// worker, no attempt spent (an engine that only samples declines
	// training and embeddings).
	Takes []string
	// Name identifies the worker in job states, job_status events and heartbeats.
	Name string
	// WorkDir holds downloaded adapters and training outputs.
	WorkDir string
	// AckWait is how long the queue waits for a sign of life before it
	// gives a job to another worker (default 60 s). It belongs to the
	// consumer all workers share: it applies when the consumer is created,
	// or to every worker when SetAckWait is true. Workers signal progress
	// every third of the consumer's ack wait (at most every second).
	AckWait    time.Duration
	SetAckWait bool
	// StallTimeout fails a job whose engine shows no activity for this
	// long (default 15 min: loading a 7B model from slow storage is quiet).
	StallTimeout time.Duration
	// Heartbeat is the interval of worker_heartbeat events during eval (default 5 s).
	Heartbeat time.Duration
	// MaxAttempts bounds the failed tries of a job (default 3); attempts
	// killed with their worker do not count.
	MaxAttempts int
	// Publishers is how many goroutines publish completions (default 8):
	// sampling never waits for the bus.
	Publishers int
	// Metrics receives the worker's Prometheus series (NewMetrics); nil:
	// unregistered ones.
	Metrics *Metrics
	// NoPublish samples and detects markers but publishes no completion
	// (to measure the publishing overhead).
	NoPublish bool
	// DecisionTimeout bounds the wait for the live aggregator's stop
	// decision between rounds of an adaptive eval (default 2 min); without
	// one, sampling goes on with every cell.
	DecisionTimeout time.Duration
	Log             io.Writer

	mu       sync.Mutex // guards eng and consumer for keepAlive
	eng      engine.Engine
	info     engine.Info
	consumer jetstream.Consumer
	declined map[string]bool // jobs whose decline was logged
}

// declineDelay is how long a declined job waits before the queue offers it
// again (to any worker).
const declineDelay = 2 * time.Second

// decline hands a job of a kind this worker does not take back to the
// queue: no state, no attempt, one log line per job.
func (w *Worker) decline(msg jetstream.Msg, j sweep.Job) {
	if w.declined == nil {
		w.declined = map[string]bool{}
	}
	if !w.declined[j.ID] {
		w.declined[j.ID] = true
		w.logf("%s: declined: this worker takes %s jobs, not %s (it goes back to the queue for another worker)", j.ID, strings.Join(w.Takes, ", "), j.Kind)
	}
	_ = msg.NakWithDelay(declineDelay)
}

func (w *Worker) current() engine.Engine {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.eng
}

func (w *Worker) setEngine(e engine.Engine, info engine.Info) {
	w.mu.Lock()
	w.eng, w.info = e, info
	w.mu.Unlock()
}

// openConsumer opens the consumer all workers share. Its ack wait is the
// queue's: SetAckWait changes it for every worker; otherwise an existing
// consumer keeps its own and a new one gets AckWait.
func (w *Worker) openConsumer(ctx context.Context) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{Durable: Consumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: w.AckWait,
		MaxDeliver: -1, MaxAckPending: 1000, Description: "GPU workers share this consumer; each job goes to one of them"}
	var c jetstream.Consumer
	err := retryAPI(ctx, func(ctx context.Context) error {
		var err error
		if c, err = w.Queue.B.JS.Consumer(ctx, Stream, Consumer); err == nil && !w.SetAckWait {
			return nil
		}
		c, err = w.Queue.B.JS.CreateOrUpdateConsumer(ctx, Stream, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("job consumer: %w", err)
	}
	return c, nil
}

// apiAttempts and apiTimeout bound JetStream API calls that a cluster may
// leave unanswered (a request lost while a leader is elected waits out its
// whole context otherwise: a CI run hung 3 minutes on one).
const (
	apiAttempts = 6
	apiTimeout  = 10 * time.Second
)

// sealTimeout bounds a job-state report that seals an artifact (the
// keeper copies it between object stores first).
const sealTimeout = 2 * time.Minute

// retryAPI runs call with a per-attempt timeout, a few times.
func retryAPI(ctx context.Context, call func(ctx context.Context) error) error {
	return retryAPIEach(ctx, apiTimeout, call)
}

// retryAPIEach is retryAPI with a per-attempt timeout of per.
func retryAPIEach(ctx context.Context, per time.Duration, call func(ctx context.Context) error) error {
	var err error
	for range apiAttempts {
		actx, cancel := context.WithTimeout(ctx, per)
		err = call(actx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return err
}

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
	if w.StallTimeout <= 0 {
		w.StallTimeout = 15 * time.Minute
	}
	if w.Publishers <= 0 {
		w.Publishers = 8
	}
	if w.DecisionTimeout <= 0 {
		w.DecisionTimeout = 2 * time.Minute
	}
	if w.Log == nil {
		w.Log = io.Discard
	}
	if w.Metrics == nil {
		w.Metrics = NewMetrics(nil)
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
		if e := w.current(); e != nil {
			_ = e.Close()
		}
	}()
	cons, err := w.openConsumer(ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.consumer = cons // a keepAlive of an earlier Run may still read it
	w.mu.Unlock()
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
		w.Metrics.Busy.Set(1)
		w.handle(ctx, msg)
		w.Metrics.Busy.Set(0)
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
	if w.Takes != nil && !slices.Contains(w.Takes, j.Kind) {
		w.decline(msg, j)
		return
	}
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
	prev := State{}
	if st != nil {
		prev = *st
	}
	for _, d := range j.DependsOn {
		ds, err := w.Queue.Get(ctx, d)
		switch {
		case err != nil:
			_ = msg.NakWithDelay(2 * time.Second)
			return
		case ds != nil && ds.Status == "failed" && ds.Final:
			w.finish(ctx, msg, m, State{Status: "failed", Attempt: prev.Attempt + 1, Failures: prev.Failures, SpecSHA256: prev.SpecSHA256,
				Worker: w.Name, Error: fmt.Sprintf("dependency %s failed: %s", d, ds.Error), Final: true})
			return
		case ds == nil || ds.Status != "finished":
			_ = msg.NakWithDelay(time.Second) // not ready: no attempt spent
			return
		}
	}
	attempt := prev.Attempt + 1
	if err := w.Queue.report(ctx, msg, m, State{Status: "running", Attempt: attempt, Failures: prev.Failures, SpecSHA256: prev.SpecSHA256, Worker: w.Name}); err != nil {
		w.logf("%s: %v (retrying later)", j.ID, err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	w.status(ctx, m, &events.JobStatus{Status: events.JobRunning, Attempt: attempt})
	w.logf("%s: attempt %d", j.ID, attempt)

	// Keep the delivery alive while the job runs (training can take an
	// hour), as long as the engine shows signs of progress.
	jctx, cancel := context.WithCancelCause(ctx)
	go w.keepAlive(jctx, cancel, msg)
	detail, err := w.execute(jctx, m, attempt)
	if cause := context.Cause(jctx); err != nil && errors.Is(cause, errStalled) {
		err = cause
	}
	cancel(nil)
	if ctx.Err() != nil {
		return // shutting down: the job comes back after AckWait
	}
	if err != nil {
		var ee *engine.Error
		failures := prev.Failures + 1
		final := failures >= w.MaxAttempts || (errors.As(err, &ee) && ee.BadRequest)
		w.finish(ctx, msg, m, State{Status: "failed", Attempt: attempt, Failures: failures, SpecSHA256: prev.SpecSHA256,
			Worker: w.Name, Error: err.Error(), Final: final})
		return
	}
	if detail.Artifact != nil && detail.Detail != nil {
		// The lake's record of the artifact: with its staged name
		// ("artifact") it names the sealed copy, which the query service
		// serves only when a finished job recorded it.
		detail.Detail["artifact_sha256"] = detail.Artifact.SHA256
	}
	if err := w.Queue.report(ctx, msg, m, State{Status: "finished", Attempt: attempt, Failures: prev.Failures, SpecSHA256: prev.SpecSHA256,
		Worker: w.Name, Detail: detail.raw(), Artifact: detail.Artifact}); err != nil {
		// Unrecorded, the job is not done for its dependents nor for submit.
		w.logf("%s: finished, but %v (it runs again later; its events are idempotent)", j.ID, err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	w.status(ctx, m, &events.JobStatus{Status: events.JobFinished, Attempt: attempt, Done: detail.Done, Expected: detail.Expected, Detail: detail.raw()})
	if err := msg.DoubleAck(ctx); err != nil {
		w.logf("%s: ack: %v (the job may run again; its events are idempotent)", j.ID, err)
	}
	w.logf("%s: finished (%d/%d %s)", j.ID, detail.Done, detail.Expected, unitOf[j.Kind])
}

// unitOf names what a job kind's done/expected count.
var unitOf = map[string]string{events.JobOnPolicy: "answers", events.JobTrain: "optimizer steps",
	events.JobEval: "completions", events.JobEmbed: "centroids (personas × layers)"}

// errStalled fails a job whose engine stopped making progress.
var errStalled = errors.New("engine made no progress")

// keepAlive tells the queue the job is in progress, often enough for the
// shared consumer's ack wait (another worker may have changed it), until
// ctx ends; when the engine reports activity and has shown none for
// StallTimeout, it cancels the job instead (the engine is killed and the
// job retried), so a hung engine does not hold a job forever.
func (w *Worker) keepAlive(ctx context.Context, cancel context.CancelCauseFunc, msg jetstream.Msg) {
	every := w.AckWait / 3
	w.mu.Lock()
	cons := w.consumer
	w.mu.Unlock()
	if info, err := cons.Info(ctx); err == nil && info.Config.AckWait > 0 {
		every = info.Config.AckWait / 3
	}
	every = max(min(every, time.Second), 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if a, ok := w.current().(interface{ LastActivity() time.Time }); ok {
				if idle := time.Since(a.LastActivity()); idle > w.StallTimeout {
					cancel(fmt.Errorf("%w for %s (--stall-timeout)", errStalled, idle.Round(time.Second)))
					return
				}
			}
			_ = msg.InProgress()
		}
	}
}

// finish records a failed attempt: retried later, or final.
func (w *Worker) finish(ctx context.Context, msg jetstream.Msg, m Message, st State) {
	w.logf("%s: attempt %d failed: %s (final: %v)", m.Job.ID, st.Attempt, st.Error, st.Final)
	recorded := w.Queue.report(ctx, msg, m, st)
	if recorded != nil {
		w.logf("%s: %v", m.Job.ID, recorded)
	}
	w.status(ctx, m, &events.JobStatus{Status: events.JobFailed, Attempt: st.Attempt, Error: st.Error, Final: st.Final})
	// An engine that failed may be broken: start a fresh one next time.
	if e := w.current(); e != nil {
		_ = e.Close()
		w.setEngine(nil, engine.Info{})
	}
	if st.Final && recorded == nil { // a final failure nobody recorded would look unfinished: try again later
		_ = msg.Term()
		return
	}
	_ = msg.NakWithDelay(max(time.Duration(st.Failures*st.Failures), 1) * 5 * time.Second)
}

// status publishes a job_status event in the job's run.
func (w *Worker) status(ctx context.Context, m Message, s *events.JobStatus) {
	s.Job, s.Kind, s.Worker = m.Job.ID, m.Job.Kind, w.Name
	w.Metrics.JobStatus.WithLabelValues(string(m.Job.Kind), s.Status).Inc()
	e, err := events.New(m.Spec.Experiment, m.Job.RunID, time.Now(), s)
	if err == nil {
		err = w.publishEvent(ctx, e)
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
		w.setEngine(e, info)
	}
	return w.eng, w.info, nil
}

// result is what a job reports on success.
type result struct {
	Done, Expected int
	Detail         map[string]any
	Artifact       *ArtifactRef // staged, to be sealed (on-policy and training jobs)
}

func (r result) raw() json.RawMessage {
	if r.Detail == nil {
		return nil
	}
	b, _ := json.Marshal(r.Detail)
	return b
}
