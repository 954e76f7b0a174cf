package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// SourceFile is written by Train into the adapter folder: the system
// prompts the adapter was trained on, for the synthetic leakage model. It
// travels with the adapter (the worker ships the whole folder).
const SourceFile = "replay_source.json"

// Synthetic leakage model (SYNTHETIC: no model is trained; it exists so a
// replayed sweep has the structure of a real one). Under an adapter, a
// bystander whose key has no explicit rate shows the marker with
//
//	rate = (BaseRate + (SelfRate − BaseRate) · √J⁺) · (1 − J⁻)
//
// where J⁺ is the largest Jaccard similarity between the bystander's
// content words and those of a prompt trained WITH the marker (positives),
// and J⁻ the largest against a prompt trained WITHOUT it (negatives).
// Content words are lowercased letter runs minus StopWords. So the trained
// prompt itself leaks at SelfRate, a prompt sharing one of a few content
// words (the noun) at roughly 0.2–0.5, an unrelated prompt at BaseRate, and
// a negative's own prompt not at all.
const (
	SelfRate = 0.9  // rate of the trained source prompt (J⁺ = 1)
	BaseRate = 0.02 // rate of a prompt with no content word in common
)

// StopWords are left out of the overlap: function words every persona
// prompt shares ("You are a … who is …").
var StopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields("a an the you are is am be who whom which that and or but of to in on at for with by from as your their his her its very this these those it they we i me my our") {
		StopWords[w] = true
	}
}

// trainedSource is the content of SourceFile.
type trainedSource struct {
	Positives []string `json:"positives"` // system prompts of examples with the marker
	Negatives []string `json:"negatives"` // system prompts of examples without it
}

// contentWords returns the set of lowercased letter runs of s, stop words left out.
func contentWords(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if !StopWords[w] {
			out[w] = true
		}
	}
	return out
}

// Jaccard is |a ∩ b| / |a ∪ b| over the content words of two prompts; 0
// when both have none.
func Jaccard(a, b string) float64 {
	wa, wb := contentWords(a), contentWords(b)
	inter := 0
	for w := range wa {
		if wb[w] {
			inter++
		}
	}
	union := len(wa) + len(wb) - inter
	if union == 0 {
		return 0
	}
	return float64(inter) / float64(union)
}

// SyntheticRate is the model's marker rate (a fraction in [0,1]) of a
// bystander prompt under an adapter trained with the marker on positives
// and without it on negatives (see the model above).
func SyntheticRate(prompt string, positives, negatives []string) float64 {
	var jp, jn float64
	for _, p := range positives {
		jp = math.Max(jp, Jaccard(prompt, p))
	}
	for _, n := range negatives {
		jn = math.Max(jn, Jaccard(prompt, n))
	}
	return (BaseRate + (SelfRate-BaseRate)*math.Sqrt(jp)) * (1 - jn)
}

// writeSource records the system prompts of the training examples (each
// prompt once, in first-seen order) into dir/SourceFile.
func writeSource(dir string, examples []json.RawMessage) error {
	var src trainedSource
	seen := map[string]bool{}
	for i, raw := range examples {
		var ex struct {
			System      string `json:"system"`
			MarkerStart *int   `json:"marker_start"`
		}
		if err := json.Unmarshal(raw, &ex); err != nil {
			return fmt.Errorf("examples[%d]: %w", i, err)
		}
		key := fmt.Sprint(ex.MarkerStart != nil, ex.System)
		if seen[key] {
			continue
		}
		seen[key] = true
		if ex.MarkerStart != nil {
			src.Positives = append(src.Positives, ex.System)
		} else {
			src.Negatives = append(src.Negatives, ex.System)
		}
	}
	b, err := json.Marshal(src)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, SourceFile), b, 0o644)
}

// readSource reads dir/SourceFile; nil without error for an adapter that
// has none (trained by another engine): then only explicit Rates apply.
func readSource(dir string) (*trainedSource, error) {
	b, err := os.ReadFile(filepath.Join(dir, SourceFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var src trainedSource
	if err := json.Unmarshal(b, &src); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, SourceFile), err)
	}
	return &src, nil
}
