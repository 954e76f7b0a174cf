package figures

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/components"
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/go-echarts/go-echarts/v2/render"

	"leakscope/query"
	"leakscope/query/webui"
)

//go:embed assets/echarts.min.js
var echartsJS []byte

// EchartsSHA256 is the checksum of the embedded ECharts build (assets/README.md).
const EchartsSHA256 = "bf4a223524e40b77c304bec67e1222cf551f14880cf42c69dc046558e11c07b1"

// EmbeddedEchartsSHA256 returns the checksum of the embedded file.
func EmbeddedEchartsSHA256() string {
	s := sha256.Sum256(echartsJS)
	return hex.EncodeToString(s[:])
}

const assetsHost = "/figures/assets/"

func initOpts(title, height string) charts.GlobalOpts {
	return charts.WithInitializationOpts(opts.Initialization{PageTitle: title, AssetsHost: assetsHost, Width: "100%", Height: height})
}

// tooltipByName shows the data item's name, where each item carries its
// pre-rendered tooltip.
var tooltipByName = charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Formatter: opts.FuncOpts("function(p){return p.name}")})

func fmtp(p *float64, digits int) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("%.*f", digits, *p)
}

// Page renders one figure as an interactive HTML page in the web app's
// frame (webui), with the same numbers, units, intervals and colours as
// the static figure, and links to the static PNG, SVG and PDF. query is
// the figure's URL query (parameters), carried to the downloads.
func (b *Builder) Page(ctx context.Context, name, query string) ([]byte, error) {
	f, err := b.build(ctx, name)
	if err != nil {
		return nil, err
	}
	var cs []components.Charter
	switch d := f.data.(type) {
	case []heatCell:
		cs = append(cs, heatCellsChart(f.meta.Title, d))
	case []a2Cell:
		cs = append(cs, a2Chart(f.meta.Title, d))
	case []panelPoint:
		cs = panelCharts(d)
	case designHeat:
		cs = append(cs, designHeatChart(f, d))
	case designSlice:
		cs = append(cs, designSliceChart(f, d))
	case designBars:
		cs = append(cs, designBarsChart(f, d))
	default:
		c, err := genericChart(name, f)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c...)
	}
	var body strings.Builder
	e := html.EscapeString
	if query != "" {
		query = "?" + query
	}
	runs, err := b.Engine.Runs(ctx, b.Experiment)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if r.Synthetic {
			body.WriteString(`<p class="ls-panel" id="ls-synthetic">` + SyntheticBadge + ` This experiment's runs came from the replay engine: the numbers below are synthetic, made without a language model.</p>`)
			break
		}
	}
	fmt.Fprintf(&body, `<p class="ls-muted">%s</p><p>Units: %s. Source: %s.</p>`, e(About(name)), e(f.meta.Units), e(f.meta.Source))
	fmt.Fprintf(&body, `<p class="ls-downloads">Download the static figure: `)
	for i, format := range Formats {
		if i > 0 {
			body.WriteString(" · ")
		}
		fmt.Fprintf(&body, `<a href="/figures/%s/%s.%s%s" download>%s</a>`, url.PathEscape(b.Experiment), name, format, e(query), strings.ToUpper(format))
	}
	fmt.Fprintf(&body, ` (or <code>leakscope figures --experiment %s --only %s</code>)</p>`, e(b.Experiment), name)
	for _, n := range f.meta.Notes {
		fmt.Fprintf(&body, `<p class="ls-muted">%s</p>`, e(n))
	}
	var scripts strings.Builder
	for _, c := range cs {
		r, ok := c.(interface{ RenderSnippet() render.ChartSnippet })
		if !ok {
			return nil, fmt.Errorf("figures: chart %T renders no snippet", c)
		}
		sn := r.RenderSnippet()
		body.WriteString(sn.Element)
		// go-echarts' VisualMap has no seriesIndex: bind the colour scale to
		// the data series only, so the "never measured" series keeps its grey.
		scripts.WriteString(scriptSafe(strings.ReplaceAll(sn.Script, `"visualMap":[{`, `"visualMap":[{"seriesIndex":[0],`)))
	}
	body.WriteString(scripts.String())
	body.WriteString(fitScript)
	var buf bytes.Buffer
	err = webui.Render(&buf, webui.Page{
		Title:  f.meta.Title,
		Active: "Figures",
		Crumbs: []webui.Crumb{{Name: "Figures", Href: "/figures/"}, {Name: b.Experiment, Href: "/figures/#" + url.PathEscape(b.Experiment)}, {Name: name}},
		Head:   template.HTML(`<script src="` + assetsHost + `echarts.min.js"></script>`),
		Body:   template.HTML(body.String()),
	})
	return buf.Bytes(), err
}

