package jobs

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"leakscope/events"
)

// Metrics are a worker's Prometheus series. NewMetrics registers them;
// a Worker without Metrics counts into unregistered ones.
type Metrics struct {
	// Completions counts eval completions sampled and published; its rate
	// is the worker's samples/s.
	Completions prometheus.Counter
	// Events counts every event the worker published (completions,
	// training steps, embeddings, job status), by type.
	Events *prometheus.CounterVec
	// JobStatus counts job_status transitions, by job kind and status
	// (running, finished, failed).
	JobStatus *prometheus.CounterVec
	// Busy is 1 while the worker runs a job.
	Busy prometheus.Gauge
}

// NewMetrics creates a worker's series and registers them on reg (none
// when reg is nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Completions: prometheus.NewCounter(prometheus.CounterOpts{Name: "leakscope_worker_completions_total",
			Help: "Eval completions sampled and published (rate() = samples/s)."}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leakscope_worker_events_published_total",
			Help: "Events the worker published and the bus acknowledged, by event type."}, []string{"type"}),
		JobStatus: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leakscope_worker_job_status_total",
			Help: "Job status transitions, by job kind and status."}, []string{"kind", "status"}),
		Busy: prometheus.NewGauge(prometheus.GaugeOpts{Name: "leakscope_worker_busy",
			Help: "1 while the worker runs a job, else 0."}),
	}
	if reg != nil {
		reg.MustRegister(m.Completions, m.Events, m.JobStatus, m.Busy)
	}
	return m
}

// countingPublisher counts what a runner publishes into the worker's
// metrics.
type countingPublisher struct {
	next interface {
		Publish(ctx context.Context, e events.Event) (uint64, error)
	}
	m *Metrics
}

func (p countingPublisher) Publish(ctx context.Context, e events.Event) (uint64, error) {
	seq, err := p.next.Publish(ctx, e)
	if err == nil {
		p.m.count(e)
	}
	return seq, err
}

func (m *Metrics) count(e events.Event) {
	m.Events.WithLabelValues(string(e.Type)).Inc()
	if e.Type == events.TypeCompletion {
		m.Completions.Inc()
	}
}

// publishEvent publishes one event on the bus and counts it.
func (w *Worker) publishEvent(ctx context.Context, e events.Event) error {
	if _, err := w.Queue.B.Publish(ctx, e); err != nil {
		return err
	}
	w.Metrics.count(e)
	return nil
}
