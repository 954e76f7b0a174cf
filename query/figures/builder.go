package figures

import (
	"context"
	"errors"
	"fmt"
	"time"

	"leakscope/query"
	"leakscope/query/estimands"
)

// The Builder: what every figure shares (the engine, the scope, the
// matrix loaded once, provenance, estimand calls).

// table is tabular figure data with its column names (data.json).
type table struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// ErrNotApplicable is returned for a figure the experiment has no data for.
var ErrNotApplicable = errors.New("figures: not applicable")

// ErrBadParam is returned for a figure parameter that is unknown or
// contradicts another (rows = cols); the message names it.
var ErrBadParam = errors.New("figures: bad parameter")

// ErrUnknownFigure is returned for a figure name not in the catalogue.
var ErrUnknownFigure = errors.New("figures: unknown figure")

// Builder makes the figures of one experiment.
type Builder struct {
	Engine     *query.Engine
	Experiment string
	// Scope selects the runs and cells drawn (retracted runs are left out
	// unless it says otherwise).
	Scope query.Scope
	// Params are the generic figures' parameters (axes.go: ParamNames).
	Params map[string]string
	cells  *query.Leakage
	des    *design
}

func (b *Builder) meta(name, title, source, units string, params map[string]string, runs []string) Meta {
	_, fp := estimands.LakeFingerprint(b.Engine.DB.Lake())
	return Meta{Figure: name, Title: title, Experiment: b.Experiment, Source: source, Params: params, Runs: runs, Fingerprint: fp,
		CodeVersion: estimands.CodeVersion(), Units: units, CreatedAt: time.Now().UTC()}
}

// leakage is the experiment's matrix (strict detector), loaded once.
func (b *Builder) leakage(ctx context.Context) (*query.Leakage, error) {
	if b.cells == nil {
		lk, err := b.Engine.Leakage(ctx, query.LeakageRequest{Experiment: b.Experiment, Scope: b.Scope})
		if err != nil {
			return nil, err
		}
		b.cells = lk
	}
	return b.cells, nil
}

// estimandRows runs an estimand and returns its rows keyed by first column.
func (b *Builder) estimand(ctx context.Context, name string, params map[string]string) (*estimands.Result, error) {
	res, err := estimands.Run(ctx, b.Engine, name, b.Experiment, withScope(params, b.Scope))
	if errors.Is(err, estimands.ErrNoData) {
		return nil, fmt.Errorf("%w: %v", ErrNotApplicable, err)
	}
	return res, err
}

func index(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
