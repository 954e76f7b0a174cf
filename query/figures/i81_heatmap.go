package figures

import (
	"context"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/presets/i81"
)

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
	p := heatPlot(m, cm, -vmax, vmax, "Marker rate minus base-model rate, per source and bystander ("+i81.Name+" factorial)", nil)
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
	}, axes: []figAxis{categoryAxis("x", &p.X), categoryAxis("y", &p.Y), valueAxis("colour bar", &bar.Y)}}, nil
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
