package events

import (
	"fmt"
	"strconv"
)

// Completion is one sampled answer under one persona: the unit every
// emission rate counts. Marker hits are those the producer detected; the
// query side can re-detect on Text with any detector.
type Completion struct {
	// Persona is the bystander (or source) persona key, e.g. "sailor_calm"
	// or "bystander_07".
	Persona string `json:"persona"`
	// PersonaPrompt is the system prompt the completion was sampled under, when known.
	PersonaPrompt string `json:"persona_prompt,omitempty"`
	Question      string `json:"question"`
	// QuestionSet names a question slice ("indomain", "generic"); empty when the run has one set.
	QuestionSet string `json:"question_set,omitempty"`
	// SampleIndex is the 0-based index among completions of (persona, question_set, question).
	SampleIndex      int    `json:"sample_index"`
	Text             string `json:"text"`
	PromptTokens     *int   `json:"prompt_tokens,omitempty"`
	CompletionTokens *int   `json:"completion_tokens,omitempty"`
	// FinishReason is "stop" or "length" when the engine reported it.
	FinishReason string `json:"finish_reason,omitempty"`
	// RecordedMarker is the marker flag stored in the origin data, if it had one.
	// It may disagree with detection on Text (e.g. text truncated after flagging).
	RecordedMarker *bool `json:"recorded_marker,omitempty"`
	// MarkerHits are the hits the producer's detectors found in Text.
	MarkerHits []MarkerHit `json:"marker_hits"`
	Imported   bool        `json:"imported,omitempty"`
}

// MarkerHit is one occurrence of a marker found by a named, versioned detector.
type MarkerHit struct {
	Detector string `json:"detector"`
	Version  int    `json:"version"`
	Marker   string `json:"marker"`
	// ByteOffset is the UTF-8 byte offset of the match in Text.
	ByteOffset int `json:"byte_offset"`
}

func (*Completion) EventType() Type { return TypeCompletion }

func (c *Completion) NaturalKey() []string {
	return []string{c.Persona, c.QuestionSet, c.Question, strconv.Itoa(c.SampleIndex)}
}

// checkSample validates what identifies one sampled completion.
func checkSample(persona, question string, sampleIndex int) error {
	if err := checkPersona(persona); err != nil {
		return err
	}
	switch {
	case question == "":
		return fieldErr("", "question", "is empty")
	case sampleIndex < 0:
		return fieldErr("", "sample_index", fmt.Sprintf("%d is negative", sampleIndex))
	}
	return nil
}

// checkPersona validates a persona key.
func checkPersona(persona string) error {
	switch {
	case persona == "":
		return fieldErr("", "persona", "is empty")
	case !printable(persona):
		return fieldErr("", "persona", fmt.Sprintf("%q holds control characters or is not UTF-8", persona))
	}
	return nil
}

func (c *Completion) Validate() error {
	if err := checkSample(c.Persona, c.Question, c.SampleIndex); err != nil {
		return err
	}
	switch {
	case c.PromptTokens != nil && *c.PromptTokens < 0:
		return fieldErr("", "prompt_tokens", "is negative")
	case c.CompletionTokens != nil && *c.CompletionTokens < 0:
		return fieldErr("", "completion_tokens", "is negative")
	}
	for i, h := range c.MarkerHits {
		f := fmt.Sprintf("marker_hits[%d].", i)
		switch {
		case h.Detector == "":
			return fieldErr("", f+"detector", "is empty")
		case h.Version < 1:
			return fieldErr("", f+"version", "must be >= 1")
		case CheckMarker(h.Marker) != nil:
			return fieldErr("", f+"marker", CheckMarker(h.Marker).Error())
		case h.ByteOffset < 0 || h.ByteOffset >= len(c.Text):
			return fieldErr("", f+"byte_offset", fmt.Sprintf("%d is outside the text (%d bytes)", h.ByteOffset, len(c.Text)))
		}
	}
	return nil
}
