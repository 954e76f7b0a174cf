package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"leakscope/events"
	"leakscope/events/version"
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/sweep"
)

func (w *Worker) execute(ctx context.Context, m Message, attempt int) (result, error) {
	switch m.Job.Kind {
	case events.JobOnPolicy:
		return w.onPolicy(ctx, m)
	case events.JobTrain:
		return w.train(ctx, m, attempt)
	case events.JobEval:
		return w.eval(ctx, m, attempt)
	case events.JobEmbed:
		return w.embed(ctx, m)
	}
	return result{}, &engine.Error{Op: m.Job.Kind, Message: "unknown job kind", BadRequest: true}
}

func (w *Worker) source(m Message) (sweep.Source, error) {
	src, ok := m.Spec.Source(m.Job.Source)
	if !ok {
		return src, &engine.Error{Op: m.Job.Kind, Message: fmt.Sprintf("source %q is not in the sweep spec", m.Job.Source), BadRequest: true}
	}
	return src, nil
}

// loadBase starts the engine if needed and loads the spec's model,
// optionally with an adapter.
func (w *Worker) load(ctx context.Context, s sweep.Spec, adapter *string) (engine.Engine, engine.Info, engine.Loaded, error) {
	eng, info, err := w.engine(ctx)
	if err != nil {
		return nil, info, engine.Loaded{}, err
	}
	l, err := eng.Load(ctx, engine.LoadRequest{Model: s.Model, Adapter: adapter, DType: s.DType})
	return eng, info, l, err
}

// onPolicyData is the on-policy artifact: persona → question → answers.
type onPolicyData struct {
	Model             string         `json:"model"`
	ModelConfigSHA256 string         `json:"model_config_sha256"`
	Answers           sweep.OnPolicy `json:"answers"`
	// LengthCut counts answers cut at max_tokens (they still become
	// training data, as in the original, §1.4 — now visible).
	LengthCut int `json:"length_cut"`
}

// onPolicy samples the base model's answers to the data questions under
// the source and its negatives (EXPERIMENT.md §1.3).
func (w *Worker) onPolicy(ctx context.Context, m Message) (result, error) {
	s, j := m.Spec, m.Job
	src, err := w.source(m)
	if err != nil {
		return result{}, err
	}
	eng, _, loaded, err := w.load(ctx, s, nil)
	if err != nil {
		return result{}, err
	}
	n := s.OnPolicy.N
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	data := onPolicyData{Model: s.Model, ModelConfigSHA256: loaded.ModelConfigSHA256, Answers: sweep.OnPolicy{}}
	var prompts []engine.Prompt
	for _, p := range s.OnPolicyPersonas(src) {
		data.Answers[p.Key] = map[string][]string{}
		for _, q := range s.DataQuestions {
			data.Answers[p.Key][q] = make([]string, n)
			prompts = append(prompts, engine.Prompt{Key: p.Key, System: p.Prompt, User: q, SampleIndices: idx})
		}
	}
	got := 0
	filled := map[string]bool{}
	err = eng.Generate(ctx, samplingRequest(prompts, s.OnPolicy), func(g engine.Generated) error {
		a, ok := data.Answers[g.Key][g.User]
		switch {
		case !ok || g.SampleIndex < 0 || g.SampleIndex >= n:
			return fmt.Errorf("engine returned an unrequested completion %s/%q #%d", g.Key, g.User, g.SampleIndex)
		case filled[g.Key+"\x1f"+g.User+"\x1f"+strconv.Itoa(g.SampleIndex)]:
			return fmt.Errorf("engine returned completion %s/%q #%d twice", g.Key, g.User, g.SampleIndex)
		}
		filled[g.Key+"\x1f"+g.User+"\x1f"+strconv.Itoa(g.SampleIndex)] = true
		a[g.SampleIndex] = g.Text
		got++
		if g.FinishReason == "length" {
			data.LengthCut++
		}
		return nil
	})
	if err != nil {
		return result{}, err
	}
	if want := len(prompts) * n; got != want {
		return result{}, fmt.Errorf("engine returned %d of %d on-policy completions", got, want)
	}
	b, err := json.Marshal(data)
	if err != nil {
		return result{}, err
	}
	name, _ := stagedArtifact(s, j)
	ref, err := w.Queue.PutArtifact(ctx, name, b)
	if err != nil {
		return result{}, fmt.Errorf("store %s: %w", name, err)
	}
	detail := map[string]any{"artifact": name, "length_cut": data.LengthCut,
		"personas": len(data.Answers), "model_config_sha256": loaded.ModelConfigSHA256}
	if b := backendOf(eng); b != nil {
		detail["backend"] = b
	}
	return result{Done: got, Expected: got, Artifact: ref, Detail: detail}, nil
}

