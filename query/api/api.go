// Package api serves the query engine over HTTP: GET /api/leakage,
// /api/runs, /api/samples, /api/sql and /healthz, JSON in and out (CSV or
// Parquet from /api/sql on request), errors as {"error": "..."} with a
// 4xx/5xx status; GET /api/ lists the endpoints.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"leakscope/events/marker"
	"leakscope/query"
	"leakscope/query/duck"
	"leakscope/query/estimands"
)

// Querier is what the handlers need from the engine.
type Querier interface {
	Leakage(ctx context.Context, req query.LeakageRequest) (*query.Leakage, error)
	Runs(ctx context.Context, experiment string) ([]query.RunSummary, error)
	// CheckWhere refuses factor filters the experiment cannot satisfy.
	CheckWhere(ctx context.Context, experiment string, where map[string][]string) error
	UserSQL(ctx context.Context, q string, maxRows int) (*duck.Result, error)
	Samples(ctx context.Context, req query.SamplesRequest) (*query.Samples, error)
}

// RequestTimeout bounds one request: the engine has one DuckDB connection,
// so a runaway query must not hold it for everyone else.
const RequestTimeout = 60 * time.Second

// analyzeSlots bounds concurrent estimand computations (2 cores here).
var analyzeSlots = make(chan struct{}, 2)

// MaxSQLRows bounds a /api/sql result, so one request cannot exhaust the
// memory of the process that also runs NATS and ingest.
const MaxSQLRows = 100_000

// maxSQLBody is the largest statement accepted by POST /api/sql.
const maxSQLBody = 1 << 20

// Analyzer computes named estimands (estimands.Analyzer).
type Analyzer interface {
	Analyze(ctx context.Context, name, experiment string, params map[string]string) (*estimands.Result, error)
}

// Handler returns the HTTP handler over q and a.
func Handler(q Querier, a Analyzer) http.Handler {
	return http.TimeoutHandler(handler(q, a), RequestTimeout, `{"error": "the request took longer than 60 s and was cancelled"}`)
}

func handler(q Querier, a Analyzer) http.Handler {
	mux := http.NewServeMux()
	index := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"service": "leakscope query", "endpoints": []string{
			"GET / (the web app: experiments, runs, cells and their samples, SQL console; this list with Accept: application/json)",
			"GET /api/ (this list)",
			"GET /api/leakage?experiment=E[&detector=strict|case-sensitive|loose|recorded&marker=M&include_base=true][&SCOPE]",
			"GET /api/runs[?experiment=E][&SCOPE]",
			"GET /api/samples?experiment=E&run=R&bystander=B[&hits=only|misses][&detector=D][&marker=M][&limit=N&offset=N] (one cell's completions, with each detector's hits)",
			"GET /api/analyze (the estimands and their parameters)",
			"GET /api/analyze/NAME?experiment=E[&param=value…][&SCOPE]",
			"SCOPE (each repeatable or comma-separated): run=R, seed=N, sweep=S, source=P, where=factor=value (alternatives with |), include_retracted=true; on /api/analyze training seeds are seeds=N (seed is the estimands' RNG seed)",
			"GET /api/sql?q=SELECT… or POST /api/sql with the statement as the raw body; &format=csv|parquet for a download",
			"GET /figures/ (interactive figures)", "GET /live/SWEEP (sweeps in progress, from up)",
			"GET /healthz"}})
	}
	mux.HandleFunc("GET /{$}", index)
	mux.HandleFunc("GET /api/{$}", index)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /api/leakage", func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		if err := onlyParams(v, append([]string{"experiment", "detector", "marker", "include_base"}, scopeParams...)...); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		includeBase := false
		if s := v.Get("include_base"); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("include_base=%q: want true or false", s))
				return
			}
			includeBase = b
		}
		req := query.LeakageRequest{Experiment: v.Get("experiment"), Detector: v.Get("detector"), Marker: v.Get("marker"),
			IncludeBase: includeBase}
		if req.Experiment == "" {
			writeErr(w, http.StatusBadRequest, errors.New("query parameter experiment is required, e.g. /api/leakage?experiment=leakage_i81"))
			return
		}
		scope, err := scopeOf(r.Context(), q, req.Experiment, v)
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		req.Scope = scope
		if len(scope.Runs) == 1 {
			req.Run = scope.Runs[0]
		}
		res, err := q.Leakage(r.Context(), req)
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		writeJSON(w, 200, res)
	})
	mux.HandleFunc("GET /api/analyze", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, estimands.List())
	})
	mux.HandleFunc("GET /api/analyze/{estimand}", func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		exp := v.Get("experiment")
		if exp == "" {
			writeErr(w, http.StatusBadRequest, errors.New("query parameter experiment is required"))
			return
		}
		// "seed" stays the estimands' RNG seed (h3, cell-rates,
		// head-to-head); training seeds are seeds=… here.
		params := map[string]string{}
		sv := url.Values{}
		for k := range v {
			switch {
			case k == "experiment":
			case k != "seed" && isScopeParam(k):
				sv[k] = v[k]
			case len(v[k]) > 1:
				writeErr(w, http.StatusBadRequest, fmt.Errorf("%s is given %d times: give one", k, len(v[k])))
				return
			default:
				params[k] = v.Get(k)
			}
		}
		scope, err := scopeOf(r.Context(), q, exp, sv)
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		for k, val := range scope.EstimandParams() {
			if old, ok := params[k]; ok && old != val {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("%s=%s and the scope parameters (%s=%s) disagree: give one", k, old, k, val))
				return
			}
			params[k] = val
		}
		// Estimands are CPU-bound: a few at a time, the rest wait (or give up
		// with their request).
		select {
		case analyzeSlots <- struct{}{}:
			defer func() { <-analyzeSlots }()
		case <-r.Context().Done():
			writeErr(w, http.StatusServiceUnavailable, errors.New("busy: other analyses are running; try again"))
			return
		}
		res, err := a.Analyze(r.Context(), r.PathValue("estimand"), exp, params)
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		writeJSON(w, 200, res)
	})
	mux.HandleFunc("GET /api/runs", func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		if err := onlyParams(v, append([]string{"experiment"}, scopeParams...)...); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		exp := v.Get("experiment")
		scope, err := scopeArgs(v).Scope()
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		res, err := q.Runs(r.Context(), exp)
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		if exp != "" && len(res) == 0 {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("%w %q", query.ErrUnknownExperiment, exp))
			return
		}
		// Retracted runs are listed (marked) unless include_retracted=false.
		keep := true
		switch ir := v.Get("include_retracted"); ir {
		case "", "true":
		case "false":
			keep = false
		default:
			writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: include_retracted=%q: want true or false", query.ErrBadRequest, ir))
			return
		}
		if res, err = query.FilterRuns(res, scope, keep); err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		writeJSON(w, 200, res)
	})
	mux.HandleFunc("GET /api/samples", func(w http.ResponseWriter, r *http.Request) {
		req, err := SamplesRequestOf(r.URL.Query())
		if err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		res, err := q.Samples(r.Context(), req)
		if err != nil {
			writeErr(w, LookupStatus(err), err)
			return
		}
		writeJSON(w, 200, res)
	})
	sqlHandler := func(w http.ResponseWriter, r *http.Request) {
		stmt := r.URL.Query().Get("q")
		format := r.URL.Query().Get("format")
		switch format {
		case "", FormatJSON, FormatCSV, FormatParquet:
		default:
			writeErr(w, http.StatusBadRequest, fmt.Errorf("format=%q: want json, csv or parquet", format))
			return
		}
		if r.Method == http.MethodPost {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSQLBody))
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("statement longer than %d bytes", maxSQLBody))
				return
			}
			if err != nil {
				writeErr(w, http.StatusBadRequest, err)
				return
			}
			if len(bytes.TrimSpace(b)) > 0 {
				stmt = string(b)
			}
		}
		if stmt == "" {
			writeErr(w, http.StatusBadRequest, errors.New("give the statement as ?q=SELECT… or as the POST body"))
			return
		}
		res, err := q.UserSQL(r.Context(), stmt, MaxSQLRows)
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		writeSQLResult(w, res, format)
	}
	mux.HandleFunc("GET /api/sql", sqlHandler)
	mux.HandleFunc("POST /api/sql", sqlHandler)
	return mux
}

