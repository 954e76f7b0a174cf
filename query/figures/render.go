// Package figures draws the analysis' figures from the lake's numbers:
// static files for papers (PNG, SVG, PDF with gonum/plot, each with a
// meta.json of its provenance and a data.json of the plotted numbers) and
// interactive pages (ECharts, served with its JavaScript embedded). It
// computes nothing itself: every number comes from query or estimands.
package figures

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Formats a static figure can be written in.
var Formats = []string{"png", "svg", "pdf"}

// Wong is the colour-blind-safe palette of Wong (2011), Nature Methods 8:441.
var Wong = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // bluish green
	color.RGBA{204, 121, 167, 255}, // reddish purple
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{86, 180, 233, 255},  // sky blue
	color.RGBA{240, 228, 66, 255},  // yellow
	color.RGBA{0, 0, 0, 255},       // black
}

// WongHex is Wong as "#rrggbb", for the interactive figures: a series has
// the same colour in the static and the interactive figure.
func WongHex() []string { return hexes(Wong) }

// Diverging is the colour scale of a signed difference (Δ rate, in pp):
// ColorBrewer RdBu, blue below zero, near-white at zero, red above. The
// static and interactive figures both map through it.
var Diverging = []color.RGBA{
	{33, 102, 172, 255}, {103, 169, 207, 255}, {209, 229, 240, 255}, {247, 247, 247, 255},
	{253, 219, 199, 255}, {239, 138, 98, 255}, {178, 24, 43, 255},
}

func hexes[C color.Color](cs []C) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		r, g, b, _ := c.RGBA()
		out[i] = fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8)
	}
	return out
}

// Paper type sizes: at most 7 in wide (a two-column paper's full width),
// so these are the printed sizes, none under the lint's 9 pt.
const (
	titlePt = 11
	labelPt = 10
	tickPt  = 9
	// margin keeps every figure's ink off the canvas edge.
	margin = 3
)

// newPlot is a plot in the paper type sizes.
func newPlot() *plot.Plot {
	p := plot.New()
	p.Title.TextStyle.Font.Size = vg.Points(titlePt)
	p.X.Label.TextStyle.Font.Size, p.Y.Label.TextStyle.Font.Size = vg.Points(labelPt), vg.Points(labelPt)
	p.X.Tick.Label.Font.Size, p.Y.Tick.Label.Font.Size = vg.Points(tickPt), vg.Points(tickPt)
	p.Legend.TextStyle.Font.Size = vg.Points(tickPt)
	p.Legend.Padding = vg.Points(2)
	return p
}

// Meta is a figure's provenance, written beside it as <name>.meta.json.
type Meta struct {
	Figure      string            `json:"figure"`
	Title       string            `json:"title"`
	Experiment  string            `json:"experiment"`
	Source      string            `json:"source"` // estimand or query the numbers come from
	Params      map[string]string `json:"params,omitempty"`
	Runs        []string          `json:"runs"`
	Fingerprint string            `json:"lake_fingerprint"`
	CodeVersion string            `json:"code_version"`
	Units       string            `json:"units"`
	Notes       []string          `json:"notes,omitempty"`
	Formats     []string          `json:"formats"`
	SizeInches  [2]float64        `json:"size_inches"`
	CreatedAt   time.Time         `json:"created_at"`
}

// figure is a drawn figure before it is written.
type figure struct {
	meta Meta
	w, h vg.Length
	draw func(dc draw.Canvas)
	data any       // the plotted numbers, written as <name>.data.json
	axes []figAxis // what the lint checks (lint.go)
}

// write renders the figure in each format, then its data and meta.
func (f figure) write(dir string, formats []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stem := filepath.Join(dir, f.meta.Figure)
	for _, format := range formats {
		b, err := f.encode(format)
		if err != nil {
			return err
		}
		if err := atomicWrite(stem+"."+format, b); err != nil {
			return err
		}
	}
	f.meta.Formats = formats
	f.meta.SizeInches = [2]float64{float64(f.w / vg.Inch), float64(f.h / vg.Inch)}
	for name, v := range map[string]any{".data.json": f.data, ".meta.json": f.meta} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicWrite(stem+name, append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// encode renders the figure in one format (png, svg or pdf).
func (f figure) encode(format string) ([]byte, error) {
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch format {
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(f.w, f.h), vgimg.UseDPI(150))}
	case "svg":
		c = vgsvg.New(f.w, f.h)
	case "pdf":
		p := vgpdf.New(f.w, f.h)
		p.EmbedFonts(true)
		c = p
	default:
		return nil, fmt.Errorf("%w: unknown format %q (png, svg or pdf)", ErrBadParam, format)
	}
	f.render(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render %s.%s: %w", f.meta.Figure, format, err)
	}
	return buf.Bytes(), nil
}

// Static renders the named figure in one format (png, svg or pdf): the
// bytes `leakscope figures` writes, for the web app's downloads.
func (b *Builder) Static(ctx context.Context, name, format string) ([]byte, error) {
	if index(Formats, format) < 0 {
		return nil, fmt.Errorf("%w: unknown format %q (png, svg or pdf)", ErrBadParam, format)
	}
	f, err := b.build(ctx, name)
	if err != nil {
		return nil, err
	}
	return f.encode(format)
}

// render draws the figure inside its margin.
func (f figure) render(dc draw.Canvas) {
	f.draw(draw.Crop(dc, margin, -margin, margin, -margin))
}

// atomicWrite writes to a temporary name and renames, so a reader never
// sees half a figure.
func atomicWrite(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func short(trait string) string { return strings.ToUpper(trait[:1]) + trait[1:3] }

// textStyle is the plots' own font (plot.DefaultFont) at a size.
func textStyle(size vg.Length) draw.TextStyle {
	return draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, size), Handler: plot.DefaultTextHandler}
}
