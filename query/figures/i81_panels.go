package figures

import (
	"context"
	"image/color"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/presets/i81"
)

// NounIsolation is figure 2: a trait × level grid of panels; in each, Δ
// per bystander noun with its 95 % Wilson interval, one line per source.
func (b *Builder) NounIsolation(ctx context.Context) (figure, error) {
	return b.panels(ctx, "slice_noun_isolation", "Δ rate per bystander noun (rows: trait; columns: level; lines: trained source)",
		"bystander noun", "trained source", i81.Traits, i81.Levels, func(row, col string) (xs []string, series []string, key func(series, x string) (string, string)) {
			return i81.Nouns, nil, func(src, noun string) (string, string) { return src, i81.A1Key(noun, row, col) }
		})
}

// TraitGradation is figure 3: a source × noun grid of panels; in each, Δ
// over levels L1..L5 with its 95 % Wilson interval, one line per trait.
func (b *Builder) TraitGradation(ctx context.Context) (figure, error) {
	return b.panels(ctx, "slice_trait_gradation", "Δ rate over trait levels (rows: trained source; columns: bystander noun; lines: trait)",
		"trait level", "trait", nil, i81.Nouns, func(row, col string) (xs []string, series []string, key func(series, x string) (string, string)) {
			return i81.Levels, i81.Traits, func(trait, level string) (string, string) { return row, i81.A1Key(col, trait, level) }
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
// a (source, bystander) cell. Values are drawn in percentage points, each
// with its 95 % Wilson interval shifted by the base rate; the legend is a
// key row under the panels.
func (b *Builder) panels(ctx context.Context, name, title, xCaption, seriesWord string, rows, cols []string,
	layout func(row, col string) ([]string, []string, func(series, x string) (string, string))) (figure, error) {
	cells, srcs, runs, err := b.i81Cells(ctx)
	if err != nil {
		return figure{}, err
	}
	rowWord := "trait"
	if rows == nil {
		rows, rowWord = srcs, "source"
	}
	var data []panelPoint
	var key []keyEntry
	grid := make([][]*plot.Plot, len(rows))
	for ri, row := range rows {
		grid[ri] = make([]*plot.Plot, len(cols))
		for ci, col := range cols {
			xs, series, key0 := layout(row, col)
			if series == nil {
				series = srcs
			}
			p := newPlot()
			if ri == 0 {
				p.Title.Text = col
				if rowWord == "source" {
					p.Title.Text = "bystander " + col
				}
				p.Title.TextStyle.Font.Size = vg.Points(labelPt)
			}
			for si, s := range series {
				var pts plotter.XYs
				var errs plotter.YErrors
				for xi, x := range xs {
					src, by := key0(s, x)
					c, ok := cells[src][by]
					pp := panelPoint{Panel: row + "/" + col, Series: s, X: x}
					if ok && c.Rate != nil {
						d := *c.Rate
						if c.RateMinusBase != nil {
							d = *c.RateMinusBase
						}
						pp.Delta = &d
						pts = append(pts, plotter.XY{X: float64(xi), Y: 100 * d})
						if c.CILow != nil && c.CIHigh != nil {
							base := *c.Rate - d
							lo, hi := *c.CILow-base, *c.CIHigh-base
							pp.CILow, pp.CIHigh = &lo, &hi
							errs = append(errs, struct{ Low, High float64 }{100 * (d - lo), 100 * (hi - d)})
						} else {
							errs = append(errs, struct{ Low, High float64 }{})
						}
					}
					data = append(data, pp)
				}
				if len(pts) == 0 {
					continue
				}
				col := Wong[si%len(Wong)]
				l, sc, _ := plotter.NewLinePoints(pts)
				l.Color, sc.Color = col, col
				l.Width = vg.Points(0.8)
				sc.Radius = vg.Points(1.3)
				eb, err := plotter.NewYErrorBars(struct {
					plotter.XYs
					plotter.YErrors
				}{pts, errs})
				if err == nil {
					eb.Color, eb.Width, eb.CapWidth = col, vg.Points(0.7), vg.Points(3)
					p.Add(eb)
				}
				p.Add(l, sc)
				if ri == 0 && ci == 0 {
					key = append(key, keyEntry{s, lineKeyThumb{col}})
				}
			}
			tl := xs
			if ri < len(rows)-1 {
				tl = make([]string, len(xs)) // tick labels on the bottom row only
			}
			p.X.Tick.Marker = labelTicks(tl)
			p.X.Min, p.X.Max = -0.4, float64(len(xs))-0.6
			if len(strings.Join(xs, "")) > 12 {
				p.X.Tick.Label.Rotation = 1.5707963267948966
				p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
			}
			p.Y.Min, p.Y.Max = -5, 100
			if ci == 0 {
				p.Y.Label.Text = row + "\nΔ rate (pp)"
				if rowWord == "source" {
					p.Y.Label.Text = "source " + row + "\nΔ rate (pp)"
				}
				p.Y.Tick.Marker = ticks{{Value: 0, Label: "0"}, {Value: 50, Label: "50"}, {Value: 100, Label: "100"}}
			} else {
				p.Y.Tick.Marker = ticks{{Value: 0, Label: ""}, {Value: 50, Label: ""}, {Value: 100, Label: ""}}
			}
			p.Add(plotter.NewGrid())
			grid[ri][ci] = p
		}
	}
	for i := range key {
		key[i].label = seriesWord + " " + key[i].label
	}
	key = append(key, keyEntry{"bars: 95% Wilson interval", glyphKey{draw.GlyphStyle{Shape: barGlyph{}, Radius: vg.Points(3.5), Color: Wong[7]}}})
	meta := b.meta(name, title, "leakage (strict detector) with base subtraction; 95% Wilson CIs shifted by the base rate",
		"percentage points (Δ rate × 100); error bars 95% Wilson interval; data.json holds fractions", nil, runs)
	return figure{meta: meta, w: 7 * vg.Inch, h: 8.6 * vg.Inch, data: data, draw: func(dc draw.Canvas) {
		dc = drawTitle(dc, title)
		dc = drawKey(dc, key)
		dc = drawCaption(dc, xCaption)
		drawGrid(grid, dc)
	}, axes: []figAxis{valueAxis("y", &grid[0][0].Y), captionAxis("x", xCaption)}}, nil
}

// lineKeyThumb is a key swatch: a short line with its point.
type lineKeyThumb struct{ c color.Color }

func (k lineKeyThumb) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	ls := draw.LineStyle{Color: k.c, Width: vg.Points(1)}
	c.StrokeLine2(ls, c.Min.X, y, c.Max.X, y)
	c.DrawGlyph(draw.GlyphStyle{Shape: draw.CircleGlyph{}, Radius: vg.Points(1.5), Color: k.c}, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: y})
}

// barGlyph is an error bar with caps, for the key.
type barGlyph struct{}

func (barGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	ls := draw.LineStyle{Color: sty.Color, Width: vg.Points(0.7)}
	r := sty.Radius
	c.StrokeLine2(ls, pt.X, pt.Y-r, pt.X, pt.Y+r)
	c.StrokeLine2(ls, pt.X-r/2, pt.Y-r, pt.X+r/2, pt.Y-r)
	c.StrokeLine2(ls, pt.X-r/2, pt.Y+r, pt.X+r/2, pt.Y+r)
}