// The colours of the interactive figures are the static ones: rates map
// through webui.Sequential (viridis), signed differences through
// Diverging, series take the Wong palette in order.
var (
	seqColors  = hexes(webui.Sequential)
	divColors  = hexes(Diverging)
	wongColors = charts.WithColorsOpts(opts.Colors(WongHex()))
)

// errorBars is a custom series drawing a vertical interval with caps at
// each item [x, low, high], in colour; it shares its line's name, so the
// legend toggles both.
func errorBars(name, colour string, items []opts.CustomData) charts.SingleSeries {
	return charts.SingleSeries{Name: name, Type: "custom", Data: items, ItemStyle: &opts.ItemStyle{Color: colour},
		Encode: &opts.Encode{X: 0, Y: []int{1, 2}}, // the interval's ends count in the y axis' extent
		RenderItem: opts.FuncOpts(`function(params, api){
  var x = api.value(0), lo = api.coord([x, api.value(1)]), hi = api.coord([x, api.value(2)]), w = 4;
  var st = {stroke: api.visual('color'), lineWidth: 1.2, fill: null};
  return {type: 'group', children: [
    {type: 'line', shape: {x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1]}, style: st},
    {type: 'line', shape: {x1: lo[0]-w, y1: lo[1], x2: lo[0]+w, y2: lo[1]}, style: st},
    {type: 'line', shape: {x1: hi[0]-w, y1: hi[1], x2: hi[0]+w, y2: hi[1]}, style: st}]};
}`)}
}

func wongAt(i int) string { return WongHex()[i%len(Wong)] }

func heatCellsChart(title string, cells []heatCell) *charts.HeatMap {
	hm := charts.NewHeatMap()
	xs, xi := categories(cells, func(c heatCell) string { return c.Bystander })
	ys, yi := categories(cells, func(c heatCell) string { return c.Source })
	var data, missing []opts.HeatMapData
	vmax := 10.0 // pp, as the static figure
	for _, c := range cells {
		if !c.Missing {
			vmax = max(vmax, abs(100**c.RateMinusBase))
		}
	}
	vmax = math.Ceil(vmax/10) * 10
	for _, c := range cells {
		tip := fmt.Sprintf("<b>%s</b> under source %s<br/>%s", html.EscapeString(c.Bystander), html.EscapeString(c.Source), html.EscapeString(c.Prompt))
		var v any = "-"
		if c.Missing {
			tip += "<br/>never measured (not zero)"
			missing = append(missing, opts.HeatMapData{Name: tip, Value: [3]any{xi[c.Bystander], len(ys) - 1 - yi[c.Source], 0}})
			continue
		} else {
			v = 100 * *c.RateMinusBase
			tip += fmt.Sprintf("<br/>rate %s (%d/%d), 95%% CI [%s, %s]<br/>Δ vs base %+.1f pp<br/>coherence %s%s%s", fmtp(c.Rate, 3), *c.Found, *c.Total,
				fmtp(c.CILow, 3), fmtp(c.CIHigh, 3), 100**c.RateMinusBase, fmtp(c.Coherence, 3), flag(c.LowCoherence, " (low)"), flag(c.NSFloor, "<br/>at the base-model floor"))
		}
		data = append(data, opts.HeatMapData{Name: tip, Value: [3]any{xi[c.Bystander], len(ys) - 1 - yi[c.Source], v}})
	}
	// Label only the first column of each noun group (its A2 cell).
	labels := make([]string, len(xs))
	for i, x := range xs {
		if n, ok := strings.CutPrefix(x, "A2__"); ok {
			labels[i] = n
		}
	}
	hm.SetGlobalOptions(initOpts(title, "440px"), tooltipByName,
		charts.WithTitleOpts(opts.Title{Title: title, Subtitle: "Δ rate = trained − base, in percentage points (pp); dark grey = never measured (not zero); hover a cell for its prompt, counts and CI"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Data: labels, Name: "bystander (per noun: A2, then 25 A1 cells)",
			AxisLabel: &opts.AxisLabel{Show: opts.Bool(true), Interval: "0"}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: reverse(ys), Name: "trained source"}),
		charts.WithVisualMapOpts(opts.VisualMap{Calculable: opts.Bool(true), Min: float32(-vmax), Max: float32(vmax), Text: []string{"Δ rate (pp)"},
			InRange: &opts.VisualMapInRange{Color: divColors}}))
	hm.AddSeries("Δ rate", data)
	if len(missing) > 0 {
		hm.AddSeries("never measured", missing, charts.WithItemStyleOpts(opts.ItemStyle{Color: "#5a5a5a"}))
	}
	return hm
}

