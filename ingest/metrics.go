package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are ingest's Prometheus series, registered on Config.Metrics
// (none when it is nil). Names follow Prometheus conventions: counters end
// in _total, durations are seconds.
type metrics struct {
	events         *prometheus.CounterVec
	batches        prometheus.Counter
	batchEvents    prometheus.Histogram
	commitSeconds  prometheus.Histogram
	commitFailures prometheus.Counter
	lastCommit     prometheus.Gauge
	compactedFiles prometheus.Counter
	// deadLetterStreamFailures: see MaxDeadLetterTries.
	deadLetterStreamFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leakscope_ingest_events_total",
			Help: "Messages ingest took from the events stream, by outcome: committed (written to the lake), duplicate (dropped by event ID), dead_letter (invalid; kept in the dead-letter stream and table)."},
			[]string{"outcome"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "leakscope_ingest_batches_total",
			Help: "Batches committed to the lake (files renamed, manifest line fsynced, then acknowledged)."}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "leakscope_ingest_batch_messages",
			Help: "Messages per committed batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "leakscope_ingest_commit_seconds",
			Help: "Time to write, fsync and commit one batch, seconds.", Buckets: prometheus.ExponentialBuckets(0.005, 3, 9)}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "leakscope_ingest_commit_failures_total",
			Help: "Batches whose commit failed (left unacknowledged, retried)."}),
		lastCommit: prometheus.NewGauge(prometheus.GaugeOpts{Name: "leakscope_ingest_last_commit_timestamp_seconds",
			Help: "Unix time of the last committed batch."}),
		compactedFiles: prometheus.NewCounter(prometheus.CounterOpts{Name: "leakscope_ingest_compacted_files_total",
			Help: "Small files merged into larger ones while the stream was idle (and deleted)."}),
		deadLetterStreamFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "leakscope_ingest_dead_letter_stream_failures_total",
			Help: "Rejected messages the dead-letter stream refused for good (too large, or refused on every try): recorded only in the lake's dead_letters table, with stream_error."}),
	}
	for _, o := range []string{"committed", "duplicate", "dead_letter"} {
		m.events.WithLabelValues(o) // every outcome exported from the start, at 0
	}
	if reg != nil {
		reg.MustRegister(m.events, m.batches, m.batchEvents, m.commitSeconds, m.commitFailures, m.lastCommit, m.compactedFiles, m.deadLetterStreamFailures)
	}
	return m
}
