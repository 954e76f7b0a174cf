package figures

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/query"
	"leakscope/query/estimands"
)

// table is tabular figure data with its column names (data.json).
type table struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// ErrNotApplicable is returned for a figure the experiment has no data for.
var ErrNotApplicable = errors.New("figures: not applicable")

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

// i81Cells maps source noun → bystander → cell for the runs whose source
// is an i81 noun, and lists the runs.
func (b *Builder) i81Cells(ctx context.Context) (map[string]map[string]query.Cell, []string, []string, error) {
	lk, err := b.leakage(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	out := map[string]map[string]query.Cell{}
	runSet := map[string]bool{}
	for _, c := range lk.Cells {
		s, ok := strings.CutPrefix(c.SourcePersona, "src_")
		if !ok {
			continue
		}
		if out[s] == nil {
			out[s] = map[string]query.Cell{}
		}
		out[s][c.Persona] = c
		runSet[c.RunID] = true
	}
	var srcs []string
	for _, n := range estimands.Nouns {
		if len(out[n]) > 0 {
			srcs = append(srcs, n)
		}
	}
	if len(srcs) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: %s has no i81 sources (src_<noun>)", ErrNotApplicable, b.Experiment)
	}
	return out, srcs, sortedKeys(runSet), nil
}

// columns is the i81 bystander order of the heatmap: per noun, A2 then its
// 25 A1 cells (trait → level).
func columns() []string {
	var out []string
	for _, n := range estimands.Nouns {
		out = append(out, estimands.A2Key(n))
		for _, t := range estimands.Traits {
			for _, l := range estimands.Levels {
				out = append(out, estimands.A1Key(n, t, l))
			}
		}
	}
	return out
}

// heatCell is one plotted heatmap cell (data.json).
type heatCell struct {
	Source        string   `json:"source"`
	Bystander     string   `json:"bystander"`
	Prompt        string   `json:"prompt,omitempty"`
	Rate          *float64 `json:"rate"`
	RateMinusBase *float64 `json:"rate_minus_base"`
	Found         *int64   `json:"found"`
	Total         *int64   `json:"total"`
	CILow         *float64 `json:"ci_low"`
	CIHigh        *float64 `json:"ci_high"`
	Coherence     *float64 `json:"coherence_mean"`
	LowCoherence  bool     `json:"low_coherence"`
	NSFloor       bool     `json:"ns_floor"`
	Missing       bool     `json:"missing"`
}

