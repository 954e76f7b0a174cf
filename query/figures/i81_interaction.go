package figures

import (
	"context"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/presets/i81"
)

// interactionTop is the top of the interaction's colour scale, in pp.
const interactionTop = 100.0

// Interaction is figure 4: per source, the trait × level grid of the noun
// range of Δ (max − min over nouns), in percentage points.
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
			m = &matrix{rows: i81.Traits, cols: i81.Levels, z: make([][]float64, len(i81.Traits))}
			for i := range m.z {
				m.z[i] = make([]float64, len(i81.Levels))
				for j := range m.z[i] {
					m.z[i][j] = math.NaN()
				}
			}
			per[s] = m
			srcs = append(srcs, s)
		}
		ti, li := index(i81.Traits, r[1].(string)), index(i81.Levels, r[2].(string))
		m.z[ti][li] = r[3].(float64) // pp, as the estimand gives it
	}
	row := make([]*plot.Plot, len(srcs))
	for i, s := range srcs {
		row[i] = heatPlot(*per[s], sequential(), 0, interactionTop, "source "+s, nil)
		row[i].Title.TextStyle.Font.Size = vg.Points(labelPt)
		row[i].X.Tick.Label.Rotation = 0
		row[i].X.Tick.Label.XAlign, row[i].X.Tick.Label.YAlign = draw.XCenter, draw.YTop
		if i > 0 {
			row[i].Y.Tick.Marker = labelTicks(make([]string, len(i81.Traits)))
		} else {
			row[i].Y.Label.Text = "trait"
		}
	}
	bar := colorBar(sequential(), 0, interactionTop, "noun range of Δ rate (pp)")
	title := "Noun range of Δ rate (max − min over the 5 nouns) per trait × level"
	meta := b.meta("slice_interaction", "Noun range of Δ (max − min over nouns) per trait × level", "estimand interaction", "percentage points",
		res.Provenance.Params, res.Provenance.Runs)
	meta.Notes = []string{"sources with full grids only: person's 35-cell pilot has at most one noun per trait × level"}
	return figure{meta: meta, w: 7 * vg.Inch, h: 2.6 * vg.Inch, data: table{res.Columns, res.Rows}, draw: func(dc draw.Canvas) {
		dc = drawTitle(dc, title)
		main := draw.Crop(dc, 0, -0.85*vg.Inch, 0, 0)
		bar.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-0.75*vg.Inch, 0, 0, 0))
		main = drawCaption(main, "trait level")
		drawGrid([][]*plot.Plot{row}, main)
	}, axes: []figAxis{captionAxis("x", "trait level"), categoryAxis("y", &row[0].Y), valueAxis("colour bar", &bar.Y)}}, nil
}
