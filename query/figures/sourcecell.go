package figures

import (
	"context"
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/query"
)

// sourceBar is one run's rate on its own source persona's cell (data.json).
type sourceBar struct {
	Run        string `json:"run"`
	Label      string `json:"label"`
	Source     string `json:"source"`
	SourceCell string `json:"source_cell"`
	Group      string `json:"group"`
	agg
}

// designBars is the source_cell figure's data.
type designBars struct {
	GroupedBy []string    `json:"grouped_by"`
	Bars      []sourceBar `json:"bars"`
}

// SourceCell is each run's rate on its own source persona — the bystander
// whose key is the run's source persona (or that a preset rule names, or
// whose prompt is the run's source prompt) — grouped by the run factors
// that vary, with 95 % Wilson bars where counts exist.
func (b *Builder) SourceCell(ctx context.Context) (figure, error) {
	d, err := b.generic(ctx)
	if err != nil {
		return figure{}, err
	}
	vary := d.varyingRunFactors()
	data := designBars{GroupedBy: vary}
	cells := map[[2]string]query.Cell{}
	for _, c := range d.cells {
		cells[[2]string{c.RunID, c.Persona}] = c
	}
	var skipped []string
	for _, r := range d.runs {
		if r.sourceCell == "" {
			skipped = append(skipped, r.id)
			continue
		}
		var g []string
		for _, k := range vary {
			g = append(g, k+"="+r.factors[k])
		}
		a := aggregate([]query.Cell{cells[[2]string{r.id, r.sourceCell}]})
		data.Bars = append(data.Bars, sourceBar{Run: r.id, Label: r.label, Source: query.SourceName(r.source), SourceCell: r.sourceCell, Group: strings.Join(g, " "), agg: a})
	}
	if len(data.Bars) == 0 {
		return figure{}, fmt.Errorf("%w: the source cell needs runs whose own source persona was measured as a cell; %s", ErrNotApplicable, d.sourceReasons())
	}
	sources := map[string]int{}
	var srcOrder []string
	for _, bar := range data.Bars {
		if _, ok := sources[bar.Source]; !ok {
			sources[bar.Source] = len(srcOrder)
			srcOrder = append(srcOrder, bar.Source)
		}
	}
	// Bars in run order (grouped by the varying factors), a gap between groups.
	xs := make([]float64, len(data.Bars))
	var tk ticks
	x := 0.0
	for i, bar := range data.Bars {
		if i > 0 && bar.Group != data.Bars[i-1].Group {
			x += 0.6
		}
		xs[i] = x
		tk = append(tk, plot.Tick{Value: x, Label: bar.Label})
		x++
	}
	title := fmt.Sprintf("%s: marker rate on each run's own source persona", d.experiment)
	p := newPlot()
	p.Title.Text = title
	p.Y.Label.Text = rateUnits
	p.X.Label.Text = "run"
	if len(vary) > 0 {
		p.X.Label.Text = "run, grouped by " + strings.Join(vary, ", ")
	}
	p.X.Tick.Marker = tk
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YTop
	p.X.Min, p.X.Max = -0.7, x-0.3
	top, rateOnly := 0.0, 0
	var ebXY plotter.XYs
	var ebErr plotter.YErrors
	for si, s := range srcOrder {
		vals := make(plotter.XYs, 0)
		for i, bar := range data.Bars {
			if bar.Source == s {
				vals = append(vals, plotter.XY{X: xs[i], Y: *bar.Rate})
			}
		}
		bc, err := plotter.NewBarChart(xyValues(vals), vg.Points(14))
		if err != nil {
			return figure{}, err
		}
		bc.Color, bc.LineStyle.Width = Wong[si%len(Wong)], 0
		bc.XMin = 0
		bcs := placeBars(bc, vals)
		for _, c := range bcs {
			p.Add(c)
		}
		if len(srcOrder) > 1 {
			p.Legend.Add("source "+s, bc)
		}
	}
	for i, bar := range data.Bars {
		top = math.Max(top, *bar.Rate)
		rateOnly += bar.RateOnly
		if bar.CILow != nil && bar.CIHigh != nil {
			ebXY = append(ebXY, plotter.XY{X: xs[i], Y: *bar.Rate})
			ebErr = append(ebErr, struct{ Low, High float64 }{*bar.Rate - *bar.CILow, *bar.CIHigh - *bar.Rate})
			top = math.Max(top, *bar.CIHigh)
		}
	}
	if len(ebXY) > 0 {
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{ebXY, ebErr})
		if err == nil {
			eb.Color = Wong[7]
			p.Add(eb)
		}
	}
	if rateOnly > 0 {
		p.Title.Text += "\n(rate only, n unknown: bars without intervals)"
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min, p.Y.Max = 0, math.Min(1.05, math.Max(0.05, top*1.2))
	var runs []string
	for _, bar := range data.Bars {
		runs = append(runs, bar.Run)
	}
	meta := b.meta("source_cell", title, "leakage matrix (strict detector; imported cells: the origin's counts or rates)",
		rateUnits+"; error bars 95% interval of the cell, only where counts exist", b.figParams(map[string]string{"grouped_by": strings.Join(vary, ",")}), sortedKeys(setOf(runs)))
	meta.Notes = append(meta.Notes, d.notes...)
	for _, bar := range data.Bars {
		if bar.SourceCell != bar.Source {
			meta.Notes = append(meta.Notes, fmt.Sprintf("run %s: source %s drawn on bystander %s", bar.Run, bar.Source, bar.SourceCell))
		}
	}
	if n := rateOnlyNote(rateOnly, len(data.Bars)); n != "" {
		meta.Notes = append(meta.Notes, n+" (bars without error bars)")
	}
	if len(skipped) > 0 {
		meta.Notes = append(meta.Notes, fmt.Sprintf("left out: %s", d.sourceReasons()))
	}
	w := clampLen(2.5*vg.Inch+vg.Length(len(data.Bars))*0.35*vg.Inch, 5*vg.Inch, paperWidth)
	return figure{meta: meta, w: w, h: 4.5 * vg.Inch, data: data, draw: func(dc draw.Canvas) { p.Draw(dc) },
		axes: []figAxis{categoryAxis("x", &p.X), valueAxis("y", &p.Y)}}, nil
}

func xyValues(xy plotter.XYs) plotter.Values {
	v := make(plotter.Values, len(xy))
	for i, p := range xy {
		v[i] = p.Y
	}
	return v
}

// placeBars puts each bar of bc at its own x (a bar chart places its
// values at XMin, XMin+1, …): one single-value chart per bar.
func placeBars(bc *plotter.BarChart, at plotter.XYs) []*plotter.BarChart {
	var out []*plotter.BarChart
	for _, xy := range at {
		c := *bc
		c.Values = plotter.Values{xy.Y}
		c.XMin = xy.X
		out = append(out, &c)
	}
	return out
}

func setOf(list []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range list {
		m[s] = true
	}
	return m
}
