package events

import "fmt"

// RunPlanned is the run_planned payload: a run a sweep will start, declared
// when the sweep is submitted (before any of its runs starts), so the live
// view counts the sweep's whole plan from the start — progress, rate and
// ETA over every planned run, not only the started ones. The run is the
// envelope's run_id; its run_started later repeats the plan (and may add
// what only the worker knows: marker origin, adapter, stopping rule).
type RunPlanned struct {
	// Sweep is the sweep the run belongs to (required).
	Sweep string `json:"sweep"`
	// SourcePersona is the key of the persona the run's adapter is
	// trained under; empty for the base model.
	SourcePersona string `json:"source_persona,omitempty"`
	Seed          *int64 `json:"seed,omitempty"`
	// IsBase marks the untrained reference model's run.
	IsBase bool `json:"is_base,omitempty"`
	// Factors are the run's design factors (as in run_started).
	Factors Factors `json:"factors,omitempty"`
	// Plan is every cell the run will sample and its completions (at least
	// one cell).
	Plan []PlannedCell `json:"plan"`
}

func (*RunPlanned) EventType() Type { return TypeRunPlanned }

// NaturalKey is empty: a run has one plan (a sweep name stands for one
// spec), so submitting the sweep again publishes the same event ID.
func (*RunPlanned) NaturalKey() []string { return nil }

func (r *RunPlanned) Validate() error {
	switch {
	case r.Sweep == "":
		return fieldErr("", "sweep", "is empty: a planned run belongs to a sweep")
	case !experimentRe.MatchString(r.Sweep):
		return fieldErr("", "sweep", fmt.Sprintf("%q must match %s", r.Sweep, experimentRe))
	case len(r.Plan) == 0:
		return fieldErr("", "plan", "is empty: a planned run samples at least one cell")
	}
	if err := validatePlan(r.Plan); err != nil {
		return err
	}
	return r.Factors.Validate("factors")
}