// scopeParams are the query parameters of a scope (query.Scope), on
// /api/leakage, /api/analyze/NAME and /api/runs: run, seed, sweep, source
// (each repeatable or comma-separated), where (repeatable factor=value,
// alternatives with '|') and include_retracted.
var scopeParams = []string{"run", "seed", "sweep", "source", "where", "include_retracted"}

func isScopeParam(k string) bool {
	for _, p := range scopeParams {
		if p == k {
			return true
		}
	}
	return false
}

func scopeArgs(v url.Values) query.ScopeArgs {
	return query.ScopeArgs{Runs: v["run"], Seeds: v["seed"], Sweeps: v["sweep"], Sources: v["source"], Where: v["where"]}
}

// ScopeOf reads the scope parameters (scopeParams) of a request and
// checks their factor filters against the experiment; errors wrap
// query.ErrBadRequest or query.ErrUnknownExperiment. The web pages use it
// too, so a scope reads the same everywhere.
func ScopeOf(ctx context.Context, q interface {
	CheckWhere(ctx context.Context, experiment string, where map[string][]string) error
}, experiment string, v url.Values) (query.Scope, error) {
	return scopeOf(ctx, q, experiment, v)
}

// scopeOf reads the scope parameters and checks their factor filters
// against the experiment.
func scopeOf(ctx context.Context, q interface {
	CheckWhere(ctx context.Context, experiment string, where map[string][]string) error
}, experiment string, v url.Values) (query.Scope, error) {
	a := scopeArgs(v)
	switch s := v.Get("include_retracted"); s {
	case "", "false":
	case "true":
		a.IncludeRetracted = true
	default:
		return query.Scope{}, fmt.Errorf("%w: include_retracted=%q: want true or false", query.ErrBadRequest, s)
	}
	scope, err := a.Scope()
	if err != nil {
		return scope, err
	}
	return scope, q.CheckWhere(ctx, experiment, scope.Where)
}

// onlyParams refuses query parameters the endpoint does not know, so a
// typo ("detecter=loose") is not silently answered with the default.
func onlyParams(v map[string][]string, known ...string) error {
	for k := range v {
		ok := false
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok {
			return fmt.Errorf("unknown query parameter %q (known: %v)", k, known)
		}
	}
	return nil
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, query.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, duck.ErrMemoryBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, query.ErrUnknownExperiment), errors.Is(err, query.ErrBadRequest),
		errors.Is(err, estimands.ErrUnknown), errors.Is(err, estimands.ErrBadParam), errors.Is(err, estimands.ErrNoData), errors.Is(err, estimands.ErrScope), errors.Is(err, marker.ErrUnknownDetector), errors.Is(err, duck.ErrNotReadOnly), errors.Is(err, duck.ErrSQL), errors.Is(err, duck.ErrTooManyRows), errors.Is(err, duck.ErrTooLarge), errors.Is(err, duck.ErrBigMap), errors.Is(err, duck.ErrTimeout):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// writeJSON encodes first, so an unencodable value is a 500 with a
// message, not a 200 with an empty body.
func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(map[string]string{"error": "encode result: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
