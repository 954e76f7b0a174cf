// Package ops serves what an orchestrator and Prometheus ask of every
// leakscope service: /healthz (the process answers), /readyz (it can do
// its work now, with the reason when not) and /metrics (Prometheus text
// format). It also reads flags from LEAKSCOPE_* environment variables.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"leakscope/events/bus"
)

// Check reports whether a service can do its work now (nil) or why not.
type Check func(ctx context.Context) error

// checkTimeout bounds one readiness check: an orchestrator probes often.
const checkTimeout = 3 * time.Second

// NewRegistry returns a registry with the Go runtime and process series.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Register adds GET /healthz, /readyz and /metrics to mux. /healthz answers
// 200 while the process serves; /readyz runs every check and answers 200,
// or 503 with the first failing check's reason; /metrics serves reg.
func Register(mux *http.ServeMux, reg *prometheus.Registry, checks ...Check) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		defer cancel()
		for _, c := range checks {
			if err := c(ctx); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	// A collector that fails (the bus is down: no lag) leaves its series
	// out; the others are still served, with 200.
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorHandling: promhttp.ContinueOnError}))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Listen opens addr at once, so a busy port is an error at start-up that
// names the flag, not a log line later.
func Listen(addr, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w (choose another with %s)", addr, err, flag)
	}
	return ln, nil
}

// Serve serves h on ln until ctx ends, then shuts down within 5 s. It
// returns nil after a shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sh, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sh)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// DirReady is ready while dir exists and is a directory (a lake not yet
// created, a typo or a missing volume mount is "not ready", not an empty
// service).
func DirReady(what, dir string) Check {
	return func(context.Context) error {
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, dir, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("%s %s is not a directory", what, dir)
		}
		return nil
	}
}

// BusReady is ready while the NATS connection is up and JetStream answers.
func BusReady(b *bus.Bus) Check {
	return func(ctx context.Context) error {
		if !b.NC.IsConnected() {
			return fmt.Errorf("NATS not connected (%s)", b.NC.Status())
		}
		if _, err := b.JS.AccountInfo(ctx); err != nil {
			return fmt.Errorf("JetStream: %w", err)
		}
		return nil
	}
}

// IngestLag exports how far ingest is behind the events stream, read from
// the ingest consumer at each scrape (left out of a scrape while the bus
// does not answer). Every replica reports the same consumer: aggregate
// with max(), not sum().
func IngestLag(b *bus.Bus) prometheus.Collector {
	return lagCollector{b: b,
		pending: prometheus.NewDesc("leakscope_ingest_lag_messages", "Messages of the events stream not yet delivered to ingest.", nil, nil),
		inFlight: prometheus.NewDesc("leakscope_ingest_unacknowledged_messages",
			"Messages delivered to ingest and not yet committed to the lake (acknowledged).", nil, nil)}
}

type lagCollector struct {
	b                 *bus.Bus
	pending, inFlight *prometheus.Desc
}

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.pending; ch <- c.inFlight }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	pending, acks, err := c.b.IngestLag(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.pending, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(acks))
}

// InstrumentHTTP counts and times h's requests as
// leakscope_http_request_seconds{route, code, method}; route is the first
// of routes that prefixes the path ("other" for none), which keeps the
// label set small whatever the URLs.
func InstrumentHTTP(reg prometheus.Registerer, h http.Handler, routes ...string) http.Handler {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "leakscope_http_request_seconds",
		Help: "HTTP requests served, by route prefix, status code and method; seconds.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)},
		[]string{"route", "code", "method"})
	reg.MustRegister(hist)
	by := map[string]http.Handler{}
	for _, r := range append(routes, "other") {
		by[r] = promhttp.InstrumentHandlerDuration(hist.MustCurryWith(prometheus.Labels{"route": r}), h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range routes {
			if strings.HasPrefix(r.URL.Path, p) {
				by[p].ServeHTTP(w, r)
				return
			}
		}
		by["other"].ServeHTTP(w, r)
	})
}
