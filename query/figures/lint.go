package figures

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The figure lint: what a static figure must be to go into a paper. Lint
// draws the figure on a recording canvas (the same drawing as the PNG, SVG
// and PDF) and checks what was drawn:
//
//   - axes: every axis the figure declares has a label; a value axis (the
//     measured quantity: a bar or line axis, a colour bar) states its unit,
//     one of unitWords ("fraction", "pp", "percentage points", "%", a count
//     word such as "count" or "number of", or "cosine"); one unit per
//     quantity: a rate is a fraction in [0, 1], a difference of rates (Δ,
//     effect, range) is in percentage points; a figure on a fraction scale
//     prints no number above 1;
//   - names: no text but a tick label holds a code name (codeName: an
//     "_s"-suffixed statistic such as NOUN_s, an ALLCAPS identifier with an
//     underscore, or a composite key with "__"); tick labels may show the
//     design's own names (persona keys, factor values) as the user wrote them;
//   - overlap: no two strings' boxes intersect (box: the font's advance
//     width by one line pitch — the font size — from the descent down);
//   - canvas: nothing but the white background is drawn outside the canvas
//     or within edgeMargin of its edge;
//   - size: every string is at least minFontPt once the figure is scaled to
//     paperWidth (a two-column paper's full width; never scaled up).

const (
	paperWidth = 7 * vg.Inch
	minFontPt  = 9.0
	edgeMargin = vg.Length(1)
)

// unitWords are the words an axis label names its unit with (lower case).
var unitWords = []string{"fraction", "percentage points", "pp", "%", "count", "number of", "completions", "cosine"}

var (
	codeStat   = regexp.MustCompile(`^[A-Za-z0-9_]+_s$`)
	codeCaps   = regexp.MustCompile(`^[A-Z][A-Z0-9]*_[A-Za-z0-9_]*$`)
	codeDouble = regexp.MustCompile(`__`)
	tokenSplit = regexp.MustCompile(`[^A-Za-z0-9_]+`)
	ppWord     = regexp.MustCompile(`\bpp\b`)
)

// codeName returns the first token of s a reader cannot be expected to
// decode, or "".
func codeName(s string) string {
	for _, t := range tokenSplit.Split(s, -1) {
		if t != "" && (codeStat.MatchString(t) || codeCaps.MatchString(t) || codeDouble.MatchString(t)) {
			return t
		}
	}
	return ""
}

