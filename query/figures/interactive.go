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
	"net/http"
	"sort"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/components"
	"github.com/go-echarts/go-echarts/v2/opts"

	"leakscope/query"
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

// Page renders one figure as an interactive HTML page with the same
// numbers as the static figure.
func (b *Builder) Page(ctx context.Context, name string) ([]byte, error) {
	f, err := b.build(ctx, name)
	if err != nil {
		return nil, err
	}
	page := components.NewPage()
	page.PageTitle = f.meta.Title
	page.AssetsHost = assetsHost
	switch d := f.data.(type) {
	case []heatCell:
		page.AddCharts(heatCellsChart(f.meta.Title, d))
	case []a2Cell:
		page.AddCharts(a2Chart(f.meta.Title, d))
	case []panelPoint:
		for _, c := range panelCharts(d) {
			page.AddCharts(c)
		}
	case designHeat:
		page.AddCharts(designHeatChart(f, d))
	case designSlice:
		page.AddCharts(designSliceChart(f, d))
	case designBars:
		page.AddCharts(designBarsChart(f, d))
	default:
		c, err := genericChart(name, f)
		if err != nil {
			return nil, err
		}
		page.AddCharts(c)
	}
	var buf bytes.Buffer
	if err := page.Render(&buf); err != nil {
		return nil, err
	}
	// go-echarts' VisualMap has no seriesIndex: bind the colour scale to the
	// data series only, so the "never measured" series keeps its grey.
	out := bytes.ReplaceAll(buf.Bytes(), []byte(`"visualMap":[{`), []byte(`"visualMap":[{"seriesIndex":[0],`))
	buf.Reset()
	buf.Write(out)
	note := fmt.Sprintf(`<p style="font:13px sans-serif;margin:8px">%s — units: %s. Source: %s. Static version: <code>leakscope figures --experiment %s --only %s</code>.</p>`,
		html.EscapeString(f.meta.Title), html.EscapeString(f.meta.Units), html.EscapeString(f.meta.Source), html.EscapeString(b.Experiment), name)
	return bytes.Replace(buf.Bytes(), []byte("<body>"), []byte("<body>"+note), 1), nil
}

func heatCellsChart(title string, cells []heatCell) *charts.HeatMap {
	hm := charts.NewHeatMap()
	xs, xi := categories(cells, func(c heatCell) string { return c.Bystander })
	ys, yi := categories(cells, func(c heatCell) string { return c.Source })
	var data, missing []opts.HeatMapData
	vmax := 0.1
	for _, c := range cells {
		tip := fmt.Sprintf("<b>%s</b> under src:%s<br/>%s", html.EscapeString(c.Bystander), html.EscapeString(c.Source), html.EscapeString(c.Prompt))
		var v any = "-"
		if c.Missing {
			tip += "<br/>never measured (not zero)"
			missing = append(missing, opts.HeatMapData{Name: tip, Value: [3]any{xi[c.Bystander], len(ys) - 1 - yi[c.Source], 0}})
			continue
		} else {
			v = *c.RateMinusBase
			vmax = max(vmax, abs(*c.RateMinusBase))
			tip += fmt.Sprintf("<br/>rate %s (%d/%d), 95%% CI [%s, %s]<br/>Δ vs base %+.3f<br/>coherence %s%s%s", fmtp(c.Rate, 3), *c.Found, *c.Total,
				fmtp(c.CILow, 3), fmtp(c.CIHigh, 3), *c.RateMinusBase, fmtp(c.Coherence, 3), flag(c.LowCoherence, " (low)"), flag(c.NSFloor, "<br/>at the base-model floor"))
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
		charts.WithTitleOpts(opts.Title{Title: title, Subtitle: "Δ rate = trained − base, a fraction; dark grey = never measured (not zero); hover a cell for its prompt, counts and CI"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Data: labels, Name: "bystander (per noun: A2, then 25 A1 cells)",
			AxisLabel: &opts.AxisLabel{Show: opts.Bool(true), Interval: "0"}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: reverse(prefix("src:", ys))}),
		charts.WithVisualMapOpts(opts.VisualMap{Calculable: opts.Bool(true), Min: float32(-vmax), Max: float32(vmax),
			InRange: &opts.VisualMapInRange{Color: []string{"#2166ac", "#f7f7f7", "#b2182b"}}}))
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
		tip := fmt.Sprintf("%s under trained:%s: ", html.EscapeString(c.Bystander), html.EscapeString(c.Source))
		if c.Rate != nil {
			v = *c.Rate
			tip += fmt.Sprintf("rate %.3f", *c.Rate)
		} else {
			tip += "not measured"
		}
		data = append(data, opts.HeatMapData{Name: tip, Value: [3]any{xi[c.Bystander], len(ys) - 1 - yi[c.Source], v}})
	}
	hm.SetGlobalOptions(initOpts(title, "420px"), tooltipByName, charts.WithTitleOpts(opts.Title{Title: title, Subtitle: "marker rate, a fraction"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Data: xs}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: reverse(prefix("trained:", ys))}),
		charts.WithVisualMapOpts(opts.VisualMap{Calculable: opts.Bool(true), Min: 0, Max: 1, InRange: &opts.VisualMapInRange{Color: []string{"#f7fbff", "#08306b"}}}))
	hm.AddSeries("rate", data, charts.WithLabelOpts(opts.Label{Show: opts.Bool(true)}))
	return hm
}

