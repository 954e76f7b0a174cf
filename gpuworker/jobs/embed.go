package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gonum.org/v1/gonum/floats"

	"leakscope/events"
	"leakscope/events/version"
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/sweep"
)

// embed extracts the base model's persona centroids (EXPERIMENT.md §5),
// publishes one embedding event per persona and layer, and the cosine
// matrices: raw (as #81), global-mean-subtracted and, when the assistant
// persona is in the set, assistant-subtracted.
func (w *Worker) embed(ctx context.Context, m Message) (result, error) {
	s, j := m.Spec, m.Job
	eng, info, loaded, err := w.load(ctx, s, nil)
	if err != nil {
		return result{}, err
	}
	// The embeddings run is a run like the others (it lists in `runs`), with
	// no completions: its events are embeddings and cosine matrices.
	cfg, _ := json.Marshal(map[string]any{"job": j, "embedding": s.Embedding, "engine": info, "model": loaded, "worker": w.Name, "code_version": version.Code()})
	if err := w.publish(ctx, s, j, &events.Run{Model: s.Model, Marker: s.Marker, MarkerOrigin: "sweep spec", IsBase: true, Seed: &j.Seed,
		Sweep: s.Sweep, Config: cfg, CodeVersion: version.Code(), Factors: s.RunFactors(j.Source)}); err != nil {
		return result{}, err
	}
	personas := s.EmbedPersonas()
	var prompts []engine.Prompt
	prompt := map[string]string{}
	for _, p := range personas {
		prompt[p.Key] = p.Prompt
		for _, q := range s.EvalQuestions {
			prompts = append(prompts, engine.Prompt{Key: p.Key, System: p.Prompt, User: q})
		}
	}
	res, err := eng.Embed(ctx, engine.EmbedRequest{Prompts: prompts, Layers: s.Embedding.Layers, Position: s.Embedding.Position})
	if err != nil {
		return result{}, err
	}
	vec := map[int]map[string][]float64{}
	for _, c := range res.Centroids {
		if _, ok := prompt[c.Key]; !ok {
			return result{}, fmt.Errorf("engine returned a centroid for unrequested persona %q", c.Key)
		}
		if vec[c.Layer] == nil {
			vec[c.Layer] = map[string][]float64{}
		}
		vec[c.Layer][c.Key] = c.Vector
		if err := w.publish(ctx, s, j, &events.Embedding{Persona: c.Key, PersonaPrompt: prompt[c.Key], Layer: c.Layer,
			Position: s.Embedding.Position, Prompts: c.NPrompts, Vector: c.Vector}); err != nil {
			return result{}, err
		}
	}
	keys := make([]string, len(personas))
	for i, p := range personas {
		keys[i] = p.Key
	}
	matrices := 0
	for _, layer := range s.Embedding.Layers {
		v := vec[layer]
		if len(v) != len(keys) {
			return result{}, fmt.Errorf("engine returned %d of %d centroids at layer %d", len(v), len(keys), layer)
		}
		for _, c := range Centerings(keys, v) {
			if err := w.publish(ctx, s, j, &events.Cosine{Set: "matrix", Layer: layer, Centering: c.Centering,
				Method: s.Embedding.Position, Personas: keys, Matrix: CosineMatrix(keys, c.Vectors)}); err != nil {
				return result{}, err
			}
			matrices++
		}
	}
	if err := w.publish(ctx, s, j, &events.RunFinished{Status: "finished"}); err != nil {
		return result{}, err
	}
	return result{Done: len(res.Centroids), Expected: len(keys) * len(s.Embedding.Layers),
		Detail: map[string]any{"hidden_size": res.HiddenSize, "cosine_matrices": matrices, "personas": len(keys)}}, nil
}

func (w *Worker) publish(ctx context.Context, s sweep.Spec, j sweep.Job, p events.Payload) error {
	e, err := events.New(s.Experiment, j.RunID, time.Now(), p)
	if err != nil {
		return err
	}
	err = w.publishEvent(ctx, e)
	return err
}

// Centered is one centering variant of a set of centroids.
type Centered struct {
	Centering string
	Vectors   map[string][]float64
}

// Centerings returns the raw centroids, the global-mean-subtracted ones
// (the mean of all centroids in the set removed first) and, when the set
// holds "assistant", the assistant-subtracted ones (EXPERIMENT.md §5).
func Centerings(keys []string, v map[string][]float64) []Centered {
	out := []Centered{{events.CenteringRaw, v}}
	dim := len(v[keys[0]])
	mean := make([]float64, dim)
	for _, k := range keys {
		floats.Add(mean, v[k])
	}
	floats.Scale(1/float64(len(keys)), mean)
	out = append(out, Centered{events.CenteringGlobalMeanSubtracted, subtract(keys, v, mean)})
	if a, ok := v["assistant"]; ok {
		out = append(out, Centered{events.CenteringAssistantSubtracted, subtract(keys, v, a)})
	}
	return out
}

func subtract(keys []string, v map[string][]float64, c []float64) map[string][]float64 {
	out := make(map[string][]float64, len(keys))
	for _, k := range keys {
		d := make([]float64, len(c))
		floats.SubTo(d, v[k], c)
		out[k] = d
	}
	return out
}

// CosineMatrix is the matrix of cosine similarities of the vectors, in key
// order; a zero vector (the assistant after assistant subtraction) has
// cosine 0 with everything.
func CosineMatrix(keys []string, v map[string][]float64) [][]float64 {
	m := make([][]float64, len(keys))
	norm := make([]float64, len(keys))
	for i, k := range keys {
		norm[i] = floats.Norm(v[k], 2)
	}
	for i, a := range keys {
		m[i] = make([]float64, len(keys))
		for k, b := range keys {
			if norm[i] == 0 || norm[k] == 0 {
				continue
			}
			c := floats.Dot(v[a], v[b]) / (norm[i] * norm[k])
			m[i][k] = max(-1, min(1, c))
		}
	}
	return m
}
