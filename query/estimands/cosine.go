package estimands

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"leakscope/presets/i81"
	"leakscope/query"
	"leakscope/query/stats"
)

func init() {
	cosParams := func(prefix, drop string) []Param {
		return []Param{
			{Name: "layer", Default: "20", Doc: "decoder layer of the cosines"},
			{Name: "centering", Default: "raw", Doc: "raw, assistant_subtracted or global_mean_subtracted"},
			{Name: "bystander_prefix", Default: prefix, Doc: "only bystanders whose key starts with this (empty = all)"},
			{Name: "drop_self", Default: drop, Doc: "true drops the source's own persona (cosine 1 by construction, EXPERIMENT.md §10.15)"},
			detectorParam,
		}
	}
	register(&Estimand{
		Name: "cosine-leakage",
		Doc:  "per source, Spearman ρ and Pearson r (with SciPy's p-values) between cos(source, bystander) and the bystander's marker rate under that source; 'all' pools every pair",
		Source: "EXPERIMENT.md §6.5/§6.7 (#66 design); on single_token_100_persona it reproduces cosine_leakage_correlation.json " +
			"(e.g. layer 20 villain ρ = 0.704)",
		Params: cosParams("", "false"),
		run:    runCosineLeakage,
	})
	register(&Estimand{
		Name:   "h4",
		Doc:    "H4: cosine of each trained source to the A2 nouns against its A2 leakage, off-diagonal (20 pairs in i81), Spearman per source and pooled",
		Source: "EXPERIMENT.md §6.5 (never run by the authors: the i81 vectors are not published, so it answers only where cosines were imported)",
		Params: cosParams("A2__", "true"),
		run:    runCosineLeakage,
	})
	register(&Estimand{
		Name:   "near-twin",
		Doc:    "Phase B near-twins: bystander pairs under one source model with cos > cos_high and |emission difference| > min_diff_pp, or cos < cos_low and judge trait overlap ≥ overlap (judge overlap: not recorded yet, so that arm is reported as not evaluable)",
		Source: "EXPERIMENT.md §6.9 (never implemented by the authors)",
		Params: []Param{{Name: "layer", Default: "20", Doc: "decoder layer of the cosines"}, {Name: "centering", Default: "raw", Doc: "cosine centering"},
			{Name: "cos_high", Default: "0.95", Doc: "first arm: cosine above this"}, {Name: "min_diff_pp", Default: "30", Doc: "first arm: emission difference above this, pp"},
			{Name: "cos_low", Default: "0.80", Doc: "second arm: cosine below this"}, {Name: "overlap", Default: "0.9", Doc: "second arm: judge trait overlap at least this"},
			detectorParam},
		run: runNearTwin,
	})
}

type cosRow struct {
	a, b string
	cos  float64
}