func (b *Builder) heatCells(ctx context.Context) ([]heatCell, []string, []string, error) {
	cells, srcs, runs, err := b.i81Cells(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	var out []heatCell
	for _, s := range srcs {
		for _, k := range columns() {
			c, ok := cells[s][k]
			h := heatCell{Source: s, Bystander: k, Missing: !ok || c.Missing || c.Rate == nil}
			if ok {
				h.Prompt, h.Found, h.Total, h.CILow, h.CIHigh, h.Coherence = c.PersonaPrompt, c.Found, c.Total, c.CILow, c.CIHigh, c.CoherenceMean
				if c.Rate != nil {
					h.Rate, h.RateMinusBase = c.Rate, c.Rate
					if c.RateMinusBase != nil {
						h.RateMinusBase = c.RateMinusBase
					}
					base := *c.Rate - *h.RateMinusBase
					h.NSFloor = estimands.FloorTest(*c.Rate, base, int(*c.Total))
				}
				h.LowCoherence = c.CoherenceMean != nil && *c.CoherenceMean < 0.5
			}
			out = append(out, h)
		}
	}
	return out, srcs, runs, nil
}

// Heatmap is figure 1: Δ = rate − base for sources × 130 bystanders.
func (b *Builder) Heatmap(ctx context.Context) (figure, error) {
	hc, srcs, runs, err := b.heatCells(ctx)
	if err != nil {
		return figure{}, err
	}
	cols := columns()
	m := matrix{cols: cols}
	for _, s := range srcs {
		m.rows = append(m.rows, "src:"+s)
	}
	m.z = make([][]float64, len(srcs))
	vmax := 0.1
	var low, floor plotter.XYs
	for i, h := range hc {
		r, c := i/len(cols), i%len(cols)
		if m.z[r] == nil {
			m.z[r] = make([]float64, len(cols))
		}
		m.z[r][c] = math.NaN()
		if !h.Missing {
			m.z[r][c] = *h.RateMinusBase
			vmax = math.Max(vmax, math.Abs(*h.RateMinusBase))
			y := float64(len(srcs) - 1 - r)
			if h.LowCoherence {
				low = append(low, plotter.XY{X: float64(c) + 0.25, Y: y})
			}
			if h.NSFloor {
				floor = append(floor, plotter.XY{X: float64(c) - 0.25, Y: y})
			}
		}
	}
	labels := make([]string, len(cols))
	for i, k := range cols {
		if strings.HasPrefix(k, "A2__") {
			labels[i] = strings.TrimPrefix(k, "A2__")
		}
	}
	m.cols = labels
	cm := moreland.SmoothBlueRed()
	p := heatPlot(m, cm, -vmax, vmax, "Marker rate minus base-model rate, per source and bystander (i81 factorial)", nil)
	p.X.Label.Text = "bystander: per noun, the pure noun (A2) then its 25 noun × trait × level (A1) cells"
	bar := colorBar(moreland.SmoothBlueRed(), -vmax, vmax, "Δ rate (fraction, trained − base)")
	key := plot.New() // the legend, in its own column beside the colour bar
	key.HideAxes()
	addMarks(p, key, low, floor)
	meta := b.meta("heatmap_5x130_base_subtracted", "Base-subtracted marker rate, sources × 130 bystanders", "leakage (strict detector) with base subtraction",
		"fraction in [−1, 1] (not percentage points)", nil, runs)
	meta.Notes = []string{"grey: never measured (e.g. person's 95 zero-filled pilot rows, EXPERIMENT.md §2.5) — not zero",
		"dot: low coherence (judge mean < 0.5); cross: indistinguishable from the base model (floor test, §4)"}
	return figure{meta: meta, w: 20 * vg.Inch, h: 4.6 * vg.Inch, data: hc, draw: func(dc draw.Canvas) {
		w := dc.Max.X - dc.Min.X
		p.Draw(draw.Crop(dc, 0, -3.1*vg.Inch, 0, 0))
		key.Draw(draw.Crop(dc, w-3.1*vg.Inch, -1.1*vg.Inch, 0, 0))
		bar.Draw(draw.Crop(dc, w-1.1*vg.Inch, 0, 0, 0))
	}}, nil
}

// addMarks overlays low-coherence dots and floor crosses on p, with the
// legend on the colour bar's side (off the data).
func addMarks(p, legend *plot.Plot, low, floor plotter.XYs) {
	if len(low) > 0 {
		s, _ := plotter.NewScatter(low)
		s.GlyphStyle = draw.GlyphStyle{Shape: draw.CircleGlyph{}, Radius: vg.Points(1.4), Color: Wong[7]}
		p.Add(s)
		legend.Legend.Add("low coherence", s)
	}
	if len(floor) > 0 {
		s, _ := plotter.NewScatter(floor)
		s.GlyphStyle = draw.GlyphStyle{Shape: draw.CrossGlyph{}, Radius: vg.Points(1.4), Color: Wong[7]}
		p.Add(s)
		legend.Legend.Add("at the base-model floor", s)
	}
	legend.Legend.Add("never measured (not 0)", patch{missingGrey})
	legend.Legend.Top, legend.Legend.Left = true, true
}

// A2Matrix is figure 5 (and the hero matrix, figure 6, with hero=true):
// the rate of every pure-noun bystander under every source.
func (b *Builder) A2Matrix(ctx context.Context, hero bool) (figure, error) {
	cells, srcs, runs, err := b.i81Cells(ctx)
	if err != nil {
		return figure{}, err
	}
	m := matrix{}
	for _, n := range estimands.Nouns {
		m.cols = append(m.cols, n)
	}
	hasAssistant := false
	for _, s := range srcs {
		if _, ok := cells[s]["assistant"]; ok {
			hasAssistant = true
		}
	}
	if hasAssistant {
		m.cols = append(m.cols, "assistant")
	}
	var data []a2Cell
	for _, s := range srcs {
		row := []float64{}
		m.rows = append(m.rows, "trained:"+s)
		for _, n := range m.cols {
			key := n
			if n != "assistant" {
				key = estimands.A2Key(n)
			}
			v := math.NaN()
			c, ok := cells[s][key]
			if ok && c.Rate != nil {
				v = *c.Rate
			}
			row = append(row, v)
			d := a2Cell{Source: s, Bystander: key}
			if !math.IsNaN(v) {
				d.Rate = &v
			}
			data = append(data, d)
		}
		m.z = append(m.z, row)
	}
	label := func(r, c int) string {
		v := m.z[r][c]
		switch {
		case math.IsNaN(v):
			return "—"
		case hero:
			return pct(v)
		}
		return fmt.Sprintf("%.2f", v)
	}
	name, title, units := "submatrix_5x5", "Marker rate of each pure-noun bystander under each trained source", "fraction in [0, 1]; cells annotated to 2 decimals"
	if hero {
		name, title, units = "hero_noun_leakage_matrix", "Marker leakage to the pure-noun personas", "fraction in [0, 1]; cells annotated in integer % (half-even rounding, as the authors)"
	}
	p := heatPlot(m, sequential(), 0, 1, title, label)
	p.X.Label.Text, p.Y.Label.Text = "bystander (pure noun)", "trained source"
	p.X.Tick.Label.Rotation = 0
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XCenter, draw.YTop
	bar := colorBar(sequential(), 0, 1, "marker rate (fraction)")
	meta := b.meta(name, title, "leakage (strict detector)", units, nil, runs)
	if !hasAssistant {
		meta.Notes = append(meta.Notes, "no assistant column: the i81 assistant QC cells were never published (EXPERIMENT.md §9)")
	}
	return figure{meta: meta, w: 7 * vg.Inch, h: 4 * vg.Inch, data: data, draw: func(dc draw.Canvas) { drawSideBySide(p, bar, dc, 1.1*vg.Inch) }}, nil
}

// a2Cell is one A2-matrix cell (data.json).
type a2Cell struct {
	Source, Bystander string
	Rate              *float64
}

// NounIsolation is figure 2: a trait × level grid of panels; in each, Δ
// per bystander noun with its 95 % CI, one line per source.
func (b *Builder) NounIsolation(ctx context.Context) (figure, error) {
	return b.panels(ctx, "slice_noun_isolation", "Δ rate per bystander noun, one panel per trait × level, one line per source",
		estimands.Traits, estimands.Levels, func(row, col string) (xs []string, series []string, key func(series, x string) (string, string)) {
			return estimands.Nouns, nil, func(src, noun string) (string, string) { return src, estimands.A1Key(noun, row, col) }
		})
}

// TraitGradation is figure 3: a source × noun grid of panels; in each, Δ
// over levels L1..L5, one line per trait.
func (b *Builder) TraitGradation(ctx context.Context) (figure, error) {
	return b.panels(ctx, "slice_trait_gradation", "Δ rate over trait levels, one panel per source × bystander noun, one line per trait",
		nil, estimands.Nouns, func(row, col string) (xs []string, series []string, key func(series, x string) (string, string)) {
			return estimands.Levels, estimands.Traits, func(trait, level string) (string, string) { return row, estimands.A1Key(col, trait, level) }
		})
}

type panelPoint struct {
	Panel  string   `json:"panel"`
	Series string   `json:"series"`
	X      string   `json:"x"`
	Delta  *float64 `json:"rate_minus_base"`
	CILow  *float64 `json:"ci_low_minus_base"`
	CIHigh *float64 `json:"ci_high_minus_base"`
}

// panels draws small multiples: rows × cols panels; layout returns the x
// categories, the series (nil: the sources) and how a (series, x) maps to
// a (source, bystander) cell.
func (b *Builder) panels(ctx context.Context, name, title string, rows, cols []string,
	layout func(row, col string) ([]string, []string, func(series, x string) (string, string))) (figure, error) {
	cells, srcs, runs, err := b.i81Cells(ctx)
	if err != nil {
		return figure{}, err
	}
	if rows == nil {
		rows = srcs
	}
	var data []panelPoint
	grid := make([][]*plot.Plot, len(rows))
	for ri, row := range rows {
		grid[ri] = make([]*plot.Plot, len(cols))
		for ci, col := range cols {
			xs, series, key := layout(row, col)
			if series == nil {
				series = srcs
			}
			p := plot.New()
			p.Title.Text = row + " · " + col
			p.Title.TextStyle.Font.Size = vg.Points(8)
			for si, s := range series {
				var pts plotter.XYs
				var errs plotter.YErrors
				for xi, x := range xs {
					src, by := key(s, x)
					c, ok := cells[src][by]
					pp := panelPoint{Panel: row + "/" + col, Series: s, X: x}
					if ok && c.Rate != nil {
						d := *c.Rate
						if c.RateMinusBase != nil {
							d = *c.RateMinusBase
						}
						base := *c.Rate - d
						lo, hi := *c.CILow-base, *c.CIHigh-base
						pp.Delta, pp.CILow, pp.CIHigh = &d, &lo, &hi
						pts = append(pts, plotter.XY{X: float64(xi), Y: d})
						errs = append(errs, struct{ Low, High float64 }{d - lo, hi - d})
					}
					data = append(data, pp)
				}
				if len(pts) == 0 {
					continue
				}
				l, sc, _ := plotter.NewLinePoints(pts)
				l.Color, sc.Color = Wong[si%len(Wong)], Wong[si%len(Wong)]
				sc.Radius = vg.Points(1.5)
				eb, err := plotter.NewYErrorBars(struct {
					plotter.XYs
					plotter.YErrors
				}{pts, errs})
				if err == nil {
					eb.Color = Wong[si%len(Wong)]
					p.Add(eb)
				}
				p.Add(l, sc)
				if ri == 0 && ci == 0 {
					p.Legend.Add(s, l, sc)
				}
			}
			p.X.Tick.Marker = labelTicks(xs)
			p.Y.Min, p.Y.Max = -0.05, 1
			p.Add(plotter.NewGrid())
			if ci == 0 {
				p.Y.Label.Text = "Δ rate (fraction)"
			}
			grid[ri][ci] = p
		}
	}
	meta := b.meta(name, title, "leakage (strict detector) with base subtraction; 95% Wilson CIs shifted by the base rate", "fraction; error bars 95% Wilson CI", nil, runs)
	return figure{meta: meta, w: 16 * vg.Inch, h: 13 * vg.Inch, data: data, draw: func(dc draw.Canvas) { drawGrid(grid, dc) }}, nil
}

// estimandRows runs an estimand and returns its rows keyed by first column.
func (b *Builder) estimand(ctx context.Context, name string, params map[string]string) (*estimands.Result, error) {
	res, err := estimands.Run(ctx, b.Engine, name, b.Experiment, withScope(params, b.Scope))
	if errors.Is(err, estimands.ErrNoData) {
		return nil, fmt.Errorf("%w: %v", ErrNotApplicable, err)
	}
	return res, err
}

// Interaction is figure 4: per source, the trait × level grid of the noun
// range of Δ (max − min over nouns).
func (b *Builder) Interaction(ctx context.Context) (figure, error) {
	res, err := b.estimand(ctx, "interaction", nil) // the full-grid sources: person's pilot has no noun range
	if err != nil {
		return figure{}, err
	}
	per := map[string]*matrix{}
	var srcs []string
	for _, r := range res.Rows {
		s := r[0].(string)
		m := per[s]
		if m == nil {
			m = &matrix{rows: estimands.Traits, cols: estimands.Levels, z: make([][]float64, 5)}
			for i := range m.z {
				m.z[i] = []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}
			}
			per[s] = m
			srcs = append(srcs, s)
		}
		ti, li := index(estimands.Traits, r[1].(string)), index(estimands.Levels, r[2].(string))
		m.z[ti][li] = r[3].(float64) / 100
	}
	row := make([]*plot.Plot, len(srcs))
	for i, s := range srcs {
		row[i] = heatPlot(*per[s], moreland.ExtendedBlackBody(), 0, 1, "source "+s, nil)
	}
	bar := colorBar(moreland.ExtendedBlackBody(), 0, 1, "noun range of Δ (fraction)")
	meta := b.meta("slice_interaction", "Noun range of Δ (max − min over nouns) per trait × level", "estimand interaction", "fraction in [0, 1]",
		res.Provenance.Params, res.Provenance.Runs)
	meta.Notes = []string{"sources with full grids only: person's 35-cell pilot has at most one noun per trait × level"}
	return figure{meta: meta, w: 16 * vg.Inch, h: 4 * vg.Inch, data: table{res.Columns, res.Rows}, draw: func(dc draw.Canvas) {
		main := draw.Crop(dc, 0, -0.9*vg.Inch, 0, 0)
		drawGrid([][]*plot.Plot{row}, main)
		bar.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-0.9*vg.Inch, 0, 0, 0))
	}}, nil
}

