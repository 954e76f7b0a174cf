// Package query recomputes leakscope's numbers from the Parquet lake on
// demand: the leakage matrix (rates, Wilson CIs, base subtraction, with
// provenance), run listings and read-only SQL. It reads the lake only
// through query/duck and never imports ingest's runtime.
package query

import (
	"context"
	"errors"
	"sync"

	"leakscope/query/duck"
)

// ErrUnknownExperiment is returned when an experiment has no runs.
var ErrUnknownExperiment = errors.New("query: unknown experiment")

// ErrBadRequest is wrapped by errors in the caller's request (an unknown
// run, a marker no detector can search for…).
var ErrBadRequest = errors.New("query: bad request")

// Engine answers questions over one lake.
type Engine struct {
	DB *duck.DB

	// runsMu guards runsCache: each experiment's runs as read at a lake
	// generation (duck.DB.Generation), so a matrix over an unchanged lake
	// does not query the runs views again (two queries, ~10 ms at 1×).
	runsMu    sync.Mutex
	runsCache map[string]cachedRuns
}

type cachedRuns struct {
	gen  uint64
	runs map[string]runInfo
}

// Open opens an engine over the lake directory.
func Open(lake string) (*Engine, error) {
	db, err := duck.Open(lake)
	if err != nil {
		return nil, err
	}
	return &Engine{DB: db}, nil
}

// Close closes the engine's database.
func (e *Engine) Close() error { return e.DB.Close() }

// SQL runs one read-only statement over the lake's views (see duck.DB.Query).
// For statements from users, use UserSQL.
func (e *Engine) SQL(ctx context.Context, query string, args ...any) (*duck.Result, error) {
	return e.DB.Query(ctx, query, args...)
}

// UserSQL runs a user's statement with every guard of duck.DB.UserQuery and
// at most maxRows rows (<= 0: no limit).
func (e *Engine) UserSQL(ctx context.Context, query string, maxRows int) (*duck.Result, error) {
	return e.DB.UserQuery(ctx, query, maxRows)
}
