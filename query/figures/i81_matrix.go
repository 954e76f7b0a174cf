package figures

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/presets/i81"
)

// A2Matrix is figure 5 (and the hero matrix, figure 6, with hero=true):
// the rate of every pure-noun bystander under every source.
func (b *Builder) A2Matrix(ctx context.Context, hero bool) (figure, error) {
	cells, srcs, runs, err := b.i81Cells(ctx)
	if err != nil {
		return figure{}, err
	}
	m := matrix{}
	for _, n := range i81.Nouns {
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
		m.rows = append(m.rows, s)
		for _, n := range m.cols {
			key := n
			if n != "assistant" {
				key = i81.A2Key(n)
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
	// One unit for a rate everywhere: a fraction, annotated to 2 decimals
	// (the authors printed integer percent; 0.155 reads 0.15 here and in
	// the submatrix alike).
	label := func(r, c int) string {
		if v := m.z[r][c]; !math.IsNaN(v) {
			return fmt.Sprintf("%.2f", v)
		}
		return "n/a"
	}
	name, title, units := "submatrix_5x5", "Marker rate of each pure-noun bystander under each trained source", "fraction in [0, 1]; cells annotated to 2 decimals"
	if hero {
		name, title, units = "hero_noun_leakage_matrix", "Marker leakage to the pure-noun personas", "fraction in [0, 1]; cells annotated to 2 decimals"
	}
	p := heatPlot(m, sequential(), 0, 1, title, label)
	if hero {
		p.Title.TextStyle.Font.Size = vg.Points(titlePt + 1)
	}
	p.X.Label.Text, p.Y.Label.Text = "bystander (pure noun)", "trained source"
	p.X.Tick.Label.Rotation = 0
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XCenter, draw.YTop
	bar := colorBar(sequential(), 0, 1, rateUnits)
	meta := b.meta(name, title, "leakage (strict detector)", units, nil, runs)
	if !hasAssistant {
		meta.Notes = append(meta.Notes, "no assistant column: the i81 assistant QC cells were never published (EXPERIMENT.md §9)")
	}
	return figure{meta: meta, w: 6 * vg.Inch, h: 4 * vg.Inch, data: data, draw: func(dc draw.Canvas) { drawSideBySide(p, bar, dc, 0.9*vg.Inch) },
		axes: []figAxis{categoryAxis("x", &p.X), categoryAxis("y", &p.Y), valueAxis("colour bar", &bar.Y)}}, nil
}

// a2Cell is one A2-matrix cell (data.json).
type a2Cell struct {
	Source, Bystander string
	Rate              *float64
}
