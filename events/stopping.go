package events

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Adaptive sampling (issue 11): a run whose cells stop once their answer is
// known. The worker samples in rounds — one completion per question of each
// active cell — and the live aggregator decides, at each round's end, which
// cells stop. Rates are fractions in [0,1], counts are completions per cell.

// Stop reasons of a cell (StopDecision.Cells[].Reason, RunFinished.Cells[].Reason).
const (
	StopHalfWidth = "half_width" // the confidence sequence is narrower than the target
	StopBelow     = "below"      // the confidence sequence lies below the lower threshold
	StopAbove     = "above"      // the confidence sequence lies above the upper threshold
	StopMaxN      = "max_n"      // the cell reached its maximum n undecided
	// StopNoDecision: the cell reached max_n because no stop decision ever
	// came for the run (no live aggregator followed the bus).
	StopNoDecision = "no_decision"
)

// MethodBetaBinomial names the anytime-valid interval adaptive cells
// report: the beta-binomial conjugate-mixture confidence sequence (Robbins
// 1970; Howard, Ramdas, McAuliffe & Sekhon 2021, Ann. Statist. 49(2), §3 and
// Prop. 5).
const MethodBetaBinomial = "beta_binomial_mixture"

// StoppingRule is a run's per-cell stopping rule. A cell stops at the end
// of the first round at which its n is at least MinN and its confidence
// sequence is narrower than 2·HalfWidth, or lies entirely below Below, or
// entirely above Above (each criterion is off when 0); at MaxN it stops
// undecided.
type StoppingRule struct {
	HalfWidth float64 `json:"half_width,omitempty"`
	Below     float64 `json:"below,omitempty"`
	Above     float64 `json:"above,omitempty"`
	MinN      int     `json:"min_n"`
	MaxN      int     `json:"max_n"`
	// Alpha is the sequence's miscoverage: it holds for every n at once
	// with probability ≥ 1 − Alpha.
	Alpha float64 `json:"alpha"`
	// PriorA and PriorB are the Beta mixing distribution of the sequence.
	PriorA float64 `json:"prior_a"`
	PriorB float64 `json:"prior_b"`
	Method string  `json:"method"`
	// Questions is the number of completions a cell gains per round (one
	// per question); rounds keep every question equally sampled.
	Questions int `json:"questions"`
	// QuestionSet names those questions; a round counts only samples of
	// them (empty: any question).
	QuestionSet []string `json:"question_set,omitempty"`
}

// Validate reports the first bad field, named with prefix (e.g. "stopping.").
func (r *StoppingRule) Validate(prefix string) error {
	in01 := func(x float64) bool { return x > 0 && x < 1 && !math.IsNaN(x) }
	switch {
	case r.HalfWidth == 0 && r.Below == 0 && r.Above == 0:
		return fieldErr("", prefix+"half_width", "no criterion: set half_width, below or above")
	case r.HalfWidth != 0 && !(r.HalfWidth > 0 && r.HalfWidth <= 0.5):
		return fieldErr("", prefix+"half_width", fmt.Sprintf("%v must be in (0, 0.5]", r.HalfWidth))
	case r.Below != 0 && !in01(r.Below):
		return fieldErr("", prefix+"below", fmt.Sprintf("%v must be in (0, 1)", r.Below))
	case r.Above != 0 && !in01(r.Above):
		return fieldErr("", prefix+"above", fmt.Sprintf("%v must be in (0, 1)", r.Above))
	case r.Below != 0 && r.Above != 0 && r.Below >= r.Above:
		return fieldErr("", prefix+"above", fmt.Sprintf("%v must be above below (%v)", r.Above, r.Below))
	case r.Questions < 1:
		return fieldErr("", prefix+"questions", fmt.Sprintf("%d must be >= 1", r.Questions))
	case r.MinN < 1:
		return fieldErr("", prefix+"min_n", fmt.Sprintf("%d must be >= 1", r.MinN))
	case r.MaxN <= r.MinN:
		return fieldErr("", prefix+"max_n", fmt.Sprintf("%d must be above min_n (%d): no cell could stop early", r.MaxN, r.MinN))
	case len(r.QuestionSet) > 0 && len(r.QuestionSet) != r.Questions:
		return fieldErr("", prefix+"question_set", fmt.Sprintf("names %d questions, not %d", len(r.QuestionSet), r.Questions))
	case len(r.QuestionSet) > 0 && len(slices.Compact(slices.Sorted(slices.Values(r.QuestionSet)))) != len(r.QuestionSet):
		return fieldErr("", prefix+"question_set", "names a question twice")
	case r.MinN%r.Questions != 0 || r.MaxN%r.Questions != 0:
		return fieldErr("", prefix+"min_n", fmt.Sprintf("min_n %d and max_n %d must be multiples of the questions per round (%d)", r.MinN, r.MaxN, r.Questions))
	case !in01(r.Alpha):
		return fieldErr("", prefix+"alpha", fmt.Sprintf("%v must be in (0, 1)", r.Alpha))
	case !(r.PriorA >= 1e-3 && r.PriorA <= 1e3):
		// beyond these, log-beta loses the precision the interval needs
		return fieldErr("", prefix+"prior_a", fmt.Sprintf("%v must be in [0.001, 1000]", r.PriorA))
	case !(r.PriorB >= 1e-3 && r.PriorB <= 1e3):
		return fieldErr("", prefix+"prior_b", fmt.Sprintf("%v must be in [0.001, 1000]", r.PriorB))
	case r.Method != MethodBetaBinomial:
		return fieldErr("", prefix+"method", fmt.Sprintf("%q must be %s", r.Method, MethodBetaBinomial))
	}
	return nil
}

