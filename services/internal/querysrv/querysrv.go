// Package querysrv assembles the query service's HTTP routes (API,
// figures, live view) for leakscope up/serve and leakscope-query, so both
// serve the same endpoints.
package querysrv

import (
	"net/http"

	"leakscope/query"
	"leakscope/query/api"
	"leakscope/query/estimands"
	"leakscope/query/figures"
	"leakscope/query/live"
)

// Routes are the path prefixes of the query service, for request metrics
// (ops.InstrumentHTTP).
var Routes = []string{"/api/leakage", "/api/sql", "/api/analyze", "/api/runs", "/figures/", "/live/"}

// Mux serves the query API and figures over e, and the live view when agg
// is not nil (outside the API's 60 s request timeout: event streams stay
// open).
func Mux(e *query.Engine, agg *live.Aggregator) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", api.Handler(e, estimands.Analyzer{Engine: e}))
	mux.Handle("/figures/", figures.Handler(e))
	if agg != nil {
		mux.Handle("/live/", live.Handler(agg))
	}
	return mux
}