// isDifference reports whether an axis label names a difference of rates
// (an effect, a Δ, a range), which is stated in percentage points.
func isDifference(label string) bool {
	l := strings.ToLower(label)
	for _, w := range []string{"δ", "effect", "difference", "range", "minus"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// hasUnit reports whether an axis label states a unit.
func hasUnit(label string) bool {
	l := strings.ToLower(label)
	for _, w := range unitWords {
		if w == "pp" {
			if ppWord.MatchString(l) {
				return true
			}
			continue
		}
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// figAxis is an axis a figure declares for the lint: its label must be set,
// and a value axis's must state a unit. A caption (axis nil) is the label
// of a row of panels' shared axis, drawn once under them.
type figAxis struct {
	name    string
	axis    *plot.Axis
	value   bool
	caption string
}

func valueAxis(name string, a *plot.Axis) figAxis    { return figAxis{name: name, axis: a, value: true} }
func categoryAxis(name string, a *plot.Axis) figAxis { return figAxis{name: name, axis: a} }
func captionAxis(name, caption string) figAxis       { return figAxis{name: name, caption: caption} }

func (a figAxis) label() string {
	if a.axis == nil {
		return a.caption
	}
	return a.axis.Label.Text
}

// Lint draws the named figure and returns what keeps it out of a paper
// (empty when nothing does). ErrNotApplicable and ErrUnknownFigure as Write.
func (b *Builder) Lint(ctx context.Context, name string) ([]string, error) {
	f, err := b.build(ctx, name)
	if err != nil {
		return nil, err
	}
	return f.lint(), nil
}

func (f figure) lint() []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if len(f.axes) == 0 {
		add("declares no axes to check")
	}
	tickLabels := map[string]bool{}
	fractionAxis := false
	for _, a := range f.axes {
		l := strings.TrimSpace(a.label())
		switch {
		case l == "":
			add("axis %s has no label", a.name)
		case a.value && !hasUnit(l):
			add("value axis %s label %q states no unit (%s)", a.name, l, strings.Join(unitWords, ", "))
		case a.value && isDifference(l) && !ppWord.MatchString(l) && !strings.Contains(l, "percentage points"):
			add("value axis %s label %q: a difference of rates is in percentage points (pp)", a.name, l)
		case a.value && !isDifference(l) && strings.Contains(strings.ToLower(l), "rate") && !strings.Contains(l, "fraction"):
			add("value axis %s label %q: a rate is a fraction in [0, 1]", a.name, l)
		}
		if a.value && strings.Contains(l, "fraction") {
			fractionAxis = true
		}
		if a.axis != nil && a.axis.Tick.Marker != nil {
			for _, t := range a.axis.Tick.Marker.Ticks(a.axis.Min, a.axis.Max) {
				tickLabels[t.Label] = true
			}
		}
	}
	rc := newRecorder(f.w, f.h)
	f.render(draw.New(rc))
	scale := math.Min(1, float64(paperWidth/f.w))
	small := map[string]bool{}
	for _, t := range rc.texts {
		if eff := float64(t.size) * scale; eff < minFontPt-1e-9 && !small[t.text] {
			small[t.text] = true
			add("text %q prints at %.1f pt when the %.1f in wide figure is scaled to a %.0f in paper page (under %.0f pt)", t.text, eff, float64(f.w/vg.Inch), float64(paperWidth/vg.Inch), minFontPt)
		}
		if v, err := strconv.ParseFloat(t.text, 64); err == nil && fractionAxis && math.Abs(v) > 1 && !tickLabels[t.text] {
			add("number %q printed on a figure whose scale is a fraction in [0, 1]", t.text)
		}
		if c := codeName(t.text); c != "" && !tickLabels[t.text] {
			add("text %q holds the code name %q", t.text, c)
		}
		for _, p := range t.box {
			if !inside(p, f.w, f.h, edgeMargin) {
				add("text %q reaches outside the canvas or within %.0f pt of its edge (at %.1f, %.1f of %.1f × %.1f)", t.text, float64(edgeMargin), p.X, p.Y, f.w, f.h)
				break
			}
		}
	}
	overlaps := 0
	for i := range rc.texts {
		for j := i + 1; j < len(rc.texts); j++ {
			a, b := rc.texts[i], rc.texts[j]
			if polysIntersect(a.box, b.box) {
				if overlaps < 10 {
					add("labels %q and %q overlap", a.text, b.text)
				}
				overlaps++
			}
		}
	}
	if overlaps > 10 {
		add("… %d overlapping label pairs in all", overlaps)
	}
	if len(rc.outside) > 0 {
		add("ink outside the canvas or within %.0f pt of its edge: %s", float64(edgeMargin), strings.Join(rc.outside, "; "))
	}
	sort.Strings(problems)
	return problems
}

func inside(p vg.Point, w, h, m vg.Length) bool {
	return p.X >= m && p.Y >= m && p.X <= w-m && p.Y <= h-m
}

// recorder is a vg.Canvas that draws nothing and keeps what would be drawn:
// each string's box and whether any ink leaves the canvas.
type recorder struct {
	w, h    vg.Length
	tr      affine
	stack   []state
	st      state
	texts   []drawnText
	outside []string
}

type state struct {
	tr    affine
	width vg.Length
	col   color.Color
}

type drawnText struct {
	text string
	size vg.Length
	box  []vg.Point // four corners, canvas coordinates
}

// affine maps (x, y) to (a*x + c*y + e, b*x + d*y + f).
type affine struct{ a, b, c, d, e, f float64 }

func (t affine) apply(p vg.Point) vg.Point {
	x, y := float64(p.X), float64(p.Y)
	return vg.Point{X: vg.Length(t.a*x + t.c*y + t.e), Y: vg.Length(t.b*x + t.d*y + t.f)}
}

// then is t followed, in the local frame, by u (u applied first).
func (t affine) then(u affine) affine {
	return affine{
		a: t.a*u.a + t.c*u.b, b: t.b*u.a + t.d*u.b,
		c: t.a*u.c + t.c*u.d, d: t.b*u.c + t.d*u.d,
		e: t.a*u.e + t.c*u.f + t.e, f: t.b*u.e + t.d*u.f + t.f,
	}
}

func newRecorder(w, h vg.Length) *recorder {
	r := &recorder{w: w, h: h}
	r.st = state{tr: affine{a: 1, d: 1}, width: 1, col: color.Black}
	return r
}

func (r *recorder) Size() (vg.Length, vg.Length)           { return r.w, r.h }
func (r *recorder) SetLineWidth(w vg.Length)               { r.st.width = w }
func (r *recorder) SetLineDash(_ []vg.Length, _ vg.Length) {}
func (r *recorder) SetColor(c color.Color) {
	if c == nil {
		c = color.Black
	}
	r.st.col = c
}
func (r *recorder) Rotate(rad float64) {
	s, c := math.Sincos(rad)
	r.st.tr = r.st.tr.then(affine{a: c, b: s, c: -s, d: c})
}
func (r *recorder) Translate(p vg.Point) {
	r.st.tr = r.st.tr.then(affine{a: 1, d: 1, e: float64(p.X), f: float64(p.Y)})
}
func (r *recorder) Scale(x, y float64) { r.st.tr = r.st.tr.then(affine{a: x, d: y}) }
func (r *recorder) Push()              { r.stack = append(r.stack, r.st) }
func (r *recorder) Pop() {
	if n := len(r.stack); n > 0 {
		r.st, r.stack = r.stack[n-1], r.stack[:n-1]
	}
}

func (r *recorder) Stroke(p vg.Path) { r.path(p, r.st.width/2, "stroke") }
func (r *recorder) Fill(p vg.Path)   { r.path(p, 0, "fill") }

// path checks the ink of a path: the white background (the plots' own
// background fill) may cover the whole canvas, nothing else may come
// within edgeMargin of its edge.
func (r *recorder) path(p vg.Path, pad vg.Length, what string) {
	if _, _, _, a := r.st.col.RGBA(); a == 0 || isWhite(r.st.col) {
		return
	}
	for _, c := range p {
		var pts []vg.Point
		switch c.Type {
		case vg.MoveComp, vg.LineComp:
			pts = []vg.Point{c.Pos}
		case vg.ArcComp:
			for k := 0; k <= 8; k++ {
				a := c.Start + c.Angle*float64(k)/8
				pts = append(pts, vg.Point{X: c.Pos.X + c.Radius*vg.Length(math.Cos(a)), Y: c.Pos.Y + c.Radius*vg.Length(math.Sin(a))})
			}
		case vg.CurveComp:
			pts = append(append(pts, c.Control...), c.Pos)
		}
		for _, q := range pts {
			q = r.st.tr.apply(q)
			if !inside(vg.Point{X: q.X - pad, Y: q.Y - pad}, r.w, r.h, edgeMargin) || !inside(vg.Point{X: q.X + pad, Y: q.Y + pad}, r.w, r.h, edgeMargin) {
				if len(r.outside) < 5 {
					r.outside = append(r.outside, fmt.Sprintf("%s at (%.1f, %.1f) of %.1f × %.1f", what, q.X, q.Y, r.w, r.h))
				}
				return
			}
		}
	}
}

func isWhite(c color.Color) bool {
	cr, cg, cb, _ := c.RGBA()
	return cr > 0xfe00 && cg > 0xfe00 && cb > 0xfe00
}

// FillString records the string's box: its advance width by one line pitch
// (the font size), from the descent below the baseline — so the lines of a
// multi-line label, set one font size apart, do not count as overlapping.
func (r *recorder) FillString(f font.Face, p vg.Point, s string) {
	if f.Font.Size == 0 || strings.TrimSpace(s) == "" {
		return
	}
	w := f.Width(s)
	// Trim the advance of leading and trailing blanks: no ink there.
	lead := f.Width(s[:len(s)-len(strings.TrimLeft(s, " "))])
	trail := f.Width(s[len(strings.TrimRight(s, " ")):])
	lo := p.Y - f.Extents().Descent
	hi := lo + f.Font.Size
	x0, x1 := p.X+lead, p.X+w-trail
	// Shrink by a hair so labels that merely touch are not an overlap.
	const eps = 0.25
	corners := []vg.Point{{X: x0 + eps, Y: lo + eps}, {X: x1 - eps, Y: lo + eps}, {X: x1 - eps, Y: hi - eps}, {X: x0 + eps, Y: hi - eps}}
	for i, c := range corners {
		corners[i] = r.st.tr.apply(c)
	}
	r.texts = append(r.texts, drawnText{text: strings.TrimSpace(s), size: f.Font.Size, box: corners})
}

func (r *recorder) DrawImage(rect vg.Rectangle, _ image.Image) {
	for _, q := range []vg.Point{rect.Min, rect.Max} {
		q = r.st.tr.apply(q)
		if !inside(q, r.w, r.h, edgeMargin) && len(r.outside) < 5 {
			r.outside = append(r.outside, fmt.Sprintf("image at (%.1f, %.1f) of %.1f × %.1f", q.X, q.Y, r.w, r.h))
		}
	}
}

// polysIntersect is the separating-axis test of two convex polygons.
func polysIntersect(a, b []vg.Point) bool {
	for _, poly := range [][]vg.Point{a, b} {
		for i := range poly {
			p, q := poly[i], poly[(i+1)%len(poly)]
			nx, ny := float64(q.Y-p.Y), float64(p.X-q.X)
			amin, amax := project(a, nx, ny)
			bmin, bmax := project(b, nx, ny)
			if amax <= bmin || bmax <= amin {
				return false
			}
		}
	}
	return true
}

func project(poly []vg.Point, nx, ny float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range poly {
		v := float64(p.X)*nx + float64(p.Y)*ny
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return lo, hi
}
