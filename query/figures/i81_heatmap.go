package figures

import (
	"context"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/presets/i81"
)

// Heatmap is figure 1: Δ = rate − base, in percentage points, for sources ×
// 130 bystanders, drawn as one panel per bystander noun (its pure-noun
// column, then its 25 trait × level columns) so every column group is
// labelled at a readable size.
func (b *Builder) Heatmap(ctx context.Context) (figure, error) {
	hc, srcs, runs, err := b.heatCells(ctx)
	if err != nil {
		return figure{}, err
	}
	cols := columns()
	per := len(cols) / len(i81.Nouns) // 1 pure noun + traits × levels
	vmax := 10.0                      // pp: the scale is at least ±10 pp
	for _, h := range hc {
		if !h.Missing {
			vmax = math.Max(vmax, math.Abs(100**h.RateMinusBase))
		}
	}
	vmax = math.Ceil(vmax/10) * 10
	// Tick labels: the trait's initial at the centre of its level columns.
	var traitTicks ticks
	for ti, t := range i81.Traits {
		c := 1 + ti*len(i81.Levels)
		traitTicks = append(traitTicks, plot.Tick{Value: float64(c) + float64(len(i81.Levels)-1)/2, Label: strings.ToUpper(t[:1])})
		traitTicks = append(traitTicks, plot.Tick{Value: float64(c) - 0.5})
	}
	var panels []*plot.Plot
	var low, floor plotter.XYs
	for ni, noun := range i81.Nouns {
		m := matrix{cols: make([]string, per), rows: srcs, z: make([][]float64, len(srcs))}
		var nlow, nfloor plotter.XYs
		for r := range srcs {
			m.z[r] = make([]float64, per)
			for c := 0; c < per; c++ {
				h := hc[r*len(cols)+ni*per+c]
				m.z[r][c] = math.NaN()
				if h.Missing {
					continue
				}
				m.z[r][c] = 100 * *h.RateMinusBase
				y := float64(len(srcs) - 1 - r)
				if h.LowCoherence {
					nlow = append(nlow, plotter.XY{X: float64(c), Y: y})
				}
				if h.NSFloor {
					nfloor = append(nfloor, plotter.XY{X: float64(c), Y: y})
				}
			}
		}
		p := heatPlot(m, diverging(), -vmax, vmax, noun, nil)
		p.Title.TextStyle.Font.Size = vg.Points(labelPt)
		p.X.Tick.Marker = traitTicks
		p.X.Tick.Label.Rotation = 0
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XCenter, draw.YTop
		if ni > 0 {
			p.Y.Tick.Marker = labelTicks(make([]string, len(srcs)))
		} else {
			p.Y.Label.Text = "trained source"
		}
		marks(p, nlow, nfloor)
		low, floor = append(low, nlow...), append(floor, nfloor...)
		panels = append(panels, p)
	}
	bar := colorBar(diverging(), -vmax, vmax, "Δ rate, trained − base (pp)")
	var key []keyEntry
	if len(low) > 0 {
		key = append(key, keyEntry{"low coherence (judge < 0.5)", glyphKey{lowGlyph}})
	}
	if len(floor) > 0 {
		key = append(key, keyEntry{"at the base-model floor", glyphKey{floorGlyph}})
	}
	key = append(key, keyEntry{"never measured (not 0)", patch{missingGrey}})
	title := "Marker rate minus base-model rate, per trained source and bystander (" + i81.Name + " factorial)"
	caption := "bystander: per noun, the pure noun, then traits " + traitInitials() + " at levels " + i81.Levels[0] + "–" + i81.Levels[len(i81.Levels)-1]
	meta := b.meta("heatmap_5x130_base_subtracted", "Base-subtracted marker rate, sources × 130 bystanders", "leakage (strict detector) with base subtraction",
		"percentage points (Δ rate × 100); data.json holds Δ as a fraction", nil, runs)
	meta.Notes = []string{"grey: never measured (e.g. person's 95 zero-filled pilot rows, EXPERIMENT.md §2.5) — not zero",
		"dot: low coherence (judge mean < 0.5); cross: indistinguishable from the base model (floor test, §4)"}
	return figure{meta: meta, w: 7 * vg.Inch, h: 3 * vg.Inch, data: hc, draw: func(dc draw.Canvas) {
		dc = drawTitle(dc, title)
		dc = drawKey(dc, key)
		main := draw.Crop(dc, 0, -0.95*vg.Inch, 0, 0)
		bar.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-0.85*vg.Inch, 0, 0, 0))
		main = drawCaption(main, caption)
		drawGrid([][]*plot.Plot{panels}, main)
	}, axes: []figAxis{captionAxis("x", caption), categoryAxis("y", &panels[0].Y), valueAxis("colour bar", &bar.Y)}}, nil
}

// traitInitials lists the traits as "O (openness), C (…)…" for a caption.
func traitInitials() string {
	var parts []string
	for _, t := range i81.Traits {
		parts = append(parts, strings.ToUpper(t[:1]))
	}
	return strings.Join(parts, " ")
}

var (
	lowGlyph   = draw.GlyphStyle{Shape: draw.CircleGlyph{}, Radius: vg.Points(1.1), Color: Wong[7]}
	floorGlyph = draw.GlyphStyle{Shape: draw.CrossGlyph{}, Radius: vg.Points(1.1), Color: Wong[7]}
)

// marks overlays low-coherence dots and floor crosses on p.
func marks(p *plot.Plot, low, floor plotter.XYs) {
	for _, m := range []struct {
		xy plotter.XYs
		g  draw.GlyphStyle
	}{{low, lowGlyph}, {floor, floorGlyph}} {
		if len(m.xy) > 0 {
			s, _ := plotter.NewScatter(m.xy)
			s.GlyphStyle = m.g
			p.Add(s)
		}
	}
}
