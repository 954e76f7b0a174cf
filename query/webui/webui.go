// Package webui is the one look of leakscope's browser pages: the shared
// stylesheet, the page frame with its navigation, and the colour scale that
// the static figures, the interactive figures and the live view all use, so
// a rate has one colour everywhere. Everything is embedded: the pages work
// offline (no CDN).
package webui

import (
	"embed"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"net/http"
	"strings"
)

//go:embed assets/leakscope.css assets/leakscope.js assets/leakscope-heatmap.js
var assets embed.FS

// AssetsPrefix is where Assets is mounted.
const AssetsPrefix = "/assets/"

// Assets serves the stylesheet and the shared scripts (leakscope.js;
// leakscope-heatmap.js, the runs × bystanders heatmap) under AssetsPrefix.
func Assets() http.Handler {
	fs := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		fs.ServeHTTP(w, r)
	})
}

// Sequential is the colour scale for rates in [0, 1] (fraction, not
// percent): viridis (perceptually uniform, colour-blind safe, readable in
// greyscale), as evenly spaced stops from 0 to 1. Static heatmaps
// (query/figures), interactive figures and the live heatmap all map a rate
// through it (Rate in Go, lsColor in leakscope.js).
var Sequential = []color.RGBA{
	{68, 1, 84, 255}, {72, 40, 120, 255}, {62, 74, 137, 255}, {49, 104, 142, 255},
	{38, 130, 142, 255}, {31, 158, 137, 255}, {53, 183, 121, 255}, {109, 205, 89, 255},
	{180, 222, 44, 255}, {253, 231, 37, 255},
}

// Rate maps v in [0, 1] to the Sequential scale (clamped), interpolating
// linearly between stops.
func Rate(v float64) color.RGBA {
	if v != v { // NaN: undefined is grey, never a colour of the scale
		return color.RGBA{200, 200, 200, 255}
	}
	v = min(max(v, 0), 1)
	x := v * float64(len(Sequential)-1)
	i := min(int(x), len(Sequential)-2)
	f := x - float64(i)
	a, b := Sequential[i], Sequential[i+1]
	mix := func(p, q uint8) uint8 { return uint8(float64(p) + f*(float64(q)-float64(p)) + 0.5) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

// SequentialJS is Sequential as a JavaScript array literal of "#rrggbb".
func SequentialJS() string {
	parts := make([]string, len(Sequential))
	for i, c := range Sequential {
		parts[i] = fmt.Sprintf("%q", fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// HeatmapHead is the <head> content a page with the runs × bystanders
// heatmap (lsHeatmap, assets/leakscope-heatmap.js) carries.
const HeatmapHead template.HTML = `<script src="/assets/leakscope-heatmap.js"></script>`

// Nav is the navigation every page carries, in order.
var Nav = []struct{ Name, Href string }{
	{"Experiments", "/"}, {"Live", "/live/"}, {"Figures", "/figures/"}, {"SQL", "/sql"},
}

// Page is one page in the frame.
type Page struct {
	Title   string        // shown in the tab and as the heading
	Active  string        // the Nav entry to highlight ("" for none)
	Crumbs  []Crumb       // breadcrumbs under the navigation (optional)
	Head    template.HTML // extra <head> content (page styles, scripts)
	Body    template.HTML // the page's content
	Scripts []string      // script URLs loaded at the end of <body>
}

// Crumb is one breadcrumb.
type Crumb struct{ Name, Href string }

var frame = template.Must(template.New("frame").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.P.Title}} · leakscope</title>
<link rel="stylesheet" href="/assets/leakscope.css">
<script src="/assets/leakscope.js"></script>
{{.P.Head}}</head>
<body><header class="ls-top"><a class="ls-brand" href="/">leakscope</a><nav>{{range .Nav}}<a href="{{.Href}}"{{if eq .Name $.P.Active}} class="active"{{end}}>{{.Name}}</a>{{end}}</nav></header>
<main>{{if .P.Crumbs}}<div class="ls-crumbs">{{range $i, $c := .P.Crumbs}}{{if $i}} / {{end}}{{if $c.Href}}<a href="{{$c.Href}}">{{$c.Name}}</a>{{else}}{{$c.Name}}{{end}}{{end}}</div>{{end}}
<h1>{{.P.Title}}</h1>
{{.P.Body}}</main>
{{range .P.Scripts}}<script src="{{.}}"></script>{{end}}
</body></html>
`))

// Write renders p in the frame as text/html.
func Write(w http.ResponseWriter, p Page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = Render(w, p)
}

// Render writes p in the frame to w.
func Render(w io.Writer, p Page) error {
	return frame.Execute(w, map[string]any{"P": p, "Nav": Nav})
}