// panelCharts draws small multiples as one line chart per panel.
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
				v = *p.Delta
				tip = fmt.Sprintf("%s, %s under %s: Δ %.3f, 95%% CI [%.3f, %.3f]", e(panel), e(p.X), e(p.Series), *p.Delta, *p.CILow, *p.CIHigh)
			}
			series[p.Series] = append(series[p.Series], opts.LineData{Name: tip, Value: v})
		}
		l := charts.NewLine()
		l.SetGlobalOptions(initOpts(panel, "260px"), tooltipByName, charts.WithTitleOpts(opts.Title{Title: panel, Subtitle: "Δ rate (fraction)"}),
			charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Right: "0"}))
		l.SetXAxis(xs)
		for _, n := range names {
			l.AddSeries(n, series[n])
		}
		out = append(out, l)
	}
	return out
}

// genericChart covers the estimand-row figures: grouped bars, lines and
// the cosine scatter.
func genericChart(name string, f figure) (components.Charter, error) {
	switch name {
	case "h2_noun_vs_trait_effects", "merged_per_axis_hero", "source_variance":
		rows, labels := barRows(name, f.data)
		bar := charts.NewBar()
		bar.SetGlobalOptions(initOpts(f.meta.Title, "420px"), charts.WithTitleOpts(opts.Title{Title: f.meta.Title, Subtitle: f.meta.Units}),
			charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}), charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Right: "0"}))
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
			bar.AddSeries(s, d)
		}
		return bar, nil
	case "trait_ranking_hero", "slice_interaction":
		return tableChart(f)
	case "cosine_vs_leakage":
		m := f.data.(map[string]any)
		pts := m["points"]
		sc := charts.NewScatter()
		sc.SetGlobalOptions(initOpts(f.meta.Title, "480px"), tooltipByName, charts.WithTitleOpts(opts.Title{Title: f.meta.Title, Subtitle: f.meta.Units}),
			charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: "cosine", Scale: opts.Bool(true)}), charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: "rate"}),
			charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Right: "0"}))
		series := map[string][]opts.ScatterData{}
		for _, p := range toPoints(pts) {
			series[p.src] = append(series[p.src], opts.ScatterData{Name: fmt.Sprintf("%s under %s: cos %.3f, rate %.3f", html.EscapeString(p.by), html.EscapeString(p.src), p.cos, p.rate), Value: []float64{p.cos, p.rate}})
		}
		keys := sortedKeys(series)
		for _, k := range keys {
			sc.AddSeries(k, series[k])
		}
		return sc, nil
	}
	return nil, fmt.Errorf("figures: no interactive form for %s", name)
}

type barRow struct {
	group string
	vals  []float64
}

