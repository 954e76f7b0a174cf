package figures

import (
	"context"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/presets/i81"
)

// NounIsolation is figure 2: a trait × level grid of panels; in each, Δ
// per bystander noun with its 95 % CI, one line per source.
func (b *Builder) NounIsolation(ctx context.Context) (figure, error) {
	return b.panels(ctx, "slice_noun_isolation", "Δ rate per bystander noun, one panel per trait × level, one line per source",
		i81.Traits, i81.Levels, func(row, col string) (xs []string, series []string, key func(series, x string) (string, string)) {
			return i81.Nouns, nil, func(src, noun string) (string, string) { return src, i81.A1Key(noun, row, col) }
		})
}

// TraitGradation is figure 3: a source × noun grid of panels; in each, Δ
// over levels L1..L5, one line per trait.
func (b *Builder) TraitGradation(ctx context.Context) (figure, error) {
	return b.panels(ctx, "slice_trait_gradation", "Δ rate over trait levels, one panel per source × bystander noun, one line per trait",
		nil, i81.Nouns, func(row, col string) (xs []string, series []string, key func(series, x string) (string, string)) {
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
	return figure{meta: meta, w: 16 * vg.Inch, h: 13 * vg.Inch, data: data, draw: func(dc draw.Canvas) { drawGrid(grid, dc) },
		axes: []figAxis{valueAxis("y", &grid[0][0].Y), categoryAxis("x", &grid[len(grid)-1][0].X)}}, nil
}