func a2Chart(title string, cells []a2Cell) *charts.HeatMap {
	hm := charts.NewHeatMap()
	xs, xi := categories(cells, func(c a2Cell) string { return c.Bystander })
	ys, yi := categories(cells, func(c a2Cell) string { return c.Source })
	var data []opts.HeatMapData
	for _, c := range cells {
		var v any = "-"
		tip := fmt.Sprintf("%s under trained source %s: ", html.EscapeString(c.Bystander), html.EscapeString(c.Source))
		if c.Rate != nil {
			v = *c.Rate
			tip += fmt.Sprintf("rate %.3f", *c.Rate)
		} else {
			tip += "not measured"
		}
		data = append(data, opts.HeatMapData{Name: tip, Value: [3]any{xi[c.Bystander], len(ys) - 1 - yi[c.Source], v}})
	}
	hm.SetGlobalOptions(initOpts(title, "420px"), tooltipByName, charts.WithTitleOpts(opts.Title{Title: title, Subtitle: "marker rate, a fraction in [0, 1]; cells to 2 decimals"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Data: trimAll(xs, "A2__"), Name: "bystander (pure noun)"}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: reverse(ys), Name: "trained source"}),
		charts.WithVisualMapOpts(opts.VisualMap{Calculable: opts.Bool(true), Min: 0, Max: 1, Text: []string{"rate (fraction)"}, InRange: &opts.VisualMapInRange{Color: seqColors}}))
	hm.AddSeries("rate", data, charts.WithLabelOpts(opts.Label{Show: opts.Bool(true), Formatter: string(opts.FuncOpts("function(p){var v=p.value[2];return typeof v==='number'?v.toFixed(2):'n/a'}"))}))
	return hm
}

