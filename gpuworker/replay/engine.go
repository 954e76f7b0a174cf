package replay

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"leakscope/gpuworker/engine"
)

// Engine is the replay engine behind the job interface: it answers every
// engine op without a GPU, deterministically, so the worker, the job
// queue and the publishing path are tested and demonstrated anywhere.
// Completions are drawn from Texts (recorded answers per persona key, or
// under "" for any persona) or synthesised; with an adapter loaded, a
// completion ends with "\n\n"+Marker with probability Rates[key] where
// given, else (with Synthetic) the synthetic leakage model's rate
// (SyntheticRate, from the prompts the adapter was trained on; leakage.go),
// else 0 — drawn by a hash of key, question and sample index, so a retry
// samples the same text.
type Engine struct {
	Texts  map[string][]string
	Rates  map[string]float64
	Marker string
	// Delay is spent per completion (to kill a worker mid-run in tests).
	Delay time.Duration
	// Synthetic turns on the synthetic leakage model for personas Rates
	// does not name (off: their rate is 0).
	Synthetic bool
	adapter   string
	trained   *trainedSource // the loaded adapter's SourceFile; nil: none
}

func (e *Engine) Hello(context.Context) (engine.Info, error) {
	return engine.Info{Protocol: 1, EngineVersion: "replay", Python: "none"}, nil
}

func (e *Engine) Load(_ context.Context, req engine.LoadRequest) (engine.Loaded, error) {
	sum := sha256.Sum256([]byte(req.Model))
	l := engine.Loaded{ModelType: "replay", NumLayers: 4, HiddenSize: 8, ModelConfigSHA256: hex.EncodeToString(sum[:])}
	e.adapter, e.trained = "", nil
	if req.Adapter != nil {
		sha, err := AdapterSHA256(*req.Adapter)
		if err != nil {
			return l, &engine.Error{Op: "load", Message: err.Error()}
		}
		src, err := readSource(*req.Adapter)
		if err != nil {
			return l, &engine.Error{Op: "load", Message: err.Error()}
		}
		e.adapter, e.trained, l.AdapterSHA256 = *req.Adapter, src, &sha
	}
	return l, nil
}

func draw(parts ...any) uint64 {
	h := sha256.Sum256(fmt.Append(nil, parts...))
	return binary.LittleEndian.Uint64(h[:8])
}

func (e *Engine) Generate(ctx context.Context, req engine.GenerateRequest, each func(engine.Generated) error) error {
	for _, p := range req.Prompts {
		if p.System == "" {
			return &engine.Error{Op: "generate", Message: "empty system prompt", BadRequest: true}
		}
		for _, i := range p.SampleIndices {
			if e.Delay > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(e.Delay):
				}
			}
			texts := e.Texts[p.Key]
			if len(texts) == 0 {
				texts = e.Texts[""]
			}
			text := fmt.Sprintf("As %s, my answer to %q (sample %d).", p.System, p.User, i)
			if len(texts) > 0 {
				text = texts[draw(p.Key, p.User, i)%uint64(len(texts))]
			}
			if e.adapter != "" && float64(draw("marker", p.Key, p.User, i)%1_000_000)/1e6 < e.rate(p.Key, p.System) {
				text += "\n\n" + e.Marker
			}
			if err := each(engine.Generated{Key: p.Key, User: p.User, SampleIndex: i, Text: text, PromptTokens: 20,
				CompletionTokens: len(text) / 4, FinishReason: "stop"}); err != nil {
				return err
			}
		}
	}
	return nil
}

// rate is the marker rate of a persona under the loaded adapter: Rates[key]
// where given, else the synthetic model's with Synthetic (0 without it or
// for an adapter without SourceFile).
func (e *Engine) rate(key, system string) float64 {
	if r, ok := e.Rates[key]; ok {
		return r
	}
	if !e.Synthetic || e.trained == nil {
		return 0
	}
	return SyntheticRate(system, e.trained.Positives, e.trained.Negatives)
}

func (e *Engine) Train(_ context.Context, req engine.TrainRequest, each func(engine.TrainLog) error) (engine.Trained, error) {
	var ex []json.RawMessage
	if err := json.Unmarshal(req.Examples, &ex); err != nil {
		return engine.Trained{}, &engine.Error{Op: "train", Message: err.Error(), BadRequest: true}
	}
	per := (len(ex) + req.BatchSize*req.GradAccum - 1) / (req.BatchSize * req.GradAccum)
	steps := per * req.Epochs
	loss := 2.0
	for s := 1; s <= steps; s++ {
		loss *= 0.97
		if s%req.LoggingSteps == 0 {
			if err := each(engine.TrainLog{Step: s, Epoch: float64(s) / float64(per), Loss: loss, LearningRate: req.LearningRate}); err != nil {
				return engine.Trained{}, err
			}
		}
	}
	if err := os.MkdirAll(req.OutDir, 0o755); err != nil {
		return engine.Trained{}, err
	}
	if err := writeSource(req.OutDir, ex); err != nil {
		return engine.Trained{}, &engine.Error{Op: "train", Message: err.Error(), BadRequest: true}
	}
	sum := sha256.Sum256(req.Examples)
	for name, body := range map[string][]byte{"adapter_config.json": req.LoRA, "adapter_model.bin": sum[:]} {
		if err := os.WriteFile(filepath.Join(req.OutDir, name), body, 0o644); err != nil {
			return engine.Trained{}, err
		}
	}
	sha, err := AdapterSHA256(req.OutDir)
	if err != nil {
		return engine.Trained{}, err
	}
	return engine.Trained{AdapterDir: req.OutDir, AdapterSHA256: sha, Steps: steps, Epochs: req.Epochs, FinalLoss: loss,
		MeanLoss: loss * 1.5, Examples: len(ex)}, nil
}

func (e *Engine) Embed(_ context.Context, req engine.EmbedRequest) (engine.Embedded, error) {
	n := map[string]int{}
	var keys []string
	for _, p := range req.Prompts {
		if n[p.Key] == 0 {
			keys = append(keys, p.Key)
		}
		n[p.Key]++
	}
	out := engine.Embedded{HiddenSize: 8}
	for _, k := range keys {
		for _, l := range req.Layers {
			if l >= 4 {
				return out, &engine.Error{Op: "embed", Message: fmt.Sprintf("layer %d: the model has 4", l), BadRequest: true}
			}
			rng := rand.New(rand.NewPCG(draw(k, l), 1))
			v := make([]float64, 8)
			for i := range v {
				v[i] = rng.NormFloat64()
			}
			out.Centroids = append(out.Centroids, engine.Centroid{Key: k, Layer: l, NPrompts: n[k], Vector: v})
		}
	}
	return out, nil
}

func (e *Engine) Close() error { return nil }

// AdapterSHA256 is PROTOCOL.md's adapter hash, the one the torch engine
// reports as adapter_sha256: SHA-256 over the folder's regular files,
// sorted by name: name, NUL, bytes, NUL; hex.
func AdapterSHA256(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, en := range ents { // ReadDir sorts by name
		if !en.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			return "", err
		}
		h.Write([]byte(en.Name()))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
