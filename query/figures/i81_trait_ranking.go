package figures

import (
	"context"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"leakscope/presets/i81"
	"leakscope/query/estimands"
)

// TraitRankingHero is figure 9 (leakage panel): per trait, the mean A1 rate
// over (source, noun) cells at each level, ±1 standard error.
func (b *Builder) TraitRankingHero(ctx context.Context) (figure, error) {
	g, err := estimands.LoadGrid(ctx, b.Engine, b.Experiment, "strict", b.Scope)
	if errors.Is(err, estimands.ErrNoData) {
		return figure{}, fmt.Errorf("%w: %v", ErrNotApplicable, err)
	}
	if err != nil {
		return figure{}, err
	}
	p := newPlot()
	p.Title.Text = "Marker rate by trait level (mean over source × noun, ±1 SE)"
	p.Y.Label.Text = "marker rate (fraction)"
	p.X.Label.Text = "trait level (L1 very low … L5 very high)"
	p.X.Tick.Marker = labelTicks(i81.Levels)
	top := 0.0
	type point struct {
		Trait, Level string
		Mean, SE     float64
		N            int
	}
	var data []point
	for ti, t := range i81.Traits {
		var pts plotter.XYs
		var errs plotter.YErrors
		for li, l := range i81.Levels {
			var v []float64
			for _, s := range g.Sources {
				for _, n := range i81.Nouns {
					if c, ok := g.Get(s, i81.A1Key(n, t, l)); ok {
						v = append(v, c.Rate)
					}
				}
			}
			if len(v) == 0 {
				continue
			}
			m, se := meanSE(v)
			top = math.Max(top, m+se)
			pts = append(pts, plotter.XY{X: float64(li) + 0.06*float64(ti-2), Y: m}) // traits side by side
			errs = append(errs, struct{ Low, High float64 }{se, se})
			data = append(data, point{t, l, m, se, len(v)})
		}
		l, sc, _ := plotter.NewLinePoints(pts)
		l.Color, sc.Color = Wong[ti], Wong[ti]
		eb, _ := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{pts, errs})
		eb.Color = Wong[ti]
		p.Add(l, sc, eb)
		p.Legend.Add(t, l, sc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min, p.Y.Max = 0, top*1.45
	meta := b.meta("trait_ranking_hero", "Marker rate by trait level", "the experiment's grid (strict detector)", "fraction in [0, 1]; error bars ±1 SE over (source, noun) cells", nil, g.Runs)
	meta.Notes = []string{"the cosine panel needs persona cosines to the source, which the i81 data never published"}
	return figure{meta: meta, w: 6.5 * vg.Inch, h: 4 * vg.Inch, data: data, draw: func(dc draw.Canvas) { p.Draw(dc) },
		axes: []figAxis{categoryAxis("x", &p.X), valueAxis("y", &p.Y)}}, nil
}

func meanSE(v []float64) (float64, float64) {
	m := 0.0
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	if len(v) < 2 {
		return m, 0
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss/float64(len(v)-1)) / math.Sqrt(float64(len(v)))
}
