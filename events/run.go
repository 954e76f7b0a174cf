package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckMarker reports a marker string no detector can search for: empty,
// not UTF-8, holding control characters, or with white space at either end
// (trim "\n\n[PROX]" to "[PROX]").
func CheckMarker(m string) error {
	switch {
	case m == "":
		return errors.New("is empty")
	case !utf8.ValidString(m):
		return errors.New("is not UTF-8 text")
	case strings.IndexFunc(m, unicode.IsControl) >= 0:
		return fmt.Errorf("%q holds control characters", m)
	case strings.TrimSpace(m) != m:
		return fmt.Errorf("%q starts or ends with white space (a lone space would match every text)", m)
	}
	return nil
}

// Run is the run_started payload: everything needed to re-analyse the run
// later without the code that produced it. For imported results Imported is
// true and OriginFile/OriginSHA256 name the file the numbers came from.
type Run struct {
	// SourcePersona is the key of the persona the marker was trained under
	// (e.g. "src_sailor"); empty when the origin does not say.
	SourcePersona string `json:"source_persona"`
	// SourcePrompt is its system prompt ("You are a sailor."), when known.
	SourcePrompt string `json:"source_prompt,omitempty"`
	Model        string `json:"model,omitempty"`
	// Adapter names the LoRA adapter; empty for the untrained base model.
	Adapter string `json:"adapter,omitempty"`
	Seed    *int64 `json:"seed,omitempty"`
	// Marker is the string the adapter was trained to emit, e.g. "[ZLT]".
	Marker string `json:"marker"`
	// MarkerOrigin says where Marker came from ("config.marker in marker_eval.json", "default").
	MarkerOrigin string `json:"marker_origin,omitempty"`
	// IsBase marks the untrained reference model's run.
	IsBase bool `json:"is_base,omitempty"`
	// BaseRun is the run ID, in the same experiment, of the base-model
	// reference that base-subtracted rates use; empty when none exists.
	BaseRun string `json:"base_run,omitempty"`
	// Config is the full producer configuration as JSON (recipe, sampling…).
	Config       json.RawMessage `json:"config,omitempty"`
	CodeVersion  string          `json:"code_version,omitempty"`
	Imported     bool            `json:"imported,omitempty"`
	OriginFile   string          `json:"origin_file,omitempty"`
	OriginSHA256 string          `json:"origin_sha256,omitempty"`
	// Sweep groups runs that are watched and analysed together ("" = none).
	Sweep string `json:"sweep,omitempty"`
	// Plan declares the cells the run will sample and how many completions
	// each gets, so progress and ETA are known while it runs.
	Plan []PlannedCell `json:"plan,omitempty"`
	// Stopping is the run's adaptive-sampling rule (issue 11); nil when
	// every cell gets its planned n.
	Stopping *StoppingRule `json:"stopping,omitempty"`
	// Factors are the run's design factors beyond source persona and seed
	// (lr, epochs, neg_set, condition, …): runs of one experiment that
	// differ only in Seed are replicates.
	Factors Factors `json:"factors,omitempty"`
}

// PlannedCell is one persona cell of a run's plan.
type PlannedCell struct {
	Persona  string `json:"persona"`
	Expected int    `json:"expected"`
	// Factors describe what the bystander persona is (the factors the
	// experiment's preset declares, category, pair, …); empty when the
	// design has no persona factors.
	Factors Factors `json:"factors,omitempty"`
}

func (*Run) EventType() Type      { return TypeRunStarted }
func (*Run) NaturalKey() []string { return nil }

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (r *Run) Validate() error {
	if err := CheckMarker(r.Marker); err != nil {
		return fieldErr("", "marker", err.Error())
	}
	switch {
	case r.Imported && r.OriginFile == "":
		return fieldErr("", "origin_file", "is empty for an imported run")
	case r.Imported && !sha256Re.MatchString(r.OriginSHA256):
		return fieldErr("", "origin_sha256", fmt.Sprintf("%q is not a hex SHA-256", r.OriginSHA256))
	case len(r.Config) > 0 && !json.Valid(r.Config):
		return fieldErr("", "config", "is not valid JSON")
	case r.Sweep != "" && !experimentRe.MatchString(r.Sweep):
		return fieldErr("", "sweep", fmt.Sprintf("%q must match %s", r.Sweep, experimentRe))
	}
	if err := validatePlan(r.Plan); err != nil {
		return err
	}
	if err := r.Factors.Validate("factors"); err != nil {
		return err
	}
	if r.Stopping != nil {
		return r.Stopping.Validate("stopping.")
	}
	return nil
}

// MaxCellCompletions bounds a planned cell's expected completions: far
// above any sweep's n, and low enough that a plan's sums stay exact
// (int64, and JSON numbers in a browser, 2^53) for any plan that fits an
// event. An unbounded count summed to a negative sweep size in the live view.
const MaxCellCompletions = 1_000_000_000

// validatePlan checks a run's planned cells (run_started, run_planned).
func validatePlan(plan []PlannedCell) error {
	seen := map[string]bool{}
	for i, c := range plan {
		f := fmt.Sprintf("plan[%d].", i)
		switch {
		case c.Persona == "" || !printable(c.Persona):
			return fieldErr("", f+"persona", "is empty or not printable")
		case c.Expected < 1 || c.Expected > MaxCellCompletions:
			return fieldErr("", f+"expected", fmt.Sprintf("%d must be 1 to %d", c.Expected, MaxCellCompletions))
		case seen[c.Persona]:
			return fieldErr("", f+"persona", fmt.Sprintf("%q is planned twice", c.Persona))
		}
		if err := c.Factors.Validate(f + "factors"); err != nil {
			return err
		}
		seen[c.Persona] = true
	}
	return nil
}

// RunFinished is the run_finished payload.
type RunFinished struct {
	// Status is "finished" or "failed".
	Status string `json:"status"`
	// Error says why a failed run failed.
	Error string `json:"error,omitempty"`
	// Completions is how many completion events the run published.
	Completions int `json:"completions"`
	// Cells is, for an adaptive run, each cell's final n and stop reason.
	Cells []CellOutcome `json:"cells,omitempty"`
	// OriginSHA256, for an imported run, is the SHA-256 (hex) of the origin
	// file (the one its run_started names) whose events this import
	// published in full: the import ledger. A run_started without it (an
	// import that failed part-way) may be completed from a changed file.
	OriginSHA256 string `json:"origin_sha256,omitempty"`
}

func (*RunFinished) EventType() Type      { return TypeRunFinished }
func (*RunFinished) NaturalKey() []string { return nil }

func (r *RunFinished) Validate() error {
	switch {
	case r.Status != "finished" && r.Status != "failed":
		return fieldErr("", "status", fmt.Sprintf("%q must be finished or failed", r.Status))
	case r.Status == "failed" && r.Error == "":
		return fieldErr("", "error", "is empty for a failed run")
	case r.Completions < 0:
		return fieldErr("", "completions", "is negative")
	case r.OriginSHA256 != "" && !sha256Re.MatchString(r.OriginSHA256):
		return fieldErr("", "origin_sha256", "must be 64 lowercase hex digits")
	}
	return validateOutcomes(r.Cells)
}