func barRows(name string, data any) ([]barRow, []string) {
	switch name {
	case "h2_noun_vs_trait_effects":
		var out []barRow
		for _, r := range data.([][]any) {
			out = append(out, barRow{r[0].(string), []float64{num(r[1]), num(r[2])}})
		}
		return out, []string{"NOUN_s (pp)", "TRAIT_s (pp)"}
	case "merged_per_axis_hero":
		var out []barRow
		for _, r := range data.([][]any) {
			out = append(out, barRow{r[0].(string), []float64{num(r[1]), num(r[2])}})
		}
		return out, []string{"trait effect TE (pp)", "noun-swap effect NE (pp)"}
	}
	m := data.(map[string]any)
	cross := map[string]float64{}
	for _, r := range m["cross_noun"].([][]any) {
		cross[r[0].(string)] = num(r[1])
	}
	var out []barRow
	for _, r := range m["self_implant"].([][]any) {
		out = append(out, barRow{r[0].(string), []float64{num(r[1]), cross[r[0].(string)]}})
	}
	return out, []string{"self-implant (%)", "mean cross-noun (%)"}
}

// tableChart shows row data as a bar chart of its first numeric column.
func tableChart(f figure) (components.Charter, error) {
	bar := charts.NewBar()
	bar.SetGlobalOptions(initOpts(f.meta.Title, "420px"), tooltipByName, charts.WithTitleOpts(opts.Title{Title: f.meta.Title, Subtitle: f.meta.Units}))
	var xs []string
	var d []opts.BarData
	switch rows := f.data.(type) {
	case table: // interaction rows: source, trait, level, range_pp, nouns
		for _, r := range rows.Rows {
			label := fmt.Sprintf("%s %s %s", r[0], short(r[1].(string)), r[2])
			xs = append(xs, label)
			d = append(d, opts.BarData{Name: fmt.Sprintf("%s: noun range %.1f pp", label, num(r[3])), Value: num(r[3])})
		}
	default: // trait ranking points, via their JSON form
		for _, p := range rankingPoints(f.data) {
			xs = append(xs, p.label)
			d = append(d, opts.BarData{Name: fmt.Sprintf("%s: %.2f%% ± %.2f (N %d)", p.label, p.mean, p.se, p.n), Value: p.mean})
		}
	}
	bar.SetXAxis(xs)
	bar.AddSeries("value", d)
	return bar, nil
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

func prefix(p string, s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = p + v
	}
	return out
}

// Handler serves the interactive figures:
//
//	GET /figures/                       the experiments and their figures (HTML)
//	GET /figures/{experiment}/{figure}  one figure as an interactive page
//	GET /figures/assets/echarts.min.js  ECharts, embedded (no network needed)
func Handler(e *query.Engine) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /figures/assets/echarts.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		_, _ = w.Write(echartsJS)
	})
	mux.HandleFunc("GET /figures/{$}", func(w http.ResponseWriter, r *http.Request) {
		runs, err := e.Runs(r.Context(), "")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		exps := map[string]bool{}
		for _, run := range runs {
			exps[run.Experiment] = true
		}
		var sb strings.Builder
		sb.WriteString("<!doctype html><meta charset=utf-8><title>leakscope figures</title><body style='font:14px sans-serif'><h1>Figures</h1>")
		names := sortedKeys(exps)
		sort.Strings(names)
		for _, x := range names {
			// Only the figures that apply to this experiment's design.
			ws, err := (&Builder{Engine: e, Experiment: x}).Applicable(r.Context())
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(&sb, "<h2>%s</h2><ul>", html.EscapeString(x))
			skipped := 0
			for _, fw := range ws {
				if fw.Skipped != "" {
					skipped++
					continue
				}
				fmt.Fprintf(&sb, "<li><a href='/figures/%s/%s'>%s</a></li>", html.EscapeString(x), fw.Name, fw.Name)
			}
			sb.WriteString("</ul>")
			if skipped > 0 {
				fmt.Fprintf(&sb, "<p style='color:#555'>%d figures do not apply to this design (<code>leakscope figures --experiment %s</code> says why).</p>", skipped, html.EscapeString(x))
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(sb.String()))
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
		page, err := b.Page(r.Context(), r.PathValue("figure"))
		if err != nil {
			http.Error(w, err.Error(), pageStatus(err))
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	return mux
}

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
