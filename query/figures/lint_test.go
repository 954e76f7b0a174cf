package figures

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// lineFigure is a small line chart with the given tick labels and labels.
func lineFigure(t *testing.T, w vg.Length, xTicks []string, xLabel, yLabel string, legend ...string) figure {
	t.Helper()
	p := newPlot()
	p.Title.Text = "a clean figure"
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	pts := plotter.XYs{{X: 0, Y: 0.1}, {X: float64(len(xTicks) - 1), Y: 0.3}}
	l, err := plotter.NewLine(pts)
	require.NoError(t, err)
	p.Add(l)
	for _, s := range legend {
		p.Legend.Add(s, l)
	}
	p.X.Tick.Marker = labelTicks(xTicks)
	return figure{w: w, h: 3 * vg.Inch, draw: func(dc draw.Canvas) { p.Draw(dc) },
		axes: []figAxis{categoryAxis("x", &p.X), valueAxis("y", &p.Y)}}
}

func hasProblem(problems []string, part string) bool {
	for _, p := range problems {
		if strings.Contains(p, part) {
			return true
		}
	}
	return false
}

func TestLintPassesACleanFigure(t *testing.T) {
	f := lineFigure(t, 5*vg.Inch, []string{"L1", "L2", "L3"}, "trait level", "marker rate (fraction)", "source chef", "source pirate")
	require.Empty(t, f.lint())
}

func TestLintFlagsEachDefect(t *testing.T) {
	for _, c := range []struct {
		name string
		f    figure
		want string
	}{
		{"code names in the legend", lineFigure(t, 5*vg.Inch, []string{"a", "b"}, "source", "effect (pp)", "NOUN_s", "TRAIT_s"), `code name "NOUN_s"`},
		{"a composite key in the legend", lineFigure(t, 5*vg.Inch, []string{"a", "b"}, "source", "effect (pp)", "A1__chef__openness__L1"), `code name "A1__chef__openness__L1"`},
		{"no x label", lineFigure(t, 5*vg.Inch, []string{"a", "b"}, "", "effect (pp)"), "axis x has no label"},
		{"a value axis without a unit", lineFigure(t, 5*vg.Inch, []string{"a", "b"}, "source", "leakage"), `label "leakage" states no unit`},
		{"a rate in percent", lineFigure(t, 5*vg.Inch, []string{"a", "b"}, "source", "rate (%)"), "a rate is a fraction"},
		{"a difference as a fraction", lineFigure(t, 5*vg.Inch, []string{"a", "b"}, "source", "Δ rate (fraction)"), "a difference of rates is in percentage points"},
		{"overlapping tick labels", lineFigure(t, 3*vg.Inch, strings.Fields(strings.Repeat("conscientiousness ", 8)), "trait", "rate (fraction)"), "overlap"},
		{"type too small at paper width", lineFigure(t, 20*vg.Inch, []string{"a", "b"}, "source", "rate (fraction)"), `text "source" prints at 3.5 pt when the 20.0 in wide figure is scaled to a 7 in paper page`},
	} {
		t.Run(c.name, func(t *testing.T) {
			problems := c.f.lint()
			require.True(t, hasProblem(problems, c.want), "want %q in %q", c.want, problems)
		})
	}
}

// Ink at the edge: a colour bar drawn to the canvas's edge (past the
// figure's margin), and a label half outside.
func TestLintFlagsInkAtTheEdge(t *testing.T) {
	bar := colorBar(sequential(), 0, 1, "rate (fraction)")
	f := figure{w: 2 * vg.Inch, h: 3 * vg.Inch, axes: []figAxis{valueAxis("colour bar", &bar.Y)}, draw: func(dc draw.Canvas) {
		bar.Draw(draw.Crop(dc, 0, margin, 0, 0)) // margin undone on the right
	}}
	require.True(t, hasProblem(f.lint(), "ink outside the canvas"), "%q", f.lint())

	g := figure{w: 2 * vg.Inch, h: 3 * vg.Inch, axes: []figAxis{captionAxis("x", "n (count)")}, draw: func(dc draw.Canvas) {
		dc.FillText(textStyle(vg.Points(10)), vg.Point{X: dc.Max.X - 5, Y: dc.Min.Y + 20}, "a caption")
	}}
	require.True(t, hasProblem(g.lint(), `text "a caption" reaches outside the canvas`), "%q", g.lint())
}

// A fraction scale with percent printed on its cells (the old hero matrix).
func TestLintFlagsPercentOnAFractionScale(t *testing.T) {
	m := matrix{rows: []string{"chef"}, cols: []string{"chef", "pirate"}, z: [][]float64{{0.88, 0.155}}}
	p := heatPlot(m, sequential(), 0, 1, "hero", func(r, c int) string { return map[int]string{0: "88", 1: "16"}[c] })
	p.X.Label.Text, p.Y.Label.Text = "bystander", "trained source"
	bar := colorBar(sequential(), 0, 1, "marker rate (fraction)")
	f := figure{w: 6 * vg.Inch, h: 3 * vg.Inch, draw: func(dc draw.Canvas) { drawSideBySide(p, bar, dc, 0.9*vg.Inch) },
		axes: []figAxis{categoryAxis("x", &p.X), categoryAxis("y", &p.Y), valueAxis("colour bar", &bar.Y)}}
	require.True(t, hasProblem(f.lint(), `number "88" printed on a figure whose scale is a fraction`), "%q", f.lint())
}

func TestCodeNames(t *testing.T) {
	for s, want := range map[string]string{
		"NOUN_s": "NOUN_s", "TRAIT_s (pp)": "TRAIT_s", "A2__chef": "A2__chef", "noun_effect_s": "noun_effect_s",
		"zelthari_scholar": "", "source chef": "", "Δ rate (pp)": "", "L1": "", "O C E A N": "",
	} {
		require.Equal(t, want, codeName(s), s)
	}
}

// Rotated boxes: two 90°-rotated labels side by side do not overlap even
// though their unrotated boxes would.
func TestRotatedLabelsDoNotOverlap(t *testing.T) {
	r := newRecorder(300, 300)
	fnt := textStyle(vg.Points(10))
	face := font.DefaultCache.Lookup(fnt.Font, fnt.Font.Size)
	for _, x := range []vg.Length{100, 114} {
		r.Push()
		r.Translate(vg.Point{X: x, Y: 100})
		r.Rotate(math.Pi / 2)
		r.FillString(face, vg.Point{}, "conscientiousness")
		r.Pop()
	}
	require.Len(t, r.texts, 2)
	require.False(t, polysIntersect(r.texts[0].box, r.texts[1].box))
	r.FillString(face, vg.Point{X: 50, Y: 150}, "conscientiousness") // across both
	require.True(t, polysIntersect(r.texts[0].box, r.texts[2].box))
}

// every keeps every k-th label, k the smallest step at which they fit.
func TestEveryThinsLabelsToFit(t *testing.T) {
	labels := make([]string, 100)
	for i := range labels {
		labels[i] = "p" + string(rune('a'+i%26))
	}
	out, k := every(labels, 100, 12) // 100 labels of 12 pt in 100 pt: every 12th
	require.Equal(t, 12, k)
	require.Equal(t, labels[0], out[0])
	require.Equal(t, "", out[1])
	require.Equal(t, labels[12], out[12])
	kept := 0
	for _, l := range out {
		if l != "" {
			kept++
		}
	}
	require.Equal(t, 9, kept)
	same, k := every(labels[:5], 100, 12)
	require.Equal(t, 1, k)
	require.Equal(t, labels[:5], same)
}
