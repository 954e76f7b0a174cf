package events

import (
	"fmt"
	"math"
	"strconv"
)

// PositionLastPromptToken is the token position of #81's persona vectors:
// the final prompt token, the newline after "<|im_start|>assistant"
// (EXPERIMENT.md §5), not the end of the system prompt.
const PositionLastPromptToken = "last_prompt_token"

// Embedding is a persona centroid: the mean, over Prompts questions, of the
// hidden state at Position at the output of decoder layer Layer
// (HF hidden_states[Layer+1]), float32 on the GPU, stored as float64.
// Cosine events are computed from these (EXPERIMENT.md §5).
type Embedding struct {
	Persona       string    `json:"persona"`
	PersonaPrompt string    `json:"persona_prompt"`
	Layer         int       `json:"layer"`
	Position      string    `json:"position"`
	Prompts       int       `json:"prompts"`
	Vector        []float64 `json:"vector"`
}

func (*Embedding) EventType() Type { return TypeEmbedding }

func (m *Embedding) NaturalKey() []string {
	return []string{m.Persona, strconv.Itoa(m.Layer), m.Position}
}

func (m *Embedding) Validate() error {
	if err := checkPersona(m.Persona); err != nil {
		return err
	}
	switch {
	case m.Layer < 0:
		return fieldErr("", "layer", "is negative")
	case m.Position != PositionLastPromptToken:
		return fieldErr("", "position", fmt.Sprintf("%q must be %s", m.Position, PositionLastPromptToken))
	case m.Prompts < 1:
		return fieldErr("", "prompts", "must be >= 1")
	case len(m.Vector) == 0:
		return fieldErr("", "vector", "is empty")
	}
	for i, v := range m.Vector {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fieldErr("", fmt.Sprintf("vector[%d]", i), fmt.Sprintf("%v is not finite", v))
		}
	}
	return nil
}
