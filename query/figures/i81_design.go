package figures

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"leakscope/presets/i81"
	"leakscope/query"
)

// When the #81 figures apply: the preset's persona factors and one of its
// sources, in scope. The check reads the design, so any experiment laid
// out as the factorial gets them, and no other does.

func init() {
	// A source of the preset (src_<noun>) has its own cell (A2__<noun>).
	sourceCellRules = append(sourceCellRules, func(source string) string {
		if s, ok := i81.Preset.SourceNamed(source); ok && s.Key == source {
			return s.OwnCell
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
	for _, f := range i81.Preset.FactorNames {
		if _, ok := d.personaVal[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: needs persona factors %s; this experiment's persona factors: %s",
			ErrNotApplicable, strings.Join(i81.Preset.FactorNames, ", "), orNone(sortedKeys(d.personaVal)))
	}
	var keys []string
	for _, s := range i81.Preset.Sources {
		keys = append(keys, s.Key)
	}
	for _, r := range d.runs {
		if index(keys, r.source) >= 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: needs runs whose source is one of the preset's (%s); this experiment's sources in scope: %s",
		ErrNotApplicable, strings.Join(keys, ", "), orNone(d.sources()))
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