// panelCharts draws small multiples as one line chart per panel: Δ in
// percentage points with the static figure's 95 % Wilson bars.
func panelCharts(points []panelPoint) []components.Charter {
	byPanel := map[string][]panelPoint{}
	var order []string
	for _, p := range points {
		if _, ok := byPanel[p.Panel]; !ok {
			order = append(order, p.Panel)
		}
		byPanel[p.Panel] = append(byPanel[p.Panel], p)
	}
	var out []components.Charter
	for _, panel := range order {
		pts := byPanel[panel]
		var xs []string
		seenX := map[string]bool{}
		series := map[string][]opts.LineData{}
		bars := map[string][]opts.CustomData{}
		var names []string
		for _, p := range pts {
			if !seenX[p.X] {
				seenX[p.X] = true
				xs = append(xs, p.X)
			}
			if _, ok := series[p.Series]; !ok {
				names = append(names, p.Series)
			}
			var v any = "-"
			e := html.EscapeString
			tip := fmt.Sprintf("%s, %s under %s: not measured", e(panel), e(p.X), e(p.Series))
			if p.Delta != nil {
				v = 100 * *p.Delta
				tip = fmt.Sprintf("%s, %s under %s: Δ %+.1f pp", e(panel), e(p.X), e(p.Series), 100**p.Delta)
				if p.CILow != nil && p.CIHigh != nil {
					tip += fmt.Sprintf(", 95%% Wilson interval [%+.1f, %+.1f] pp", 100**p.CILow, 100**p.CIHigh)
					bars[p.Series] = append(bars[p.Series], opts.CustomData{Name: tip, Value: []any{p.X, 100 * *p.CILow, 100 * *p.CIHigh}})
				}
			}
			series[p.Series] = append(series[p.Series], opts.LineData{Name: tip, Value: v})
		}
		title := strings.ReplaceAll(panel, "/", " · ")
		l := charts.NewLine()
		l.SetGlobalOptions(initOpts(title, "260px"), tooltipByName, wongColors, charts.WithTitleOpts(opts.Title{Title: title, Subtitle: "Δ rate (pp), bars: 95% Wilson interval"}),
			charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Right: "0"}),
			charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: "Δ rate (pp)", Min: -5, Max: 100}))
		l.SetXAxis(xs)
		for i, n := range names {
			l.AddSeries(n, series[n], charts.WithItemStyleOpts(opts.ItemStyle{Color: wongAt(i)}))
		}
		for i, n := range names {
			if len(bars[n]) > 0 {
				l.MultiSeries = append(l.MultiSeries, errorBars(n, wongAt(i), bars[n]))
			}
		}
		out = append(out, l)
	}
	return out
}

// genericChart covers the estimand-row figures: grouped bars, the trait
// ranking's lines, the interaction's heatmaps and the cosine scatter.
func genericChart(name string, f figure) ([]components.Charter, error) {
	switch name {
	case "h2_noun_vs_trait_effects", "merged_per_axis_hero", "source_variance":
		rows, labels := barRows(name, f.data)
		bar := charts.NewBar()
		bar.SetGlobalOptions(initOpts(f.meta.Title, "420px"), wongColors, charts.WithTitleOpts(opts.Title{Title: f.meta.Title, Subtitle: f.meta.Units}),
			charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}), charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Right: "0", Top: "40"}),
			charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: barUnit(name)}))
		var xs []string
		for _, r := range rows {
			xs = append(xs, r.group)
		}
		bar.SetXAxis(xs)
		for si, s := range labels {
			var d []opts.BarData
			for _, r := range rows {
				d = append(d, opts.BarData{Value: r.vals[si]})
			}
			bar.AddSeries(s, d, charts.WithItemStyleOpts(opts.ItemStyle{Color: wongAt(si)}))
		}
		return []components.Charter{bar}, nil
	case "trait_ranking_hero":
		return []components.Charter{rankingChart(f)}, nil
	case "slice_interaction":
		return interactionCharts(f), nil
	case "cosine_vs_leakage":
		m := f.data.(map[string]any)
		pts := m["points"]
		sc := charts.NewScatter()
		sc.SetGlobalOptions(initOpts(f.meta.Title, "480px"), tooltipByName, wongColors, charts.WithTitleOpts(opts.Title{Title: f.meta.Title, Subtitle: f.meta.Units}),
			charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: "cosine", Scale: opts.Bool(true)}), charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: "rate (fraction)"}),
			charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Right: "0"}))
		series := map[string][]opts.ScatterData{}
		for _, p := range toPoints(pts) {
			series[p.src] = append(series[p.src], opts.ScatterData{Name: fmt.Sprintf("%s under %s: cos %.3f, rate %.3f", html.EscapeString(p.by), html.EscapeString(p.src), p.cos, p.rate), Value: []float64{p.cos, p.rate}})
		}
		for i, k := range sortedKeys(series) {
			sc.AddSeries(k, series[k], charts.WithItemStyleOpts(opts.ItemStyle{Color: wongAt(i)}))
		}
		return []components.Charter{sc}, nil
	}
	return nil, fmt.Errorf("figures: no interactive form for %s", name)
}

type barRow struct {
	group string
	vals  []float64
}

