package figures

import (
	"context"
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/query"
)

// The generic figures: heatmap, slice and source_cell, for any experiment,
// with axes picked from its design (axes.go, design.go).

const rateUnits = "rate (fraction 0–1)"

// heatPoint is one cell of the generic heatmap (data.json).
type heatPoint struct {
	Row string `json:"row"`
	Col string `json:"col"`
	agg
}

// designHeat is the generic heatmap's data.
type designHeat struct {
	RowAxis string      `json:"row_axis"`
	ColAxis string      `json:"col_axis"`
	Rows    []string    `json:"rows"`
	Cols    []string    `json:"cols"`
	Cells   []heatPoint `json:"cells"`
}

// rateOnlyNote is the note for plotted values without counts.
func rateOnlyNote(rateOnly, cells int) string {
	if rateOnly == 0 {
		return ""
	}
	return fmt.Sprintf("rate only, n unknown: %d of %d plotted cells give a rate without a count, so they have no interval", rateOnly, cells)
}

// DesignHeatmap is the rate over two axes of the design: by default runs ×
// bystanders, or factor × factor when the runs vary in exactly two run
// factors (Params rows, cols, persona).
func (b *Builder) DesignHeatmap(ctx context.Context) (figure, error) {
	d, err := b.generic(ctx)
	if err != nil {
		return figure{}, err
	}
	rows, cols := b.Params["rows"], b.Params["cols"]
	if rows == "" && cols == "" {
		vary := d.varyingRunFactors()
		if len(d.sources()) > 1 {
			vary = append(vary, "source")
		}
		rows, cols = "run", "persona"
		if len(vary) == 2 {
			rows, cols = vary[0], vary[1]
		}
	}
	rows, cols = orDefault(rows, "run"), orDefault(cols, "persona")
	if rows == cols {
		return figure{}, fmt.Errorf("%w: heatmap rows and cols are both %q", ErrBadParam, rows)
	}
	ra, err := d.axis(rows)
	if err != nil {
		return figure{}, err
	}
	ca, err := d.axis(cols)
	if err != nil {
		return figure{}, err
	}
	sel, words, err := b.selection(d, ra.run && ca.run)
	if err != nil {
		return figure{}, err
	}
	groups, runs := d.group(sel, func(c query.Cell, r *runDesign) ([2]string, bool) {
		rv, ok1 := ra.of(c, r)
		cv, ok2 := ca.of(c, r)
		return [2]string{rv, cv}, ok1 && ok2
	})
	if len(groups) == 0 {
		return figure{}, fmt.Errorf("%w: no measured cell of %s has both %s and %s", ErrNotApplicable, d.experiment, rows, cols)
	}
	data := designHeat{RowAxis: rows, ColAxis: cols}
	data.Rows = present(ra.order.values, func(v string) bool { return anyKey(groups, v, 0) })
	data.Cols = present(ca.order.values, func(v string) bool { return anyKey(groups, v, 1) })
	m := matrix{rows: data.Rows, cols: data.Cols, z: make([][]float64, len(data.Rows))}
	hi, rateOnly, plotted, pooled := 0.0, 0, 0, false
	for i, rv := range data.Rows {
		m.z[i] = make([]float64, len(data.Cols))
		for j, cv := range data.Cols {
			m.z[i][j] = math.NaN()
			cs := groups[[2]string{rv, cv}]
			if len(cs) == 0 {
				continue
			}
			a := aggregate(cs)
			pooled = pooled || len(cs) > 1
			rateOnly, plotted = rateOnly+a.RateOnly, plotted+a.Cells
			m.z[i][j] = *a.Rate
			hi = math.Max(hi, *a.Rate)
			data.Cells = append(data.Cells, heatPoint{rv, cv, a})
		}
	}
	hi = scaleTop(hi)
	title := fmt.Sprintf("%s: marker rate, %s × %s", d.experiment, rows, cols)
	if words != "" {
		title += " — " + words
	}
	// The paper's width: columns share what the row labels and the colour
	// bar leave; labels are thinned to every k-th where all would not fit
	// at the paper's type size (the interactive figure names every tile).
	w := clampLen(3*vg.Inch+vg.Length(len(data.Cols))*0.3*vg.Inch, 4.5*vg.Inch, paperWidth)
	tick := textStyle(vg.Points(tickPt))
	longest := func(ls []string) vg.Length {
		var m vg.Length
		for _, l := range ls {
			m = max(m, tick.Width(l))
		}
		return m
	}
	colLabW := longest(data.Cols) // drawn rotated: its length is height
	h := clampLen(1.3*vg.Inch+colLabW+vg.Length(len(data.Rows))*0.3*vg.Inch, 3*vg.Inch, 9*vg.Inch)
	dataW := w - 0.9*vg.Inch - longest(data.Rows) - 0.45*vg.Inch
	dataH := h - colLabW - 1.2*vg.Inch
	colLabels, kc := every(data.Cols, dataW, vg.Points(tickPt+3))
	rowLabels, kr := every(data.Rows, dataH, vg.Points(tickPt+3))
	var label func(r, c int) string
	if cw, ch := dataW/vg.Length(len(data.Cols)), dataH/vg.Length(len(data.Rows)); cw > tick.Width("0.00")+vg.Points(3) && ch > vg.Points(tickPt+3) {
		label = func(r, c int) string {
			if math.IsNaN(m.z[r][c]) {
				return ""
			}
			return fmt.Sprintf("%.2f", m.z[r][c])
		}
	}
	plotTitle := title
	if words != "" {
		plotTitle = fmt.Sprintf("%s: marker rate, %s × %s\n%s", d.experiment, rows, cols, words)
	}
	if rateOnly > 0 {
		plotTitle += "\n(rate only, n unknown: no intervals)"
	}
	p := heatPlot(m, sequential(), 0, hi, plotTitle, label)
	p.X.Tick.Marker = labelTicks(colLabels)
	p.Y.Tick.Marker = labelTicks(reverse(rowLabels))
	p.X.Label.Text, p.Y.Label.Text = ca.legend+thinned(kc), ra.legend+thinned(kr)
	bar := colorBar(sequential(), 0, hi, rateUnits)
	meta := b.meta("heatmap", title, "leakage matrix (strict detector; imported cells: the origin's counts or rates)", rateUnits,
		b.figParams(map[string]string{"rows": rows, "cols": cols, "persona": b.personaParam(d, sel != nil)}), sortedKeys(runs))
	meta.Notes = append(meta.Notes, d.notes...)
	if n := rateOnlyNote(rateOnly, plotted); n != "" {
		meta.Notes = append(meta.Notes, n)
	}
	if pooled {
		meta.Notes = append(meta.Notes, "a tile holding several cells shows their pooled found/total (the mean of the rates where any is rate only)")
	}
	meta.Notes = append(meta.Notes, fmt.Sprintf("colour scale 0 to %.2f; dark grey: no cell", hi))
	if kc > 1 || kr > 1 {
		meta.Notes = append(meta.Notes, fmt.Sprintf("tick labels thinned to fit the paper width: one in %d columns, one in %d rows labelled (the interactive figure names every tile)", kc, kr))
	}
	return figure{meta: meta, w: w, h: h, data: data, draw: func(dc draw.Canvas) { drawSideBySide(p, bar, dc, 0.9*vg.Inch) },
		axes: []figAxis{categoryAxis("x", &p.X), categoryAxis("y", &p.Y), valueAxis("colour bar", &bar.Y)}}, nil
}