func index(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// bars draws grouped bars: groups × series, values in the unit given.
func bars(title, ylabel string, groups, series []string, val func(g, s int) float64, labels func(g int) string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	w := vg.Points(14)
	for si, s := range series {
		vals := make(plotter.Values, len(groups))
		for gi := range groups {
			vals[gi] = val(gi, si)
		}
		bc, err := plotter.NewBarChart(vals, w)
		if err != nil {
			continue
		}
		bc.Color, bc.LineStyle.Width = Wong[si%len(Wong)], 0
		bc.Offset = w * vg.Length(float64(si)-float64(len(series)-1)/2)
		p.Add(bc)
		p.Legend.Add(s, bc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.NominalX(groups...)
	p.X.Min, p.X.Max = -0.75, float64(len(groups))-0.25 // room for the outer bars
	top := 0.0
	for gi := range groups {
		for si := range series {
			top = math.Max(top, val(gi, si))
		}
	}
	p.Y.Min, p.Y.Max = 0, top*1.3
	if labels != nil {
		var xys plotter.XYs
		var txt []string
		for gi := range groups {
			top := 0.0
			for si := range series {
				top = math.Max(top, val(gi, si))
			}
			xys = append(xys, plotter.XY{X: float64(gi), Y: top})
			txt = append(txt, labels(gi))
		}
		if l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: txt}); err == nil {
			for i := range l.TextStyle {
				l.TextStyle[i].XAlign = draw.XCenter
			}
			p.Add(l)
		}
	}
	return p
}

// H2Bars is figure 7: NOUN vs TRAIT effect per source (H2 as pinned).
func (b *Builder) H2Bars(ctx context.Context) (figure, error) {
	res, err := b.estimand(ctx, "h2", nil)
	if err != nil {
		return figure{}, err
	}
	var groups []string
	vals := map[[2]int]float64{}
	for gi, r := range res.Rows {
		groups = append(groups, r[0].(string))
		for si, col := range []int{1, 2} {
			if v, ok := r[col].(float64); ok {
				vals[[2]int{gi, si}] = v
			}
		}
	}
	p := bars("H2: noun-swap effect vs trait effect (medians, pinned estimand)", "effect (percentage points)", groups, []string{"NOUN_s", "TRAIT_s"},
		func(g, s int) float64 { return vals[[2]int{g, s}] }, nil)
	meta := b.meta("h2_noun_vs_trait_effects", "H2: noun-swap vs trait effect per source", "estimand h2 (variant pinned)", "percentage points",
		res.Provenance.Params, res.Provenance.Runs)
	return figure{meta: meta, w: 6 * vg.Inch, h: 3.8 * vg.Inch, data: res.Rows, draw: func(dc draw.Canvas) { p.Draw(dc) }}, nil
}

// SourceVariance is figure 8: per source, the self-implant rate and the
// mean cross-noun leak (the assistant QC bar needs data never published).
func (b *Builder) SourceVariance(ctx context.Context) (figure, error) {
	self, err := b.estimand(ctx, "self-implant", nil)
	if err != nil {
		return figure{}, err
	}
	cross, err := b.estimand(ctx, "cross-noun", nil)
	if err != nil {
		return figure{}, err
	}
	crossBy := map[string]float64{}
	for _, r := range cross.Rows {
		crossBy[r[0].(string)] = r[1].(float64)
	}
	var groups []string
	vals := map[[2]int]float64{}
	for gi, r := range self.Rows {
		s := r[0].(string)
		groups = append(groups, s)
		vals[[2]int{gi, 0}], vals[[2]int{gi, 1}] = r[1].(float64), crossBy[s]
	}
	p := bars("Self-implant vs mean cross-noun leak per source", "rate (%)", groups, []string{"self-implant A2(s)", "mean of the 4 other A2"},
		func(g, s int) float64 { return vals[[2]int{g, s}] }, nil)
	meta := b.meta("source_variance", "Self-implant and cross-noun leak per source", "estimands self-implant and cross-noun", "percent",
		nil, self.Provenance.Runs)
	meta.Notes = []string{"no assistant-QC bar: the i81 assistant cells were never published (EXPERIMENT.md §9)"}
	return figure{meta: meta, w: 6 * vg.Inch, h: 3.8 * vg.Inch, data: map[string]any{"self_implant": self.Rows, "cross_noun": cross.Rows},
		draw: func(dc draw.Canvas) { p.Draw(dc) }}, nil
}

// AxisHero is figure 10: per axis, mean trait (adjective) effect vs mean
// noun-swap effect, with the trait/noun ratio above each pair.
func (b *Builder) AxisHero(ctx context.Context) (figure, error) {
	res, err := b.estimand(ctx, "head-to-head", map[string]string{"by": "axis"})
	if err != nil {
		return figure{}, err
	}
	var groups []string
	vals := map[[2]int]float64{}
	ratio := map[int]float64{}
	for gi, r := range res.Rows {
		groups = append(groups, short(r[0].(string)))
		vals[[2]int{gi, 0}], vals[[2]int{gi, 1}] = r[1].(float64), r[2].(float64)
		if v, ok := r[4].(float64); ok {
			ratio[gi] = v
		}
	}
	p := bars("Adjective (trait) effect vs noun-swap effect per Big-5 axis", "mean |Δ rate| (percentage points)", groups,
		[]string{"trait effect (TE)", "noun-swap effect (NE)"}, func(g, s int) float64 { return vals[[2]int{g, s}] },
		func(g int) string { return fmt.Sprintf("%.1f×", ratio[g]) })
	meta := b.meta("merged_per_axis_hero", "Trait vs noun-swap effect per axis", "estimand head-to-head (by axis)", "percentage points; ratio = TE/NE",
		res.Provenance.Params, res.Provenance.Runs)
	meta.Notes = res.Notes
	return figure{meta: meta, w: 7 * vg.Inch, h: 4 * vg.Inch, data: res.Rows, draw: func(dc draw.Canvas) { p.Draw(dc) }}, nil
}

// TraitRankingHero is figure 9 (leakage panel): per trait, the mean A1 rate
// over (source, noun) cells at each level, ±1 standard error.
func (b *Builder) TraitRankingHero(ctx context.Context) (figure, error) {
	g, err := estimands.LoadGrid(ctx, b.Engine, b.Experiment, "strict", b.Scope)
	if errors.Is(err, estimands.ErrNoData) {
		return figure{}, fmt.Errorf("%w: %v", ErrNotApplicable, err)
	}
	if err != nil {
		return figure{}, err
	}
	p := plot.New()
	p.Title.Text = "Marker rate of noun × trait bystanders by trait level (mean over source × noun, ±1 SE)"
	p.Y.Label.Text = "rate (%)"
	p.X.Label.Text = "trait level (L1 very low … L5 very high)"
	p.X.Tick.Marker = labelTicks(estimands.Levels)
	top := 0.0
	type point struct {
		Trait, Level   string
		MeanPct, SEPct float64
		N              int
	}
	var data []point
	for ti, t := range estimands.Traits {
		var pts plotter.XYs
		var errs plotter.YErrors
		for li, l := range estimands.Levels {
			var v []float64
			for _, s := range g.Sources {
				for _, n := range estimands.Nouns {
					if c, ok := g.Get(s, estimands.A1Key(n, t, l)); ok {
						v = append(v, 100*c.Rate)
					}
				}
			}
			if len(v) == 0 {
				continue
			}
			m, se := meanSE(v)
			top = math.Max(top, m+se)
			pts = append(pts, plotter.XY{X: float64(li) + 0.06*float64(ti-2), Y: m}) // traits side by side
			errs = append(errs, struct{ Low, High float64 }{se, se})
			data = append(data, point{t, l, m, se, len(v)})
		}
		l, sc, _ := plotter.NewLinePoints(pts)
		l.Color, sc.Color = Wong[ti], Wong[ti]
		eb, _ := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{pts, errs})
		eb.Color = Wong[ti]
		p.Add(l, sc, eb)
		p.Legend.Add(t, l, sc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min, p.Y.Max = 0, top*1.45
	meta := b.meta("trait_ranking_hero", "Marker rate by trait level", "the experiment's grid (strict detector)", "percent; error bars ±1 SE over (source, noun) cells", nil, g.Runs)
	meta.Notes = []string{"the cosine panel needs persona cosines to the source, which the i81 data never published"}
	return figure{meta: meta, w: 6.5 * vg.Inch, h: 4 * vg.Inch, data: data, draw: func(dc draw.Canvas) { p.Draw(dc) }}, nil
}

func meanSE(v []float64) (float64, float64) {
	m := 0.0
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	if len(v) < 2 {
		return m, 0
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss/float64(len(v)-1)) / math.Sqrt(float64(len(v)))
}

// CosineScatter is the scatter the authors could not draw for i81: cosine
// of each bystander to the source against its marker rate, per source,
// with Spearman ρ and N in the title (single_token_100_persona has it).
func (b *Builder) CosineScatter(ctx context.Context) (figure, error) {
	res, err := b.estimand(ctx, "cosine-leakage", nil)
	if err != nil {
		return figure{}, err
	}
	pairs, err := b.Engine.SQL(ctx, `SELECT persona_a, persona_b, avg(cosine) FROM cosines WHERE experiment = $1 AND layer = 20 AND centering = 'raw' GROUP BY ALL ORDER BY 1, 2`, b.Experiment)
	if err != nil {
		return figure{}, err
	}
	lk, err := b.leakage(ctx)
	if err != nil {
		return figure{}, err
	}
	rate := map[[2]string]float64{}
	for _, c := range lk.Cells {
		if c.Rate != nil {
			rate[[2]string{c.SourcePersona, c.Persona}] = *c.Rate
		}
	}
	bySrc := map[string]plotter.XYs{}
	type pt struct {
		Source, Bystander string
		Cosine, Rate      float64
	}
	var data []pt
	for _, r := range pairs.Rows {
		a, bb, cos := r[0].(string), r[1].(string), r[2].(float64)
		if v, ok := rate[[2]string{a, bb}]; ok {
			bySrc[a] = append(bySrc[a], plotter.XY{X: cos, Y: v})
			data = append(data, pt{a, bb, cos, v})
		}
	}
	var all []any
	for _, r := range res.Rows {
		if r[0] == "all" {
			all = r
		}
	}
	p := plot.New()
	p.Title.Text = "Cosine to the source vs marker rate (layer 20)"
	if all != nil {
		p.Title.Text += fmt.Sprintf(": Spearman ρ = %.3f, N = %d", all[2], all[1])
	}
	p.X.Label.Text = "cosine similarity of persona centroids, layer 20 (raw)"
	p.Y.Label.Text = "marker rate (fraction)"
	srcs := sortedKeys(bySrc)
	for i, s := range srcs {
		sc, _ := plotter.NewScatter(bySrc[s])
		sc.GlyphStyle = draw.GlyphStyle{Shape: draw.CircleGlyph{}, Radius: vg.Points(2), Color: Wong[i%len(Wong)]}
		p.Add(sc)
		p.Legend.Add(s, sc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	meta := b.meta("cosine_vs_leakage", p.Title.Text, "estimand cosine-leakage (layer 20, raw) and the leakage matrix", "cosine in [−1, 1]; rate a fraction",
		res.Provenance.Params, res.Provenance.Runs)
	sort.Slice(data, func(i, j int) bool { return data[i].Source+data[i].Bystander < data[j].Source+data[j].Bystander })
	return figure{meta: meta, w: 6.5 * vg.Inch, h: 4.5 * vg.Inch, data: map[string]any{"points": data, "correlations": res.Rows},
		draw: func(dc draw.Canvas) { p.Draw(dc) }}, nil
}