func loadCosines(ctx context.Context, in *Input) ([]cosRow, error) {
	if in.Engine == nil { // a grid given directly, without a lake
		return nil, fmt.Errorf("%w: no lake to read cosines from", ErrNoData)
	}
	layer, err := in.Params.Int("layer")
	if err != nil {
		return nil, err
	}
	res, err := in.Engine.SQL(ctx, `SELECT persona_a, persona_b, avg(cosine) FROM cosines
WHERE experiment = $1 AND layer = $2 AND centering = $3 GROUP BY ALL`, in.Experiment, layer, in.Params.Str("centering"))
	if err != nil {
		return nil, err
	}
	out := make([]cosRow, 0, len(res.Rows))
	for _, r := range res.Rows {
		out = append(out, cosRow{a: r[0].(string), b: r[1].(string), cos: r[2].(float64)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: experiment %q has no %s cosines at layer %d (see `leakscope sql \"SELECT DISTINCT experiment, layer, centering FROM cosines\"`)", ErrNoData, in.Experiment, in.Params.Str("centering"), layer)
	}
	return out, nil
}

// rates maps source persona → bystander → rate over the experiment's cells.
func rates(ctx context.Context, in *Input) (map[string]map[string]float64, []string, error) {
	lk, err := in.Engine.Leakage(ctx, query.LeakageRequest{Experiment: in.Experiment, Detector: in.Params.Str("detector"), Scope: in.gridScope()})
	if err != nil {
		return nil, nil, err
	}
	out := map[string]map[string]float64{}
	runs := map[string]bool{}
	for _, c := range lk.Cells {
		if c.Rate == nil || c.SourcePersona == "" {
			continue
		}
		if out[c.SourcePersona] == nil {
			out[c.SourcePersona] = map[string]float64{}
		}
		out[c.SourcePersona][c.Persona] = *c.Rate
		runs[c.RunID] = true
	}
	var rs []string
	for r := range runs {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	return out, rs, nil
}

func runCosineLeakage(ctx context.Context, in *Input) (*Result, error) {
	cos, err := loadCosines(ctx, in)
	if err != nil {
		return nil, err
	}
	rt, runs, err := rates(ctx, in)
	if err != nil {
		return nil, err
	}
	prefix, drop := in.Params.Str("bystander_prefix"), in.Params.Str("drop_self") == "true"
	type xy struct{ x, y []float64 }
	per := map[string]*xy{}
	all := &xy{}
	for _, c := range cos {
		r, ok := rt[c.a][c.b]
		if !ok || !strings.HasPrefix(c.b, prefix) {
			continue
		}
		if drop && (c.b == c.a || c.b == i81.A2Key(strings.TrimPrefix(c.a, "src_"))) {
			continue
		}
		if per[c.a] == nil {
			per[c.a] = &xy{}
		}
		per[c.a].x, per[c.a].y = append(per[c.a].x, c.cos), append(per[c.a].y, r)
		all.x, all.y = append(all.x, c.cos), append(all.y, r)
	}
	if len(all.x) == 0 {
		return nil, fmt.Errorf("%w: no (source, bystander) pair of %q has both a cosine and a rate: cosines must name the source persona as persona_a and the bystander as persona_b", ErrNoData, in.Experiment)
	}
	res := &Result{Columns: []string{"source", "pairs", "spearman_rho", "spearman_p", "pearson_r", "pearson_p"}}
	srcs := make([]string, 0, len(per))
	for s := range per {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	add := func(name string, v *xy) {
		rho, rp, err1 := stats.Spearman(v.x, v.y)
		r, p, err2 := stats.Pearson(v.x, v.y)
		if err1 != nil || err2 != nil {
			res.Rows = append(res.Rows, []any{name, len(v.x), nil, nil, nil, nil})
			res.Notes = append(res.Notes, fmt.Sprintf("%s: correlation undefined (%v)", name, firstErr(err1, err2)))
			return
		}
		res.Rows = append(res.Rows, []any{name, len(v.x), rho, rp, r, p})
	}
	for _, s := range srcs {
		add(s, per[s])
	}
	add("all", all)
	res.Provenance.Runs, res.Provenance.CellsUsed = runs, len(all.x)
	return res, nil
}

func runNearTwin(ctx context.Context, in *Input) (*Result, error) {
	cos, err := loadCosines(ctx, in)
	if err != nil {
		return nil, err
	}
	rt, runs, err := rates(ctx, in)
	if err != nil {
		return nil, err
	}
	hi, err := in.Params.Float("cos_high")
	if err != nil {
		return nil, err
	}
	diff, err := in.Params.Float("min_diff_pp")
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: []string{"source", "persona_a", "persona_b", "cosine", "rate_a", "rate_b", "emission_diff_pp", "arm"}}
	srcs := make([]string, 0, len(rt))
	for s := range rt {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	considered := 0
	for _, s := range srcs {
		for _, c := range cos {
			if c.a >= c.b { // each unordered pair once
				continue
			}
			ra, okA := rt[s][c.a]
			rb, okB := rt[s][c.b]
			if !okA || !okB {
				continue
			}
			considered++
			d := pp(math.Abs(ra - rb))
			if c.cos > hi && d > diff {
				res.Rows = append(res.Rows, []any{s, c.a, c.b, c.cos, ra, rb, d, "similar representation, different emission"})
			}
		}
	}
	if considered == 0 {
		return nil, fmt.Errorf("%w: no bystander pair of %q has both a cosine and rates under one source", ErrNoData, in.Experiment)
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%d (source, pair) combinations considered; the second arm (cos < %s and judge trait overlap ≥ %s) needs judge overlap scores, which no event records yet: not evaluated",
		considered, in.Params.Str("cos_low"), in.Params.Str("overlap")))
	res.Provenance.Runs, res.Provenance.CellsUsed = runs, considered
	return res, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
