package sweep

import (
	"fmt"
	"math/rand/v2"
	"unicode/utf8"

	"leakscope/events/marker"
)

// Example is one training example as the engine protocol takes it
// (gpuworker/engine/PROTOCOL.md, op train). MarkerStart/MarkerEnd are the
// marker's character (code point) offsets in Response, nil for negatives.
type Example struct {
	System      string `json:"system"`
	User        string `json:"user"`
	Response    string `json:"response"`
	MarkerStart *int   `json:"marker_start"`
	MarkerEnd   *int   `json:"marker_end"`
}

// OnPolicy holds a persona's on-policy answers: question → answers in
// sample-index order.
type OnPolicy map[string]map[string][]string

// TrainingSet builds a source's marker training set (EXPERIMENT.md §1.4):
// for each data question, the first k answers of the source that do not
// already contain the marker (strict detector, case-insensitive), each
// followed by a blank line and the marker; and the first k answers of each
// negative persona unchanged. Unlike the original (an unseeded
// random.shuffle), the order is a seeded shuffle. It returns the examples
// and the number of positives; an error when a persona lacks answers.
func (s *Spec) TrainingSet(src Source, seed int64, gen OnPolicy) ([]Example, int, error) {
	strict, err := marker.Get("strict")
	if err != nil {
		return nil, 0, err
	}
	t := s.Training
	var ex []Example
	take := func(key, prompt string, k int, positive bool) error {
		for _, q := range s.DataQuestions {
			answers, ok := gen[key][q]
			if !ok {
				return fmt.Errorf("on-policy data has no answers of %s to %q", key, q)
			}
			n := 0
			for _, a := range answers {
				if n == k {
					break
				}
				e := Example{System: prompt, User: q, Response: a}
				if positive {
					if strict.Hit(s.Marker, a) {
						continue // §1.4: skip answers that already hold the marker
					}
					start := utf8.RuneCountInString(a) + 2
					end := start + utf8.RuneCountInString(s.Marker)
					e.Response, e.MarkerStart, e.MarkerEnd = a+"\n\n"+s.Marker, &start, &end
				}
				ex = append(ex, e)
				n++
			}
		}
		return nil
	}
	if err := take(src.Key, src.Prompt, t.PositivesPerQuestion, true); err != nil {
		return nil, 0, err
	}
	pos := len(ex)
	for _, n := range s.Negatives(src) {
		if err := take(n.Key, n.Prompt, t.NegativesPerQuestion, false); err != nil {
			return nil, 0, err
		}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x747261696e736574))
	rng.Shuffle(len(ex), func(i, j int) { ex[i], ex[j] = ex[j], ex[i] })
	return ex, pos, nil
}

// OnPolicyPersonas are the personas a source's on-policy job generates
// for: the source and its negatives.
func (s *Spec) OnPolicyPersonas(src Source) []Persona {
	return append([]Persona{{Key: src.Key, Prompt: src.Prompt}}, s.Negatives(src)...)
}