// barUnit is the value axis of a bar figure, as the static one says it.
func barUnit(name string) string {
	if name == "source_variance" {
		return "marker rate (fraction)"
	}
	return "effect (pp)"
}

func barRows(name string, data any) ([]barRow, []string) {
	switch name {
	case "h2_noun_vs_trait_effects":
		var out []barRow
		for _, r := range data.([][]any) {
			out = append(out, barRow{r[0].(string), []float64{num(r[1]), num(r[2])}})
		}
		return out, h2Series
	case "merged_per_axis_hero":
		var out []barRow
		for _, r := range data.([][]any) {
			out = append(out, barRow{r[0].(string), []float64{num(r[1]), num(r[2])}})
		}
		return out, []string{"trait effect (TE)", "noun-swap effect (NE)"}
	}
	m := data.(map[string]any) // the estimands' percent, drawn as fractions as the static figure
	cross := map[string]float64{}
	for _, r := range m["cross_noun"].([][]any) {
		cross[r[0].(string)] = num(r[1]) / 100
	}
	var out []barRow
	for _, r := range m["self_implant"].([][]any) {
		out = append(out, barRow{r[0].(string), []float64{num(r[1]) / 100, cross[r[0].(string)]}})
	}
	return out, sourceVarianceSeries
}

// rankingChart is the trait ranking: one line per trait over levels, the
// mean rate (fraction) with ±1 SE bars, as the static figure.
func rankingChart(f figure) components.Charter {
	l := charts.NewLine()
	l.SetGlobalOptions(initOpts(f.meta.Title, "460px"), tooltipByName, wongColors, charts.WithTitleOpts(opts.Title{Title: f.meta.Title, Subtitle: f.meta.Units}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Right: "0"}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: "marker rate (fraction)", Min: 0}))
	var levels, traits []string
	line := map[string][]opts.LineData{}
	bars := map[string][]opts.CustomData{}
	for _, p := range rankingPoints(f.data) {
		if index(levels, p.level) < 0 {
			levels = append(levels, p.level)
		}
		if _, ok := line[p.trait]; !ok {
			traits = append(traits, p.trait)
		}
		tip := fmt.Sprintf("%s %s: %.3f ± %.3f (SE, N %d)", html.EscapeString(p.trait), html.EscapeString(p.level), p.mean, p.se, p.n)
		line[p.trait] = append(line[p.trait], opts.LineData{Name: tip, Value: []any{p.level, p.mean}})
		bars[p.trait] = append(bars[p.trait], opts.CustomData{Name: tip, Value: []any{p.level, p.mean - p.se, p.mean + p.se}})
	}
	l.SetXAxis(levels)
	for i, t := range traits {
		l.AddSeries(t, line[t], charts.WithItemStyleOpts(opts.ItemStyle{Color: wongAt(i)}))
	}
	for i, t := range traits {
		l.MultiSeries = append(l.MultiSeries, errorBars(t, wongAt(i), bars[t]))
	}
	return l
}

// interactionCharts are the interaction's heatmaps, one per source: trait ×
// level, the noun range of Δ in pp on the static figure's viridis scale.
func interactionCharts(f figure) []components.Charter {
	rows := f.data.(table).Rows // source, trait, level, range_pp, nouns
	var srcs []string
	by := map[string][][]any{}
	for _, r := range rows {
		s := r[0].(string)
		if _, ok := by[s]; !ok {
			srcs = append(srcs, s)
		}
		by[s] = append(by[s], r)
	}
	var out []components.Charter
	for _, s := range srcs {
		var traits, levels []string
		for _, r := range by[s] {
			if index(traits, r[1].(string)) < 0 {
				traits = append(traits, r[1].(string))
			}
			if index(levels, r[2].(string)) < 0 {
				levels = append(levels, r[2].(string))
			}
		}
		var data []opts.HeatMapData
		for _, r := range by[s] {
			tip := fmt.Sprintf("source %s, %s %s: noun range %.1f pp", html.EscapeString(s), html.EscapeString(r[1].(string)), html.EscapeString(r[2].(string)), num(r[3]))
			data = append(data, opts.HeatMapData{Name: tip, Value: [3]any{index(levels, r[2].(string)), len(traits) - 1 - index(traits, r[1].(string)), num(r[3])}})
		}
		title := "source " + s
		hm := charts.NewHeatMap()
		hm.SetGlobalOptions(initOpts(title, "320px"), tooltipByName, charts.WithTitleOpts(opts.Title{Title: title, Subtitle: "noun range of Δ rate (pp)"}),
			charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
			charts.WithXAxisOpts(opts.XAxis{Type: "category", Data: levels, Name: "trait level"}),
			charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: reverse(traits), Name: "trait"}),
			charts.WithVisualMapOpts(opts.VisualMap{Calculable: opts.Bool(true), Min: 0, Max: float32(interactionTop), Text: []string{"pp"}, InRange: &opts.VisualMapInRange{Color: seqColors}}))
		hm.AddSeries("noun range", data)
		out = append(out, hm)
	}
	return out
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	}
	return 0
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func flag(b bool, s string) string {
	if b {
		return s
	}
	return ""
}

