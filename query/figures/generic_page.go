package figures

import (
	"fmt"
	"html"
	"unicode/utf8"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/components"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// Interactive forms of the generic figures: the same numbers as the
// static ones, with counts and intervals in the tooltips.

func aggTip(a agg) string {
	s := fmt.Sprintf("rate %s", fmtp(a.Rate, 3))
	switch {
	case a.RateOnly > 0:
		s += "<br/>rate only, n unknown (no interval)"
	case a.Found != nil && a.Total != nil:
		s += fmt.Sprintf(" (%d/%d), 95%% CI [%s, %s]", *a.Found, *a.Total, fmtp(a.CILow, 3), fmtp(a.CIHigh, 3))
	}
	if a.Cells > 1 {
		s += fmt.Sprintf("<br/>%d cells pooled", a.Cells)
	}
	return s
}

func designHeatChart(f figure, d designHeat) components.Charter {
	hm := charts.NewHeatMap()
	ri, ci := map[string]int{}, map[string]int{}
	for i, r := range d.Rows {
		ri[r] = i
	}
	for i, c := range d.Cols {
		ci[c] = i
	}
	var data []opts.HeatMapData
	hi := 0.0
	for _, c := range d.Cells {
		hi = max(hi, *c.Rate)
		tip := fmt.Sprintf("<b>%s</b> %s, <b>%s</b> %s<br/>%s", d.RowAxis, html.EscapeString(c.Row), d.ColAxis, html.EscapeString(c.Col), aggTip(c.agg))
		data = append(data, opts.HeatMapData{Name: tip, Value: [3]any{ci[c.Col], len(d.Rows) - 1 - ri[c.Row], *c.Rate}})
	}
	// The column labels stand rotated under the tiles: the chart grows by
	// the longest one (about 7 px a character at ECharts' 12 px), so the
	// tiles keep their height.
	labelPx := 0
	for _, c := range d.Cols {
		labelPx = max(labelPx, 7*utf8.RuneCountInString(c))
	}
	hm.SetGlobalOptions(initOpts(f.meta.Title, fmt.Sprintf("%dpx", 200+22*len(d.Rows)+labelPx)), tooltipByName,
		charts.WithTitleOpts(opts.Title{Title: f.meta.Title, Subtitle: f.meta.Units + "; hover a tile for its counts and interval"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Data: d.Cols, Name: d.ColAxis, AxisLabel: &opts.AxisLabel{Show: opts.Bool(true), Interval: "0", Rotate: 90}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: reverse(d.Rows), Name: d.RowAxis}),
		charts.WithVisualMapOpts(opts.VisualMap{Calculable: opts.Bool(true), Min: 0, Max: float32(scaleTop(hi)), Text: []string{"rate (fraction)"},
			InRange: &opts.VisualMapInRange{Color: seqColors}}))
	hm.AddSeries("rate", data)
	return hm
}

func designSliceChart(f figure, d designSlice) components.Charter {
	l := charts.NewLine()
	xType := "category"
	if d.Log {
		xType = "log"
	} else if d.Numeric {
		xType = "value"
	}
	l.SetGlobalOptions(initOpts(f.meta.Title, "460px"), tooltipByName, wongColors,
		charts.WithTitleOpts(opts.Title{Title: f.meta.Title, Subtitle: f.meta.Units}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Right: "0"}),
		charts.WithXAxisOpts(opts.XAxis{Type: xType, Name: d.X}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: "rate (fraction)", Min: 0}))
	if !d.Numeric {
		l.SetXAxis(d.XValues)
	}
	var order []string
	series := map[string][]opts.LineData{}
	bars := map[string][]opts.CustomData{}
	for _, p := range d.Points {
		if _, ok := series[p.Series]; !ok {
			order = append(order, p.Series)
		}
		tip := fmt.Sprintf("%s, %s = %s<br/>%s", html.EscapeString(p.Series), d.X, html.EscapeString(p.X), aggTip(p.agg))
		var v any = *p.Rate
		if d.Numeric {
			v = []any{ordered(d.XValues).num[p.X], *p.Rate}
		} else {
			v = []any{p.X, *p.Rate}
		}
		series[p.Series] = append(series[p.Series], opts.LineData{Name: tip, Value: v})
		if p.CILow != nil && p.CIHigh != nil { // the static figure's 95 % Wilson bars
			x := v.([]any)[0]
			bars[p.Series] = append(bars[p.Series], opts.CustomData{Name: tip, Value: []any{x, *p.CILow, *p.CIHigh}})
		}
	}
	for i, s := range order {
		l.AddSeries(s, series[s], charts.WithItemStyleOpts(opts.ItemStyle{Color: wongAt(i)}))
	}
	for i, s := range order {
		if len(bars[s]) > 0 {
			l.MultiSeries = append(l.MultiSeries, errorBars(s, wongAt(i), bars[s]))
		}
	}
	return l
}

func designBarsChart(f figure, d designBars) components.Charter {
	bar := charts.NewBar()
	bar.SetGlobalOptions(initOpts(f.meta.Title, "460px"), tooltipByName, wongColors,
		charts.WithTitleOpts(opts.Title{Title: f.meta.Title, Subtitle: f.meta.Units}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", AxisLabel: &opts.AxisLabel{Show: opts.Bool(true), Interval: "0", Rotate: 30}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: "rate (fraction)", Min: 0}))
	var xs []string
	var data []opts.BarData
	var ci []opts.CustomData
	source := map[string]int{} // bar colour: the source's, in order of first bar, as the static figure
	for _, b := range d.Bars {
		if _, ok := source[b.Source]; !ok {
			source[b.Source] = len(source)
		}
	}
	for _, b := range d.Bars {
		xs = append(xs, b.Label)
		tip := fmt.Sprintf("run %s, source %s on bystander %s<br/>%s", html.EscapeString(b.Run), html.EscapeString(b.Source), html.EscapeString(b.SourceCell), aggTip(b.agg))
		data = append(data, opts.BarData{Name: tip, Value: *b.Rate, ItemStyle: &opts.ItemStyle{Color: wongAt(source[b.Source])}})
		if b.CILow != nil && b.CIHigh != nil {
			ci = append(ci, opts.CustomData{Name: tip, Value: []any{b.Label, *b.CILow, *b.CIHigh}})
		}
	}
	bar.SetXAxis(xs)
	bar.AddSeries("rate on the source's own cell", data)
	if len(ci) > 0 {
		bar.MultiSeries = append(bar.MultiSeries, errorBars("95% interval", WongHex()[7], ci))
	}
	return bar
}
