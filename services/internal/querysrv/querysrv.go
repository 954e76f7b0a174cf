// Package querysrv assembles the query service's HTTP routes (API,
// figures, live view) for leakscope up/serve and leakscope-query, so both
// serve the same endpoints.
package querysrv

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"

	"leakscope/ingest"
	"leakscope/query"
	"leakscope/query/api"
	"leakscope/query/estimands"
	"leakscope/query/figures"
	"leakscope/query/live"
	"leakscope/query/web"
	"leakscope/query/webui"
)

// Routes are the path prefixes of the query service, for request metrics
// (ops.InstrumentHTTP).
var Routes = append([]string{"/api/leakage", "/api/sql", "/api/analyze", "/api/runs", "/api/samples", "/figures/", "/live/"}, web.Routes...)

// Option changes what Mux serves.
type Option func(*options)

type options struct{ artifacts web.Artifacts }

// WithArtifacts serves the sealed artifacts that the lake's job_status
// events record, read through a (SealedArtifacts over a bus), at
// /artifacts/NAME, and links them from run pages (web.Register).
func WithArtifacts(a web.Artifacts) Option { return func(o *options) { o.artifacts = a } }

// Mux serves the web app's pages (web.Register: / is the home page, the
// API's JSON index for Accept: application/json), the query API and
// figures over e, the live view when agg is not nil (outside the API's
// 60 s request timeout: event streams stay open), and artifacts with
// WithArtifacts.
func Mux(e *query.Engine, agg *live.Aggregator, opts ...Option) *http.ServeMux {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	mux := http.NewServeMux()
	apiHandler := api.Handler(e, estimands.Analyzer{Engine: e})
	mux.Handle("/", apiHandler)
	web.Register(mux, e, apiHandler, o.artifacts)
	mux.Handle("/figures/", figures.Handler(e))
	mux.Handle(webui.AssetsPrefix, webui.Assets())
	if agg != nil {
		mux.Handle("/live/", live.Handler(agg))
	}
	return mux
}

// IngestHealth serves ingest's health (200, or 503 while commits fail) as
// JSON, with paths under the data directory shown relative to it: the
// server's absolute paths are not the client's business.
func IngestHealth(health func() ingest.Health, data string) http.Handler {
	abs, err := filepath.Abs(data)
	if err != nil {
		abs = data
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := health()
		h.Err = strings.ReplaceAll(h.Err, abs+string(filepath.Separator), "")
		h.Err = strings.ReplaceAll(h.Err, abs, ".")
		code, status := http.StatusOK, "ok"
		if !h.OK {
			code, status = http.StatusServiceUnavailable, "ingest failing"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "ingest": h})
	})
}