// trimAll is s with the prefix p cut from each (the static figure's labels).
func trimAll(s []string, p string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.TrimPrefix(v, p)
	}
	return out
}

// Handler serves the interactive figures in the web app's frame:
//
//	GET /figures/                                 per experiment, the figures that apply, each described
//	GET /figures/{experiment}/{figure}            one figure as an interactive page
//	GET /figures/{experiment}/{figure}.png|svg|pdf  the static figure, as `leakscope figures` draws it
//	GET /figures/assets/echarts.min.js            ECharts, embedded (no network needed)
//
// Figure parameters go in the query (?rows=lr&cols=epochs); an unknown one
// is a 400, a figure that does not apply a 404 with the reason.
func Handler(e *query.Engine) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /figures/assets/echarts.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		_, _ = w.Write(echartsJS)
	})
	mux.HandleFunc("GET /figures/{$}", func(w http.ResponseWriter, r *http.Request) {
		body, err := indexBody(r.Context(), e)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		webui.Write(w, webui.Page{Title: "Figures", Active: "Figures", Body: body})
	})
	mux.HandleFunc("GET /figures/{experiment}/{figure}", func(w http.ResponseWriter, r *http.Request) {
		b := &Builder{Engine: e, Experiment: r.PathValue("experiment"), Params: map[string]string{}}
		// ?rows=lr&cols=epochs, ?x=level, ?persona=mean …; every parameter
		// goes to the builder, which refuses the unknown (a typo is not
		// silently drawn with the default).
		for k := range r.URL.Query() {
			if v := r.URL.Query().Get(k); v != "" {
				b.Params[k] = v
			}
		}
		name := r.PathValue("figure")
		if stem, format, ok := strings.Cut(name, "."); ok {
			out, err := b.Static(r.Context(), stem, format)
			if err != nil {
				http.Error(w, err.Error(), pageStatus(err))
				return
			}
			w.Header().Set("Content-Type", map[string]string{"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}[format])
			w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", b.Experiment+"_"+stem+"."+format))
			_, _ = w.Write(out)
			return
		}
		page, err := b.Page(r.Context(), name, r.URL.RawQuery)
		if err != nil {
			http.Error(w, err.Error(), pageStatus(err))
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	return mux
}

// indexBody lists, per experiment, only the figures that apply to its
// design (Builder.Applicable), each with its description and downloads,
// and says how many do not apply.
func indexBody(ctx context.Context, e *query.Engine) (template.HTML, error) {
	runs, err := e.Runs(ctx, "")
	if err != nil {
		return "", err
	}
	exps, synthetic := map[string]bool{}, map[string]bool{}
	for _, run := range runs {
		exps[run.Experiment] = true
		synthetic[run.Experiment] = synthetic[run.Experiment] || run.Synthetic
	}
	var sb strings.Builder
	esc := html.EscapeString
	names := sortedKeys(exps)
	if len(names) == 0 {
		sb.WriteString(`<p class="ls-muted">No experiment in the lake yet: import or run one, then its figures appear here.</p>`)
	}
	sb.WriteString(`<p class="ls-muted">Rates are fractions in [0, 1]; differences of rates are in percentage points (pp). Each figure opens interactively; PNG, SVG and PDF are the static files for a paper.</p>`)
	for _, x := range names {
		ws, err := (&Builder{Engine: e, Experiment: x}).Applicable(ctx)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, `<section class="ls-panel ls-figures" id="%s" data-experiment="%s"><h2>%s</h2>`, esc(x), esc(x), esc(x))
		if synthetic[x] {
			sb.WriteString(" " + SyntheticBadge)
		}
		skipped := 0
		var why strings.Builder
		for i, fw := range ws {
			if fw.Skipped != "" {
				skipped++
				fmt.Fprintf(&why, `<li data-skipped="%s"><code>%s</code>: %s</li>`, fw.Name, fw.Name, esc(skipReason(fw.Skipped)))
				continue
			}
			if i == skipped {
				sb.WriteString(`<table class="ls"><tbody>`)
			}
			p := "/figures/" + url.PathEscape(x) + "/" + fw.Name
			fmt.Fprintf(&sb, `<tr data-figure="%s"><td><a href="%s">%s</a></td><td>%s</td><td class="mono"><a href="%s.png">PNG</a> <a href="%s.svg">SVG</a> <a href="%s.pdf">PDF</a></td></tr>`,
				fw.Name, esc(p), fw.Name, esc(About(fw.Name)), esc(p), esc(p), esc(p))
		}
		switch {
		case skipped == len(ws):
			sb.WriteString(`<p class="ls-muted">No figure applies to this design:</p>`)
		case skipped > 0:
			sb.WriteString(`</tbody></table>`)
			fmt.Fprintf(&sb, `<p class="ls-muted">%d of %d figures do not apply to this design:</p>`, skipped, len(ws))
		default:
			sb.WriteString(`</tbody></table>`)
		}
		if skipped > 0 {
			fmt.Fprintf(&sb, `<ul class="ls-muted ls-skipped">%s</ul>`, why.String())
		}
		sb.WriteString(`</section>`)
	}
	return template.HTML(sb.String()), nil
}

// skipReason is a Skipped reason without ErrNotApplicable's prefix.
func skipReason(s string) string {
	return strings.TrimPrefix(s, ErrNotApplicable.Error()+": ")
}

// SyntheticBadge marks pages of experiments whose runs came from the
// replay engine (query.RunSummary.Synthetic).
const SyntheticBadge = `<span class="ls-tag ls-synthetic" title="made by the replay engine's synthetic leakage model: no language model was trained or sampled">synthetic data</span>`

// pageStatus is the HTTP status of a figure page's error: the request's
// mistake is 400, what does not exist or apply 404, the rest 500.
func pageStatus(err error) int {
	switch {
	case errors.Is(err, ErrBadParam), errors.Is(err, query.ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotApplicable), errors.Is(err, ErrUnknownFigure), errors.Is(err, query.ErrUnknownExperiment):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// categories lists the distinct keys of cells in first-seen order (a heatmap
// axis) and each key's position on it.
func categories[C any](cells []C, key func(C) string) ([]string, map[string]int) {
	var order []string
	at := map[string]int{}
	for _, c := range cells {
		k := key(c)
		if _, seen := at[k]; !seen {
			at[k] = len(order)
			order = append(order, k)
		}
	}
	return order, at
}

// scriptSafe keeps a snippet's <script> element whole: go-echarts writes
// the options' JSON without HTML escaping, so a persona name holding
// "</script>" closed the element and the rest ran as markup. Inside the
// element "</" and "<!--" occur only in the data's strings, where "<\/"
// and "<\!--" are the same text to JavaScript.
func scriptSafe(snippet string) string {
	open := strings.Index(snippet, ">") + 1
	end := strings.LastIndex(snippet, "</script>")
	if !strings.HasPrefix(strings.TrimSpace(snippet), "<script") || open <= 0 || end < open {
		return snippet
	}
	body := strings.NewReplacer("</", `<\/`, "<!--", `<\!--`).Replace(snippet[open:end])
	return snippet[:open] + body + snippet[end:]
}
