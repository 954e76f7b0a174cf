package figures

import (
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Layout pieces of the multi-panel figures: a title line, a key strip
// (the legend as one row under the panels, off the data) and label
// thinning for axes with more categories than fit at the paper's type size.

// keyEntry is one legend entry of a key strip.
type keyEntry struct {
	label string
	thumb plot.Thumbnailer
}

// keyHeight is the height a key strip takes.
var keyHeight = vg.Points(tickPt) * 1.6

// drawKey draws the entries in rows, left to right, wrapping at the right
// edge, at the bottom of dc, and returns dc less those rows.
func drawKey(dc draw.Canvas, entries []keyEntry) draw.Canvas {
	if len(entries) == 0 {
		return dc
	}
	sty := textStyle(vg.Points(tickPt))
	sty.YAlign = draw.YCenter
	sw := vg.Points(tickPt)
	width := func(e keyEntry) vg.Length { return sw*1.6 + vg.Points(3) + sty.Width(e.label) }
	// Lay out the rows first: the key sits under the panels, top row first.
	var rows [][]keyEntry
	x := dc.Max.X // forces a first row
	for _, e := range entries {
		if x+width(e) > dc.Max.X || len(rows) == 0 {
			rows = append(rows, nil)
			x = dc.Min.X
		}
		rows[len(rows)-1] = append(rows[len(rows)-1], e)
		x += width(e) + vg.Points(10)
	}
	for ri, row := range rows {
		y := dc.Min.Y + keyHeight*vg.Length(len(rows)-ri) - keyHeight/2
		x := dc.Min.X
		for _, e := range row {
			icon := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{X: x, Y: y - sw/2}, Max: vg.Point{X: x + sw*1.6, Y: y + sw/2}}}
			e.thumb.Thumbnail(&icon)
			dc.FillText(sty, vg.Point{X: x + sw*1.6 + vg.Points(3), Y: y}, e.label)
			x += width(e) + vg.Points(10)
		}
	}
	return draw.Crop(dc, 0, 0, keyHeight*vg.Length(len(rows)), 0)
}

// drawTitle draws a figure title centred at the top of dc and returns dc
// less its line.
func drawTitle(dc draw.Canvas, title string) draw.Canvas {
	sty := textStyle(vg.Points(titlePt))
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
	dc.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y}, title)
	return draw.Crop(dc, 0, 0, 0, -vg.Points(titlePt)*1.5)
}

// drawCaption draws an axis caption centred at the bottom of dc (one label
// for a row of panels) and returns dc less its line.
func drawCaption(dc draw.Canvas, text string) draw.Canvas {
	sty := textStyle(vg.Points(labelPt))
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YBottom
	dc.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Min.Y}, text)
	return draw.Crop(dc, 0, 0, vg.Points(labelPt)*1.5, 0)
}

// every returns labels with all but every k-th blanked, k the smallest
// step at which labels pitch apart fit in span (labels drawn across, or
// along when rotated; pitch is one label's footprint on the axis).
func every(labels []string, span, pitch vg.Length) ([]string, int) {
	k := 1
	for k < len(labels) && vg.Length(len(labels))*pitch/vg.Length(k) > span {
		k++
	}
	if k == 1 {
		return labels, 1
	}
	out := make([]string, len(labels))
	for i := 0; i < len(labels); i += k {
		out[i] = labels[i]
	}
	return out, k
}
