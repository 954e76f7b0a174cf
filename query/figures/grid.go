package figures

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/query/webui"
)

// matrix is a labelled grid of values for heatmaps; NaN marks a missing cell.
type matrix struct {
	rows, cols []string
	z          [][]float64 // z[row][col]
}

func (m matrix) Dims() (c, r int)   { return len(m.cols), len(m.rows) }
func (m matrix) Z(c, r int) float64 { return m.z[len(m.rows)-1-r][c] } // first row on top
func (m matrix) X(c int) float64    { return float64(c) }
func (m matrix) Y(r int) float64    { return float64(r) }

// patch is a legend swatch of one colour.
type patch struct{ c color.Color }

func (p patch) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(p.c, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}})
}

// stopsMap is a colour map through evenly spaced colour stops over
// [min, max], interpolated linearly: webui.Sequential (viridis) for rates,
// Diverging for signed differences. The interactive figures hand ECharts
// the same stops, so a value has one colour in both.
type stopsMap struct {
	min, max, alpha float64
	stops           []color.RGBA
}

// sequential is the rate scale of every leakscope page (webui.Rate).
func sequential() *stopsMap { return &stopsMap{max: 1, alpha: 1, stops: webui.Sequential} }

// diverging is the scale of signed differences (Diverging).
func diverging() *stopsMap { return &stopsMap{min: -1, max: 1, alpha: 1, stops: Diverging} }

func (m *stopsMap) At(v float64) (color.Color, error) {
	if v < m.min || v > m.max || m.max <= m.min || math.IsNaN(v) {
		return nil, palette.ErrOverflow
	}
	x := (v - m.min) / (m.max - m.min) * float64(len(m.stops)-1)
	i := min(int(x), len(m.stops)-2)
	f := x - float64(i)
	a, b := m.stops[i], m.stops[i+1]
	mix := func(p, q uint8) uint8 { return uint8(float64(p) + f*(float64(q)-float64(p)) + 0.5) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}, nil
}
func (m *stopsMap) SetMax(v float64)   { m.max = v }
func (m *stopsMap) SetMin(v float64)   { m.min = v }
func (m *stopsMap) Max() float64       { return m.max }
func (m *stopsMap) Min() float64       { return m.min }
func (m *stopsMap) SetAlpha(a float64) { m.alpha = a }
func (m *stopsMap) Alpha() float64     { return m.alpha }
func (m *stopsMap) Palette(n int) palette.Palette {
	cs := make([]color.Color, n)
	for i := range cs {
		c, _ := m.At(m.min + (m.max-m.min)*float64(i)/float64(max(1, n-1)))
		cs[i] = c
	}
	return plainPalette(cs)
}

type plainPalette []color.Color

func (p plainPalette) Colors() []color.Color { return p }

// missingGrey is dark, so a never-measured cell cannot pass for a zero
// (the centre of the diverging scale is near-white).
var missingGrey = color.Gray{Y: 90}

// heatPlot draws a matrix with a colour map over [lo, hi]; labels, when
// set, annotate every cell.
func heatPlot(m matrix, cm palette.ColorMap, lo, hi float64, title string, labels func(r, c int) string) *plot.Plot {
	p := newPlot()
	p.Title.Text = title
	cm.SetMin(lo)
	cm.SetMax(hi)
	h := plotter.NewHeatMap(m, cm.Palette(255))
	h.Min, h.Max, h.NaN = lo, hi, missingGrey
	p.Add(h)
	p.X.Tick.Marker = labelTicks(m.cols)
	p.Y.Tick.Marker = labelTicks(reverse(m.rows))
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	if labels != nil {
		var xys plotter.XYs
		var txt []string
		for r := range m.rows {
			for c := range m.cols {
				if s := labels(r, c); s != "" {
					xys = append(xys, plotter.XY{X: float64(c), Y: float64(len(m.rows) - 1 - r)})
					txt = append(txt, s)
				}
			}
		}
		if len(xys) > 0 {
			l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: txt})
			if err == nil {
				for i := range l.TextStyle {
					l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
					// Legible on any cell: white text on dark colours.
					v := m.Z(int(xys[i].X), int(xys[i].Y))
					if c, err := cm.At(math.Max(lo, math.Min(hi, v))); err == nil && luminance(c) < 0.45 && !math.IsNaN(v) {
						l.TextStyle[i].Color = color.White
					}
				}
				p.Add(l)
			}
		}
	}
	return p
}

// luminance is the relative luminance of c in [0,1] (Rec. 709 weights).
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xffff
}

// colorBar is a vertical colour bar with its unit.
func colorBar(cm palette.ColorMap, lo, hi float64, unit string) *plot.Plot {
	p := newPlot()
	cm.SetMin(lo)
	cm.SetMax(hi)
	p.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true})
	p.HideX()
	p.Y.Label.Text = unit
	return p
}

type ticks []plot.Tick

func (t ticks) Ticks(min, max float64) []plot.Tick { return t }

func labelTicks(labels []string) ticks {
	out := make(ticks, len(labels))
	for i, l := range labels {
		out[i] = plot.Tick{Value: float64(i), Label: l}
	}
	return out
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// drawSideBySide puts a main plot and a narrow colour bar on one canvas.
func drawSideBySide(main, bar *plot.Plot, dc draw.Canvas, barWidth vg.Length) {
	mainC := draw.Crop(dc, 0, -barWidth, 0, 0)
	barC := draw.Crop(dc, dc.Max.X-dc.Min.X-barWidth, 0, 0, 0)
	main.Draw(mainC)
	bar.Draw(barC)
}

// grid draws panels in rows × cols tiles.
func drawGrid(panels [][]*plot.Plot, dc draw.Canvas) {
	t := draw.Tiles{Rows: len(panels), Cols: len(panels[0]), PadX: vg.Millimeter, PadY: vg.Millimeter,
		PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(4)}
	canvases := plot.Align(panels, t, dc)
	for r := range panels {
		for c := range panels[r] {
			if panels[r][c] != nil {
				panels[r][c].Draw(canvases[r][c])
			}
		}
	}
}