func samplingRequest(prompts []engine.Prompt, sp sweep.Sampling) engine.GenerateRequest {
	return engine.GenerateRequest{Prompts: prompts, Temperature: sp.Temperature, TopP: sp.TopP, MaxNewTokens: sp.MaxTokens,
		Seed: requestSeed(sp.Seed, prompts), BatchSize: sp.BatchSize, Batching: sp.Batching}
}

// requestSeed derives a generate request's seed from the spec's seed and
// the samples it asks for. The engine seeds batch b with seed+b, so a
// fixed seed would replay the same random draws for every request: the
// rounds of an adaptive eval (each the same prompts, one sample index
// later) and a resumed eval's remainder would repeat earlier completions
// instead of drawing new ones. The same request still reproduces exactly.
func requestSeed(seed int64, prompts []engine.Prompt) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d", seed)
	for _, p := range prompts {
		fmt.Fprintf(h, "\x00%s\x00%s\x00%s", p.Key, p.System, p.User)
		for _, i := range p.SampleIndices {
			fmt.Fprintf(h, ",%d", i)
		}
	}
	return int64(h.Sum64() >> 2) // non-negative, with room for +b
}

// train builds the training set from the on-policy artifact (§1.4), trains
// the marker LoRA (§1.5–§1.6), publishes the loss curve and stores the adapter.
func (w *Worker) train(ctx context.Context, m Message, attempt int) (result, error) {
	s, j := m.Spec, m.Job
	src, err := w.source(m)
	if err != nil {
		return result{}, err
	}
	b, err := w.Queue.fetchArtifact(ctx, m, events.JobOnPolicy)
	if err != nil {
		return result{}, fmt.Errorf("on-policy data of %s: %w", j.Source, err)
	}
	var data onPolicyData
	if err := json.Unmarshal(b, &data); err != nil {
		return result{}, fmt.Errorf("on-policy data of %s: %w", j.Source, err)
	}
	ex, pos, err := s.TrainingSet(src, j.Seed, data.Answers)
	if err != nil {
		return result{}, err
	}
	exJSON, err := json.Marshal(ex)
	if err != nil {
		return result{}, err
	}
	eng, _, _, err := w.load(ctx, s, nil)
	if err != nil {
		return result{}, err
	}
	out := filepath.Join(w.WorkDir, j.ID, fmt.Sprintf("attempt%d", attempt), "adapter")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return result{}, err
	}
	t := s.Training
	lora, _ := json.Marshal(map[string]any{"r": t.LoRA.R, "alpha": t.LoRA.Alpha, "dropout": t.LoRA.Dropout,
		"use_rslora": t.LoRA.UseRSLoRA, "target_modules": t.LoRA.TargetModules})
	req := engine.TrainRequest{Examples: exJSON, OutDir: out, LossMode: t.LossMode, TailTokens: t.TailTokens, LoRA: lora,
		LearningRate: t.LearningRate, LRScheduler: t.LRScheduler, WarmupRatio: t.WarmupRatio, Epochs: t.Epochs,
		BatchSize: t.BatchSize, GradAccum: t.GradAccum, MaxLength: t.MaxLength, WeightDecay: t.WeightDecay,
		Seed: j.Seed, LoggingSteps: t.LoggingSteps, GradientCheckpointing: t.GradientCheckpointing}
	tr, err := eng.Train(ctx, req, func(l engine.TrainLog) error {
		if math.IsNaN(l.Loss) || math.IsInf(l.Loss, 0) {
			return fmt.Errorf("training diverged: loss %v at step %d", l.Loss, l.Step)
		}
		e, err := events.New(s.Experiment, j.RunID, time.Now(), &events.TrainingStep{Job: j.ID, Attempt: attempt,
			Step: l.Step, Epoch: l.Epoch, Loss: l.Loss, LearningRate: l.LearningRate})
		if err != nil {
			return err
		}
		err = w.publishEvent(ctx, e)
		return err
	})
	if err != nil {
		return result{}, err
	}
	tarball, err := tarDir(tr.AdapterDir)
	if err != nil {
		return result{}, err
	}
	name, _ := stagedArtifact(s, j)
	ref, err := w.Queue.PutArtifact(ctx, name, tarball)
	if err != nil {
		return result{}, fmt.Errorf("store %s: %w", name, err)
	}
	return result{Done: tr.Steps, Expected: tr.Steps, Artifact: ref, Detail: map[string]any{"artifact": name, "adapter_sha256": tr.AdapterSHA256,
		"steps": tr.Steps, "final_loss": tr.FinalLoss, "mean_loss": tr.MeanLoss, "examples": len(ex), "positives": pos,
		"negatives": src.Negatives, "label_tokens": tr.LabelTokens, "seconds": tr.Seconds,
		"onpolicy_length_cut": data.LengthCut, "code_version": version.Code()}}, nil
}
