package figures

import (
	"context"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/presets/i81"
)

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
	}, axes: []figAxis{categoryAxis("x", &row[0].X), categoryAxis("y", &row[0].Y), valueAxis("colour bar", &bar.Y)}}, nil
}
