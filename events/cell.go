package events

import (
	"fmt"
	"math"
)

// CellAggregate is a per-cell marker count that exists only as an aggregate
// in the origin data (no per-completion text), always marked Imported. One
// cell is one (run, persona) — optionally one question slice or one question.
// Rates are fractions in [0,1], never percentage points.
type CellAggregate struct {
	Persona       string `json:"persona"`
	PersonaPrompt string `json:"persona_prompt,omitempty"`
	// Category is the bystander category, where the origin groups its personas.
	Category string `json:"category,omitempty"`
	// Slice names a question slice ("indomain", "generic"); empty for the whole cell.
	Slice string `json:"slice,omitempty"`
	// Question is set for per-question counts; empty for the cell.
	Question string `json:"question,omitempty"`
	// Detector is the detector the origin counted with ("strict", "loose").
	Detector string   `json:"detector"`
	Found    *int     `json:"found,omitempty"`
	Total    *int     `json:"total,omitempty"`
	Rate     *float64 `json:"rate,omitempty"`
	CILow    *float64 `json:"ci_low,omitempty"`
	CIHigh   *float64 `json:"ci_high,omitempty"`
	// CoherenceMean is the judge mean as given in the origin (EXPERIMENT.md §4).
	CoherenceMean *float64 `json:"coherence_mean,omitempty"`
	LowCoherence  *bool    `json:"low_coherence,omitempty"`
	NSFloor       *bool    `json:"ns_floor,omitempty"`
	// Missing marks a cell the origin lists but never measured (e.g. rows
	// an origin CSV zero-fills for cells it never evaluated); its counts are absent.
	Missing       bool   `json:"missing,omitempty"`
	MissingReason string `json:"missing_reason,omitempty"`
	// Factors describe what the bystander persona is: every design factor
	// the experiment's preset or plan names. Payloads of the first format
	// carried some of them as fields of their own; see cell_legacy.go.
	Factors Factors `json:"factors,omitempty"`
	// RateOnly marks a cell whose origin gives a rate without a count
	// (run_result.json): Found and Total are absent, Rate is required, and no
	// interval or count may be derived from it.
	RateOnly bool `json:"rate_only,omitempty"`
	// TotalOrigin says where Total came from when the origin file did not
	// list it per cell ("eval.n_questions × eval.n_completions_per_question").
	TotalOrigin string `json:"total_origin,omitempty"`
	// Imported must be true: aggregates only enter leakscope by import.
	Imported   bool   `json:"imported"`
	OriginFile string `json:"origin_file"`
}

func (*CellAggregate) EventType() Type { return TypeCellAggregate }

func (c *CellAggregate) NaturalKey() []string {
	return []string{c.Persona, c.Slice, c.Question, c.Detector}
}

func (c *CellAggregate) Validate() error {
	if err := checkPersona(c.Persona); err != nil {
		return err
	}
	switch {
	case c.Detector == "":
		return fieldErr("", "detector", "is empty")
	case !c.Imported:
		return fieldErr("", "imported", "must be true for a cell aggregate")
	case c.OriginFile == "":
		return fieldErr("", "origin_file", "is empty")
	case c.Missing && c.MissingReason == "":
		return fieldErr("", "missing_reason", "is empty for a missing cell")
	case c.Missing && (c.Found != nil || c.Total != nil):
		return fieldErr("", "found", "must be absent for a missing cell")
	case c.Missing && c.RateOnly:
		return fieldErr("", "rate_only", "a missing cell has no rate")
	case c.RateOnly && (c.Found != nil || c.Total != nil || c.CILow != nil || c.CIHigh != nil):
		return fieldErr("", "found", "found, total and the CI must be absent for a rate-only cell")
	case c.RateOnly && (c.Rate == nil || math.IsNaN(*c.Rate) || *c.Rate < 0 || *c.Rate > 1):
		return fieldErr("", "rate", "a rate-only cell needs a rate in [0,1]")
	case !c.Missing && !c.RateOnly && (c.Found == nil || c.Total == nil):
		return fieldErr("", "found", "found and total are required unless the cell is missing or rate_only")
	}
	if err := c.Factors.Validate("factors"); err != nil {
		return err
	}
	if c.Missing || c.RateOnly {
		return c.checkUnitFields()
	}
	switch {
	case *c.Total <= 0:
		return fieldErr("", "total", fmt.Sprintf("%d must be positive", *c.Total))
	case *c.Found < 0 || *c.Found > *c.Total:
		return fieldErr("", "found", fmt.Sprintf("%d is outside [0, total=%d]", *c.Found, *c.Total))
	}
	return c.checkUnitFields()
}

// checkUnitFields checks the fractions: rate, CI and coherence in [0,1].
func (c *CellAggregate) checkUnitFields() error {
	for _, f := range []struct {
		name string
		v    *float64
	}{{"rate", c.Rate}, {"ci_low", c.CILow}, {"ci_high", c.CIHigh}, {"coherence_mean", c.CoherenceMean}} {
		if f.v != nil && (math.IsNaN(*f.v) || *f.v < 0 || *f.v > 1) {
			return fieldErr("", f.name, fmt.Sprintf("%v is outside [0,1]", *f.v))
		}
	}
	if c.Found != nil && c.Total != nil && c.Rate != nil && math.Abs(*c.Rate-float64(*c.Found)/float64(*c.Total)) > 1e-6 {
		return fieldErr("", "rate", fmt.Sprintf("%v disagrees with found/total = %d/%d", *c.Rate, *c.Found, *c.Total))
	}
	return nil
}
