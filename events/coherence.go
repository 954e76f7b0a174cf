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
}

func (*CoherenceScore) EventType() Type { return TypeCoherenceScore }

func (c *CoherenceScore) NaturalKey() []string {
	return []string{c.Persona, c.QuestionSet, c.Question, strconv.Itoa(c.SampleIndex), c.Judge, strconv.Itoa(c.JudgeVersion)}
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
	case !c.Failed && c.Score == nil:
		return fieldErr("", "score", "is missing")
	case c.Score != nil && (math.IsNaN(*c.Score) || *c.Score < 0 || *c.Score > 1):
		return fieldErr("", "score", fmt.Sprintf("%v is outside [0,1]", *c.Score))
	}
	return nil
}
