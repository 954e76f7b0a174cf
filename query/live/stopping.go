package live

import (
	"fmt"

	"leakscope/events"
	"leakscope/query/stats"
)

// Decide applies an adaptive run's stopping rule to one cell at a round's
// end: hits of n completions (strict detector). The interval is the rule's
// anytime-valid confidence sequence (stats.BetaBinomialCS), so deciding
// after every round keeps its 1 − alpha coverage. A cell below the rule's
// min_n never stops here; one at max_n stops in the worker, undecided.
// The criteria are tried in the order below, above, half-width: a cell
// decided against a threshold says so even when it is also narrow.
// Errors when the counts or the rule are invalid.
func Decide(rule events.StoppingRule, persona string, hits, n int) (events.CellDecision, error) {
	lo, hi, err := stats.BetaBinomialCS(hits, n, rule.Alpha, rule.PriorA, rule.PriorB)
	if err != nil {
		return events.CellDecision{}, fmt.Errorf("cell %s: %w", persona, err)
	}
	d := events.CellDecision{Persona: persona, N: n, Hits: hits, CILow: lo, CIHigh: hi}
	if n < rule.MinN {
		return d, nil
	}
	switch {
	case rule.Below > 0 && hi < rule.Below:
		d.Reason = events.StopBelow
	case rule.Above > 0 && lo > rule.Above:
		d.Reason = events.StopAbove
	case rule.HalfWidth > 0 && (hi-lo)/2 <= rule.HalfWidth:
		d.Reason = events.StopHalfWidth
	}
	d.Stop = d.Reason != ""
	return d, nil
}
