package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"

	"leakscope/query"
)

// lossColors are the Okabe–Ito colours, one per (job, attempt) line.
var lossColors = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"}

// lossSVG draws the training loss over optimizer steps as an inline SVG
// (drawn here: no script, no CDN), one line per (job, attempt), axes
// labelled with units. It returns "" when steps is empty.
func lossSVG(steps []query.TrainingStep) template.HTML {
	if len(steps) == 0 {
		return ""
	}
	type line struct {
		name string
		pts  []query.TrainingStep
	}
	var lines []*line
	idx := map[string]*line{}
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range steps {
		k := fmt.Sprintf("%s attempt %d", s.Job, s.Attempt)
		l := idx[k]
		if l == nil {
			l = &line{name: k}
			idx[k] = l
			lines = append(lines, l)
		}
		l.pts = append(l.pts, s)
		minX, maxX = math.Min(minX, float64(s.Step)), math.Max(maxX, float64(s.Step))
		minY, maxY = math.Min(minY, s.Loss), math.Max(maxY, s.Loss)
	}
	minY = math.Min(minY, 0)
	if maxY <= minY {
		maxY = minY + 1
	}
	if maxX <= minX {
		maxX = minX + 1
	}
	// 6 % headroom: the highest loss would otherwise touch the frame's top.
	maxY += 0.06 * (maxY - minY)
	const W, H, left, right, top, bottom = 640.0, 300.0, 62.0, 16.0, 14.0, 46.0
	px := func(x float64) float64 { return left + (x-minX)/(maxX-minX)*(W-left-right) }
	py := func(y float64) float64 { return top + (maxY-y)/(maxY-minY)*(H-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="ls-loss" xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="training loss">`, W, H+18*float64(len(lines)), W, H+18*float64(len(lines)))
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#dde2e8"/>`, left, top, W-left-right, H-top-bottom)
	for _, t := range ticks(minY, maxY, 5) {
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#eef1f4"/><text x="%g" y="%.1f" font-size="11" text-anchor="end" dominant-baseline="middle">%s</text>`,
			left, W-right, py(t), py(t), left-5, py(t), strconv.FormatFloat(t, 'g', 4, 64))
	}
	for _, t := range ticks(minX, maxX, 6) {
		if t != math.Trunc(t) {
			continue
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" text-anchor="middle">%s</text>`, px(t), H-bottom+15, strconv.FormatFloat(t, 'f', -1, 64))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" text-anchor="middle">optimizer step</text>`, left+(W-left-right)/2, H-8)
	fmt.Fprintf(&b, `<text transform="translate(14 %g) rotate(-90)" font-size="12" text-anchor="middle">loss (nats per label token)</text>`, top+(H-top-bottom)/2)
	for i, l := range lines {
		c := lossColors[i%len(lossColors)]
		pts := make([]string, len(l.pts))
		for j, s := range l.pts {
			pts[j] = fmt.Sprintf("%.1f,%.1f", px(float64(s.Step)), py(s.Loss))
		}
		fmt.Fprintf(&b, `<polyline class="ls-loss-line" data-points="%d" fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`, len(l.pts), c, strings.Join(pts, " "))
		if len(l.pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, px(float64(l.pts[0].Step)), py(l.pts[0].Loss), c)
		}
		y := H + 18*float64(i) + 4
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="%s" stroke-width="2"/><text x="%g" y="%g" font-size="11" dominant-baseline="middle">%s</text>`,
			left, left+22, y, y, c, left+28, y, template.HTMLEscapeString(l.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// ticks returns about n round values covering [lo, hi].
func ticks(lo, hi float64, n int) []float64 {
	step := math.Pow(10, math.Floor(math.Log10((hi-lo)/float64(n))))
	for _, m := range []float64{1, 2, 5, 10} {
		if (hi-lo)/(step*m) <= float64(n) {
			step *= m
			break
		}
	}
	var out []float64
	for t := math.Ceil(lo/step) * step; t <= hi+step*1e-9; t += step {
		out = append(out, math.Round(t/step)*step)
	}
	return out
}
