package figures

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"leakscope/query"
	"leakscope/query/estimands"
)

// When the #81 figures apply: the factorial's persona factors and its
// src_<noun> sources, in scope. The check reads the design, so any
// experiment laid out as the factorial gets them, and no other does.

func init() {
	// The factorial's source src_<noun> has its own cell A2__<noun>.
	sourceCellRules = append(sourceCellRules, func(source string) string {
		if n, ok := strings.CutPrefix(source, "src_"); ok && index(estimands.Nouns, n) >= 0 {
			return estimands.A2Key(n)
		}
		return ""
	})
}

// requireI81 says why the #81 figures cannot apply, or nil.
func (b *Builder) requireI81(ctx context.Context) error {
	d, err := b.design(ctx)
	if err != nil {
		return err
	}
	var missing []string
	for _, f := range []string{"noun", "trait", "level"} {
		if _, ok := d.personaVal[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: needs persona factors noun, trait, level; this experiment's persona factors: %s",
			ErrNotApplicable, orNone(sortedKeys(d.personaVal)))
	}
	for _, r := range d.runs {
		if n, ok := strings.CutPrefix(r.source, "src_"); ok && index(estimands.Nouns, n) >= 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: needs runs whose source is src_<noun> (%s); this experiment's sources in scope: %s",
		ErrNotApplicable, strings.Join(estimands.Nouns, ", "), orNone(d.sources()))
}

// requireCosines says why the cosine scatter cannot apply, or nil.
func (b *Builder) requireCosines(ctx context.Context) error {
	res, err := b.Engine.SQL(ctx, `SELECT count(*) FROM cosines WHERE experiment = $1 AND layer = 20 AND centering = 'raw'`, b.Experiment)
	if err != nil {
		return err
	}
	if len(res.Rows) == 0 || num(res.Rows[0][0]) == 0 {
		return fmt.Errorf("%w: needs persona cosines at layer 20 (raw); %s has none", ErrNotApplicable, b.Experiment)
	}
	d, err := b.design(ctx)
	if err != nil {
		return err
	}
	if len(d.cells) == 0 {
		return fmt.Errorf("%w: needs leakage cells beside the cosines; %s has none in scope", ErrNotApplicable, b.Experiment)
	}
	return nil
}

// withScope adds the builder's scope to an estimand's parameters (nothing
// when the scope is empty, so the published parameters stay as they were).
func withScope(params map[string]string, s query.Scope) map[string]string {
	if s.Empty() && !s.IncludeRetracted {
		return params
	}
	out := map[string]string{}
	for k, v := range params {
		out[k] = v
	}
	join := func(k string, v []string) {
		if len(v) > 0 {
			out[k] = strings.Join(v, ",")
		}
	}
	join("runs", s.Runs)
	join("sweeps", s.Sweeps)
	join("sources", s.Sources)
	var seeds []string
	for _, v := range s.Seeds {
		seeds = append(seeds, strconv.FormatInt(v, 10))
	}
	join("seeds", seeds)
	var where []string
	keys := make([]string, 0, len(s.Where))
	for k := range s.Where {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		where = append(where, k+"="+strings.Join(s.Where[k], "|"))
	}
	if len(where) > 0 {
		out["where"] = strings.Join(where, ";")
	}
	if s.IncludeRetracted {
		out["include_retracted"] = "true"
	}
	return out
}
