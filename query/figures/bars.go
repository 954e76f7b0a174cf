package figures

import (
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// barAxes are a bar chart's axes for the lint.
func barAxes(p *plot.Plot) []figAxis {
	return []figAxis{categoryAxis("x", &p.X), valueAxis("y", &p.Y)}
}

// bars draws grouped bars: groups × series, values in the unit given.
func bars(title, xlabel, ylabel string, groups, series []string, val func(g, s int) float64, labels func(g int) string) *plot.Plot {
	p := newPlot()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	w := vg.Points(12)
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
	p.Y.Min, p.Y.Max = 0, top*1.45 // room for the legend above the bars
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