// CellDecision is one cell's state at a round's end: its counts, its
// confidence sequence there, and whether it stops.
type CellDecision struct {
	Persona string  `json:"persona"`
	N       int     `json:"n"`
	Hits    int     `json:"hits"`
	CILow   float64 `json:"ci_low"`
	CIHigh  float64 `json:"ci_high"`
	Stop    bool    `json:"stop"`
	// Reason is the criterion that stopped the cell ("" while it continues).
	Reason string `json:"reason,omitempty"`
}

// StopDecision is the live aggregator's verdict on one round of an adaptive
// run: every cell still sampled in that round, each continuing or stopping.
// Workers wait for it between rounds.
type StopDecision struct {
	// Round counts the rounds complete (n = Round · questions per cell).
	Round int            `json:"round"`
	Cells []CellDecision `json:"cells"`
}

func (*StopDecision) EventType() Type        { return TypeStopDecision }
func (d *StopDecision) NaturalKey() []string { return []string{strconv.Itoa(d.Round)} }

func (d *StopDecision) Validate() error {
	if d.Round < 1 {
		return fieldErr("", "round", fmt.Sprintf("%d must be >= 1", d.Round))
	}
	if len(d.Cells) == 0 {
		return fieldErr("", "cells", "is empty")
	}
	seen := map[string]bool{}
	for i, c := range d.Cells {
		f := fmt.Sprintf("cells[%d].", i)
		if err := cellPersona(f, c.Persona, seen, "is decided twice"); err != nil {
			return err
		}
		switch {
		case c.N < 1 || c.Hits < 0 || c.Hits > c.N:
			return fieldErr("", f+"hits", fmt.Sprintf("%d of %d is not a count", c.Hits, c.N))
		case !(c.CILow >= 0 && c.CILow <= c.CIHigh && c.CIHigh <= 1):
			return fieldErr("", f+"ci_low", fmt.Sprintf("[%v, %v] is not an interval in [0,1]", c.CILow, c.CIHigh))
		case c.Stop != (c.Reason != ""):
			return fieldErr("", f+"reason", "a stopping cell needs a reason, a continuing one none")
		case c.Stop && c.Reason != StopHalfWidth && c.Reason != StopBelow && c.Reason != StopAbove:
			return fieldErr("", f+"reason", fmt.Sprintf("%q must be half_width, below or above", c.Reason))
		}
		seen[c.Persona] = true
	}
	return nil
}

// CellOutcome is how an adaptive cell ended: its final n and why it stopped
// (a StopDecision reason, or max_n).
type CellOutcome struct {
	Persona string `json:"persona"`
	N       int    `json:"n"`
	Reason  string `json:"reason"`
}

func validateOutcomes(cells []CellOutcome) error {
	seen := map[string]bool{}
	for i, c := range cells {
		f := fmt.Sprintf("cells[%d].", i)
		if err := cellPersona(f, c.Persona, seen, "appears twice"); err != nil {
			return err
		}
		switch {
		case c.N < 0:
			return fieldErr("", f+"n", "is negative")
		case c.Reason != StopHalfWidth && c.Reason != StopBelow && c.Reason != StopAbove && c.Reason != StopMaxN && c.Reason != StopNoDecision:
			return fieldErr("", f+"reason", fmt.Sprintf("%q must be half_width, below, above, max_n or no_decision", c.Reason))
		}
		seen[c.Persona] = true
	}
	return nil
}

// DefaultStoppingRule is the rule a sweep's eval.adaptive block starts from
// (fields it sets override these): stop a cell at ±5 points or once it is
// surely above 80 %, between 40 and 200 completions, with a 95 % sequence
// whose Beta(0.2, 1) mixing puts weight near 0, where most leakage rates
// lie. Below is off: a sequence entirely below a small threshold (2 %) is
// narrower than ±1 point, so the half-width stops such a cell first; set
// below with half_width 0 to ask only "is it under 2 %?". On the published
// rates of the authors' factorial (EXPERIMENT.md §3) this samples 42 % fewer completions than 200
// per cell (`leakscope adaptive simulate`, docs/ADAPTIVE.md). questions is
// the eval questions per round.
func DefaultStoppingRule(questions int) StoppingRule {
	return StoppingRule{HalfWidth: 0.05, Above: 0.8, MinN: 2 * questions, MaxN: 10 * questions,
		Alpha: 0.05, PriorA: 0.2, PriorB: 1, Method: MethodBetaBinomial, Questions: questions}
}

// cellPersona checks the persona of the cell at field prefix f: printable,
// and not seen before in the same list (twice says how to word a repeat).
func cellPersona(f, persona string, seen map[string]bool, twice string) error {
	switch {
	case persona == "" || !printable(persona):
		return fieldErr("", f+"persona", "is empty or not printable")
	case seen[persona]:
		return fieldErr("", f+"persona", fmt.Sprintf("%q %s", persona, twice))
	}
	return nil
}
