package events

import (
	"fmt"
	"math"
	"strconv"
)

// CoherenceScore is one LLM-judge score of one completion (EXPERIMENT.md §4:
// the judge rates how in-character a response is, 0..1). A failed or
// unparseable call is an event too, with Failed set and no Score.
type CoherenceScore struct {
	Persona      string `json:"persona"`
	Question     string `json:"question"`
	QuestionSet  string `json:"question_set,omitempty"`
	SampleIndex  int    `json:"sample_index"`
	CompletionID string `json:"completion_id,omitempty"`
	// Judge names the judge configuration (model + prompt), JudgeVersion its version.
	Judge        string   `json:"judge"`
	JudgeVersion int      `json:"judge_version"`
	Score        *float64 `json:"score,omitempty"`
	Failed       bool     `json:"failed,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	// Attempt numbers failed calls (1, 2, …) so a retry after a failure is
	// a new fact; a score has attempt 0 and is the completion's verdict.
	Attempt int `json:"attempt,omitempty"`
	// Reply is the judge's raw reply (cut to 200 bytes), for audit.
	Reply string `json:"reply,omitempty"`
	// SelectionSeed is the seed that chose this completion for judging.
	SelectionSeed *uint64 `json:"selection_seed,omitempty"`
	// InputTokens and OutputTokens are the provider's usage for the call.
	InputTokens  *int `json:"input_tokens,omitempty"`
	OutputTokens *int `json:"output_tokens,omitempty"`
	// Imported marks scores taken from a published judge output file.
	Imported bool `json:"imported,omitempty"`
}

func (*CoherenceScore) EventType() Type { return TypeCoherenceScore }

func (c *CoherenceScore) NaturalKey() []string {
	return []string{c.Persona, c.QuestionSet, c.Question, strconv.Itoa(c.SampleIndex), c.Judge, strconv.Itoa(c.JudgeVersion), strconv.Itoa(c.Attempt)}
}

func (c *CoherenceScore) Validate() error {
	if err := checkSample(c.Persona, c.Question, c.SampleIndex); err != nil {
		return err
	}
	switch {
	case c.Judge == "":
		return fieldErr("", "judge", "is empty")
	case c.JudgeVersion < 1:
		return fieldErr("", "judge_version", "must be >= 1")
	case c.Failed && c.Reason == "":
		return fieldErr("", "reason", "is empty for a failed call")
	case c.Failed && c.Score != nil:
		return fieldErr("", "score", "must be absent for a failed call")
	case c.Failed && c.Attempt < 1:
		return fieldErr("", "attempt", "must be >= 1 for a failed call")
	case !c.Failed && c.Attempt != 0:
		return fieldErr("", "attempt", "must be 0 for a score")
	case (c.InputTokens != nil && *c.InputTokens < 0) || (c.OutputTokens != nil && *c.OutputTokens < 0):
		return fieldErr("", "input_tokens", "token counts must not be negative")
	case !c.Failed && c.Score == nil:
		return fieldErr("", "score", "is missing")
	case c.Score != nil && (math.IsNaN(*c.Score) || *c.Score < 0 || *c.Score > 1):
		return fieldErr("", "score", fmt.Sprintf("%v is outside [0,1]", *c.Score))
	}
	return nil
}
