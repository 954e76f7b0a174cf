package judgecmd

import (
	"github.com/prometheus/client_golang/prometheus"

	"leakscope/events"
)

// Metrics are the judge's Prometheus series.
type Metrics struct {
	// Outcomes counts published coherence_score events by outcome: scored,
	// or failed (the reason is in the event).
	Outcomes *prometheus.CounterVec
}

// NewMetrics creates the judge's series and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{Outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leakscope_judge_outcomes_total",
		Help: "Judged completions published as coherence_score events, by outcome (scored, failed)."}, []string{"outcome"})}
	m.Outcomes.WithLabelValues("scored")
	m.Outcomes.WithLabelValues("failed")
	reg.MustRegister(m.Outcomes)
	return m
}

func (m *Metrics) count(e events.Event) {
	if m == nil {
		return
	}
	if c, ok := e.Payload.(*events.CoherenceScore); ok {
		outcome := "scored"
		if c.Failed {
			outcome = "failed"
		}
		m.Outcomes.WithLabelValues(outcome).Inc()
	}
}
