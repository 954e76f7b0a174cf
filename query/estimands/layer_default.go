package estimands

import (
	"context"
	"fmt"
	"strconv"

	"leakscope/query"
)

// resolveDefaultLayer: an estimand reading cosines defaults to one decoder
// layer (a preset's, e.g. #81's 20), but another model records others (a
// sweep's embedding.layers). When the caller did not choose the layer and
// the experiment has no cosines at the default one, the deepest layer it
// has at the requested centering is used instead, with a note saying so;
// a layer the caller gave is never replaced (the estimand then refuses,
// naming it). p is changed in place; estimands without a layer parameter
// are left alone.
func resolveDefaultLayer(ctx context.Context, e *query.Engine, experiment string, p Params) ([]string, error) {
	def, ok := p["layer"]
	if !ok || e == nil {
		return nil, nil
	}
	layer, err := p.Int("layer")
	if err != nil {
		return nil, err
	}
	centering := p.Str("centering")
	if centering == "" {
		centering = "raw"
	}
	res, err := e.SQL(ctx, `SELECT count(*) FILTER (WHERE layer = $3), max(layer) FROM cosines WHERE experiment = $1 AND centering = $2`,
		experiment, centering, layer)
	if err != nil || len(res.Rows) == 0 {
		return nil, nil // no cosines table yet: the estimand says what is missing
	}
	atDefault, _ := res.Rows[0][0].(int64)
	deepest, ok := res.Rows[0][1].(int64)
	if atDefault > 0 || !ok {
		return nil, nil
	}
	p["layer"] = strconv.Itoa(int(deepest))
	return []string{fmt.Sprintf("no %s cosines at layer %s (the default) in %s: layer %d, the deepest it has, is used (pass layer= to choose)",
		centering, def, experiment, deepest)}, nil
}