// generic loads the design and checks the parameters.
func (b *Builder) generic(ctx context.Context) (*design, error) {
	if err := b.checkParams(); err != nil {
		return nil, err
	}
	d, err := b.design(ctx)
	if err != nil {
		return nil, err
	}
	if len(d.cells) == 0 {
		return nil, fmt.Errorf("%w: %s has no measured leakage cell in scope (a cosine- or text-only experiment?)", ErrNotApplicable, b.Experiment)
	}
	return d, nil
}

// selection is the persona filter: always when Params persona is set, and
// by default when every axis is run-level.
func (b *Builder) selection(d *design, runLevel bool) (func(query.Cell, *runDesign) bool, string, error) {
	if !runLevel && b.Params["persona"] == "" {
		return nil, "", nil
	}
	return d.pick(b.Params["persona"])
}

// personaParam is the resolved persona parameter ("" when unused).
func (b *Builder) personaParam(d *design, used bool) string {
	if !used {
		return ""
	}
	return d.personaChoice(b.Params["persona"])
}

// figParams are the resolved parameters, with the scope, for the meta.
func (b *Builder) figParams(p map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range p {
		if v != "" {
			out[k] = v
		}
	}
	if s := b.Scope.String(); s != "" {
		out["scope"] = s
	}
	if v := b.Params["source_persona"]; v != "" {
		out["source_persona"] = v
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func present(vals []string, ok func(string) bool) []string {
	var out []string
	for _, v := range vals {
		if ok(v) {
			out = append(out, v)
		}
	}
	return out
}

func anyKey(g map[[2]string][]query.Cell, v string, i int) bool {
	for k := range g {
		if k[i] == v {
			return true
		}
	}
	return false
}

// scaleTop is the colour scale's top: 1 above one half, else the maximum
// rounded up to 0.05 (at least 0.05), so low rates stay visible.
func scaleTop(hi float64) float64 {
	if hi > 0.5 {
		return 1
	}
	return math.Max(0.05, math.Ceil(hi*20-1e-9)/20)
}

// thinned says, in an axis label, that only every k-th tick is labelled.
func thinned(k int) string {
	if k <= 1 {
		return ""
	}
	return fmt.Sprintf(" (one label in %d)", k)
}

func clampLen(v, lo, hi vg.Length) vg.Length { return max(lo, min(hi, v)) }

// slicePoint is one point of the slice (data.json).
type slicePoint struct {
	Series string `json:"series"`
	X      string `json:"x"`
	agg
}

// designSlice is the slice's data.
type designSlice struct {
	X       string       `json:"x"`
	Series  string       `json:"series"`
	XValues []string     `json:"x_values"`
	Numeric bool         `json:"numeric"`
	Log     bool         `json:"log_scale"`
	Points  []slicePoint `json:"points"`
}

// Slice is the rate against one ordered factor, one line per value of
// another factor or per run (Params x, series, persona).
func (b *Builder) Slice(ctx context.Context) (figure, error) {
	d, err := b.generic(ctx)
	if err != nil {
		return figure{}, err
	}
	x := b.Params["x"]
	if x == "" {
		if x = d.defaultX(); x == "" {
			return figure{}, fmt.Errorf("%w: the slice needs a design factor with two or more values (a run factor such as lr or a persona factor such as level or category); %s", ErrNotApplicable, d.describe())
		}
	}
	xa, err := d.axis(x)
	if err != nil {
		return figure{}, err
	}
	series := b.Params["series"]
	if series == "" {
		series = d.defaultSeries(xa)
	}
	if series == x {
		return figure{}, fmt.Errorf("%w: slice x and series are both %q", ErrBadParam, x)
	}
	var sa *axis
	if series != "" && series != "none" {
		a, err := d.axis(series)
		if err != nil {
			return figure{}, err
		}
		sa = &a
	}
	sel, words, err := b.selection(d, xa.run && (sa == nil || sa.run))
	if err != nil {
		return figure{}, err
	}
	groups, runs := d.group(sel, func(c query.Cell, r *runDesign) ([2]string, bool) {
		xv, ok := xa.of(c, r)
		sv, ok2 := "all runs", true
		if sa != nil {
			sv, ok2 = sa.of(c, r)
		}
		return [2]string{sv, xv}, ok && ok2
	})
	if len(groups) == 0 {
		return figure{}, fmt.Errorf("%w: no measured cell of %s has a %s", ErrNotApplicable, d.experiment, x)
	}
	data := designSlice{X: x, Series: series, Numeric: xa.order.numeric, Log: xa.order.log}
	data.XValues = present(xa.order.values, func(v string) bool { return anyKey(groups, v, 1) })
	seriesVals := []string{"all runs"}
	if sa != nil {
		seriesVals = present(sa.order.values, func(v string) bool { return anyKey(groups, v, 0) })
	}
	pos := func(i int, v string) float64 {
		if xa.order.numeric {
			return xa.order.num[v]
		}
		return float64(i)
	}
	p := newPlot()
	title := fmt.Sprintf("%s: marker rate by %s", d.experiment, x)
	if sa != nil {
		title += ", one line per " + series
	}
	if words != "" {
		title += " — " + words
	}
	p.Title.Text = strings.Replace(title, " — ", "\n", 1)
	p.X.Label.Text, p.Y.Label.Text = xa.legend, rateUnits
	var tk ticks
	for i, v := range data.XValues {
		tk = append(tk, plot.Tick{Value: pos(i, v), Label: v})
	}
	p.X.Tick.Marker = tk
	if xa.order.log {
		p.X.Scale = plot.LogScale{}
		p.X.Label.Text += ", log scale"
	}
	if !xa.order.numeric {
		p.X.Min, p.X.Max = -0.5, float64(len(data.XValues))-0.5
		if len(data.XValues) > 6 {
			p.X.Tick.Label.Rotation = math.Pi / 4
			p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YTop
		}
	}
	top, rateOnly, plotted := 0.0, 0, 0
	for si, s := range seriesVals {
		col := Wong[si%len(Wong)]
		var pts, open plotter.XYs
		var bars plotter.XYs
		var errs plotter.YErrors
		for i, v := range data.XValues {
			cs := groups[[2]string{s, v}]
			if len(cs) == 0 {
				continue
			}
			a := aggregate(cs)
			rateOnly, plotted = rateOnly+a.RateOnly, plotted+a.Cells
			data.Points = append(data.Points, slicePoint{s, v, a})
			xy := plotter.XY{X: pos(i, v), Y: *a.Rate}
			pts = append(pts, xy)
			top = math.Max(top, *a.Rate)
			if a.RateOnly > 0 {
				open = append(open, xy)
			}
			if a.CILow != nil && a.CIHigh != nil {
				bars = append(bars, xy)
				errs = append(errs, struct{ Low, High float64 }{*a.Rate - *a.CILow, *a.CIHigh - *a.Rate})
				top = math.Max(top, *a.CIHigh)
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return figure{}, err
		}
		l.Color, sc.Color, sc.Radius = col, col, vg.Points(2.5)
		sc.Shape = draw.CircleGlyph{}
		p.Add(l, sc)
		if len(bars) > 0 {
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{bars, errs})
			if err == nil {
				eb.Color = col
				p.Add(eb)
			}
		}
		if len(open) > 0 { // rate only: a white centre, no bar
			o, _ := plotter.NewScatter(open)
			o.GlyphStyle = draw.GlyphStyle{Shape: draw.CircleGlyph{}, Radius: vg.Points(1.4), Color: color.White}
			p.Add(o)
		}
		if sa != nil {
			name := s
			if sa.name != "run" && sa.name != "source" {
				name = sa.name + "=" + s
			}
			p.Legend.Add(name, l, sc)
		}
	}
	if rateOnly > 0 {
		p.Legend.Add("rate only, n unknown (no interval)", glyphKey{draw.GlyphStyle{Shape: draw.RingGlyph{}, Radius: vg.Points(2.5), Color: Wong[7]}})
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min, p.Y.Max = 0, math.Min(1, math.Max(0.05, top*1.25))
	p.Add(plotter.NewGrid())
	meta := b.meta("slice", title, "leakage matrix (strict detector; imported cells: the origin's counts or rates)",
		rateUnits+"; error bars 95% Wilson interval on the point's counts, only where counts exist",
		b.figParams(map[string]string{"x": x, "series": series, "persona": b.personaParam(d, sel != nil)}), sortedKeys(runs))
	meta.Notes = append(meta.Notes, d.notes...)
	meta.Notes = append(meta.Notes, "a point holding several cells is their pooled found/total (the mean of the rates where any is rate only)")
	if n := rateOnlyNote(rateOnly, plotted); n != "" {
		meta.Notes = append(meta.Notes, n+" (hollow points, no bars)")
	}
	if xa.order.log {
		meta.Notes = append(meta.Notes, fmt.Sprintf("%s on a log scale: its values span two decades or more", x))
	}
	w := clampLen(3*vg.Inch+vg.Length(len(data.XValues))*0.45*vg.Inch, 5*vg.Inch, paperWidth)
	return figure{meta: meta, w: w, h: 4.5 * vg.Inch, data: data, draw: func(dc draw.Canvas) { p.Draw(dc) },
		axes: []figAxis{categoryAxis("x", &p.X), valueAxis("y", &p.Y)}}, nil
}

// defaultSeries is the slice's default line variable: for a persona factor
// on x, one line per run; for a run factor, one per value of another
// varying run factor, else per source; "" for a single line.
func (d *design) defaultSeries(x axis) string {
	if !x.run {
		if len(d.runs) > 1 {
			return "run"
		}
		return ""
	}
	for _, k := range d.varyingRunFactors() {
		if k != x.name {
			return k
		}
	}
	if len(d.sources()) > 1 && x.name != "source" {
		return "source"
	}
	return ""
}

// glyphKey is a legend entry of one glyph.
type glyphKey struct{ style draw.GlyphStyle }

func (g glyphKey) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(g.style, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2})
}

// group sorts the selected cells (sel nil: all) into the groups key gives
// them (a cell without a key is left out), and lists the runs they came from.
func (d *design) group(sel func(query.Cell, *runDesign) bool, key func(query.Cell, *runDesign) ([2]string, bool)) (map[[2]string][]query.Cell, map[string]bool) {
	groups, runs := map[[2]string][]query.Cell{}, map[string]bool{}
	for _, c := range d.cells {
		r := d.byRun[c.RunID]
		if sel != nil && !sel(c, r) {
			continue
		}
		if k, ok := key(c, r); ok {
			groups[k] = append(groups[k], c)
			runs[c.RunID] = true
		}
	}
	return groups, runs
}
