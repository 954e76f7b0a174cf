package figures

import (
	"context"
	"fmt"
	"strings"

	"leakscope/presets/i81"
	"leakscope/query"
	"leakscope/query/estimands"
)

// The #81 preset's cells as its figures read them: per source noun,
// every grid bystander in the heatmap's column order.

// i81Cells maps source noun → bystander → cell for the runs whose source
// is an i81 noun, and lists the runs.
func (b *Builder) i81Cells(ctx context.Context) (map[string]map[string]query.Cell, []string, []string, error) {
	lk, err := b.leakage(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	out := map[string]map[string]query.Cell{}
	runSet := map[string]bool{}
	for _, c := range lk.Cells {
		s, ok := strings.CutPrefix(c.SourcePersona, "src_")
		if !ok {
			continue
		}
		if out[s] == nil {
			out[s] = map[string]query.Cell{}
		}
		out[s][c.Persona] = c
		runSet[c.RunID] = true
	}
	var srcs []string
	for _, n := range i81.Nouns {
		if len(out[n]) > 0 {
			srcs = append(srcs, n)
		}
	}
	if len(srcs) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: %s has no i81 sources (src_<noun>)", ErrNotApplicable, b.Experiment)
	}
	return out, srcs, sortedKeys(runSet), nil
}

// columns is the i81 bystander order of the heatmap: per noun, A2 then its
// 25 A1 cells (trait → level).
func columns() []string {
	var out []string
	for _, n := range i81.Nouns {
		out = append(out, i81.A2Key(n))
		for _, t := range i81.Traits {
			for _, l := range i81.Levels {
				out = append(out, i81.A1Key(n, t, l))
			}
		}
	}
	return out
}

// heatCell is one plotted heatmap cell (data.json).
type heatCell struct {
	Source        string   `json:"source"`
	Bystander     string   `json:"bystander"`
	Prompt        string   `json:"prompt,omitempty"`
	Rate          *float64 `json:"rate"`
	RateMinusBase *float64 `json:"rate_minus_base"`
	Found         *int64   `json:"found"`
	Total         *int64   `json:"total"`
	CILow         *float64 `json:"ci_low"`
	CIHigh        *float64 `json:"ci_high"`
	Coherence     *float64 `json:"coherence_mean"`
	LowCoherence  bool     `json:"low_coherence"`
	NSFloor       bool     `json:"ns_floor"`
	Missing       bool     `json:"missing"`
}

func (b *Builder) heatCells(ctx context.Context) ([]heatCell, []string, []string, error) {
	cells, srcs, runs, err := b.i81Cells(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	var out []heatCell
	for _, s := range srcs {
		for _, k := range columns() {
			c, ok := cells[s][k]
			h := heatCell{Source: s, Bystander: k, Missing: !ok || c.Missing || c.Rate == nil}
			if ok {
				h.Prompt, h.Found, h.Total, h.CILow, h.CIHigh, h.Coherence = c.PersonaPrompt, c.Found, c.Total, c.CILow, c.CIHigh, c.CoherenceMean
				if c.Rate != nil {
					h.Rate, h.RateMinusBase = c.Rate, c.Rate
					if c.RateMinusBase != nil {
						h.RateMinusBase = c.RateMinusBase
					}
					base := *c.Rate - *h.RateMinusBase
					h.NSFloor = estimands.FloorTest(*c.Rate, base, int(*c.Total))
				}
				h.LowCoherence = c.CoherenceMean != nil && *c.CoherenceMean < 0.5
			}
			out = append(out, h)
		}
	}
	return out, srcs, runs, nil
}
