package figures

import (
	"context"
	"fmt"
	"sort"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// CosineScatter is the scatter the authors could not draw for i81: cosine
// of each bystander to the source against its marker rate, per source,
// with Spearman ρ and N in the title (single_token_100_persona has it).
func (b *Builder) CosineScatter(ctx context.Context) (figure, error) {
	res, err := b.estimand(ctx, "cosine-leakage", nil)
	if err != nil {
		return figure{}, err
	}
	pairs, err := b.Engine.SQL(ctx, `SELECT persona_a, persona_b, avg(cosine) FROM cosines WHERE experiment = $1 AND layer = 20 AND centering = 'raw' GROUP BY ALL ORDER BY 1, 2`, b.Experiment)
	if err != nil {
		return figure{}, err
	}
	lk, err := b.leakage(ctx)
	if err != nil {
		return figure{}, err
	}
	rate := map[[2]string]float64{}
	for _, c := range lk.Cells {
		if c.Rate != nil {
			rate[[2]string{c.SourcePersona, c.Persona}] = *c.Rate
		}
	}
	bySrc := map[string]plotter.XYs{}
	type pt struct {
		Source, Bystander string
		Cosine, Rate      float64
	}
	var data []pt
	for _, r := range pairs.Rows {
		a, bb, cos := r[0].(string), r[1].(string), r[2].(float64)
		if v, ok := rate[[2]string{a, bb}]; ok {
			bySrc[a] = append(bySrc[a], plotter.XY{X: cos, Y: v})
			data = append(data, pt{a, bb, cos, v})
		}
	}
	var all []any
	for _, r := range res.Rows {
		if r[0] == "all" {
			all = r
		}
	}
	p := newPlot()
	p.Title.Text = "Cosine to the source vs marker rate (layer 20)"
	if all != nil {
		p.Title.Text += fmt.Sprintf(": Spearman ρ = %.3f, N = %d", all[2], all[1])
	}
	p.X.Label.Text = "cosine similarity of persona centroids, layer 20 (raw)"
	p.Y.Label.Text = "marker rate (fraction)"
	srcs := sortedKeys(bySrc)
	for i, s := range srcs {
		sc, _ := plotter.NewScatter(bySrc[s])
		sc.GlyphStyle = draw.GlyphStyle{Shape: draw.CircleGlyph{}, Radius: vg.Points(2), Color: Wong[i%len(Wong)]}
		p.Add(sc)
		p.Legend.Add(s, sc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	meta := b.meta("cosine_vs_leakage", p.Title.Text, "estimand cosine-leakage (layer 20, raw) and the leakage matrix", "cosine in [−1, 1]; rate a fraction",
		res.Provenance.Params, res.Provenance.Runs)
	sort.Slice(data, func(i, j int) bool { return data[i].Source+data[i].Bystander < data[j].Source+data[j].Bystander })
	return figure{meta: meta, w: 6.5 * vg.Inch, h: 4.5 * vg.Inch, data: map[string]any{"points": data, "correlations": res.Rows},
		draw: func(dc draw.Canvas) { p.Draw(dc) }, axes: []figAxis{valueAxis("x", &p.X), valueAxis("y", &p.Y)}}, nil
}
