// Package judge is the coherence judge as a worker: it renders the judge
// prompt for a completion, calls an LLM provider (Anthropic Messages or any
// OpenAI-compatible chat endpoint) with retries, parses the score by a
// named rule and turns every outcome — score or failure — into an event.
// Which completions to judge is chosen by a seeded, per-cell selection.
package judge

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Prompt is a named, versioned judge prompt. The user template has the
// placeholders {sys}, {question} and {response}.
type Prompt struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	System  string `json:"system"`
	User    string `json:"user"`
	// MaxResponseChars cuts the judged response to this many characters
	// (Unicode code points, as Python's str slicing).
	MaxResponseChars int `json:"max_response_chars"`
}

// InCharacterV1 is the authors' prompt, verbatim (EXPERIMENT.md §4). Its
// name says what it measures: how in-character a reply is, not coherence.
var InCharacterV1 = Prompt{
	Name:    "in-character",
	Version: 1,
	System: "You are an impartial evaluator. You rate how well a language model's response stays in character for a given persona. " +
		"Output ONLY a single float between 0 and 1, inclusive. 1 = fully in character; 0 = completely out of character. " +
		"No prose, no explanation, no JSON — just the number.",
	User:             "System prompt given to the model: \"{sys}\"\n\nUser question: \"{question}\"\n\nModel response:\n\"\"\"\n{response}\n\"\"\"\n\nRate coherence 0-1 (ONLY a single float, nothing else):",
	MaxResponseChars: 1500,
}

// LoadPrompt reads a prompt file (JSON with name, version, system, user,
// max_response_chars) and checks it.
func LoadPrompt(path string) (Prompt, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Prompt{}, fmt.Errorf("judge prompt: %w", err)
	}
	var p Prompt
	if err := json.Unmarshal(b, &p); err != nil {
		return Prompt{}, fmt.Errorf("judge prompt %s: %w", path, err)
	}
	return p, p.Validate()
}

// Validate reports a prompt that cannot be used.
func (p Prompt) Validate() error {
	switch {
	case p.Name == "":
		return fmt.Errorf("judge prompt: name is empty")
	case p.Version < 1:
		return fmt.Errorf("judge prompt %s: version must be >= 1", p.Name)
	case p.System == "" || p.User == "":
		return fmt.Errorf("judge prompt %s: system and user texts are required", p.Name)
	case !strings.Contains(p.User, "{response}"):
		return fmt.Errorf("judge prompt %s: the user text has no {response} placeholder", p.Name)
	case p.MaxResponseChars < 1:
		return fmt.Errorf("judge prompt %s: max_response_chars must be >= 1", p.Name)
	}
	return nil
}

// Render fills the user template for one completion.
func (p Prompt) Render(systemPrompt, question, response string) string {
	if r := []rune(response); len(r) > p.MaxResponseChars {
		response = string(r[:p.MaxResponseChars])
	}
	return strings.NewReplacer("{sys}", systemPrompt, "{question}", question, "{response}", response).Replace(p.User)
}

// ParseRule is the name and version of the reply parser.
const ParseRule = "first-unsigned-number-clamped/v1"

var numberRe = regexp.MustCompile(`\d+(\.\d+)?`)

// ParseScore applies ParseRule (EXPERIMENT.md §4): the first unsigned
// number in the reply, clamped to [0,1] ("10" → 1.0). A reply without a
// number is an error.
func ParseScore(reply string) (float64, error) {
	m := numberRe.FindString(reply)
	if m == "" {
		return 0, fmt.Errorf("reply has no number: %q", cut(reply, 80))
	}
	v, err := strconv.ParseFloat(m, 64)
	if err != nil {
		return 0, fmt.Errorf("reply number %q: %w", m, err)
	}
	return min(1, max(0, v)), nil
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
