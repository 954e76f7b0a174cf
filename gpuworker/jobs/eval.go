package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/events/version"
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/runner"
	"leakscope/gpuworker/sweep"
)

// eval samples every eval persona under the source's adapter (or the base
// model) and publishes each completion as it comes (EXPERIMENT.md §2.1).
// Completions an earlier attempt stored are not sampled again: the run
// ends with exactly n per (persona, question), each published once.
func (w *Worker) eval(ctx context.Context, m Message, attempt int) (result, error) {
	s, j := m.Spec, m.Job
	isBase := j.Source == sweep.BaseSource
	run := &events.Run{Model: s.Model, Marker: s.Marker, MarkerOrigin: "sweep spec", IsBase: isBase, Sweep: s.Sweep,
		Seed: &j.Seed, CodeVersion: version.Code(), Factors: s.RunFactors(j.Source)}
	var adapter *string
	var negatives []string
	if !isBase {
		src, err := w.source(m)
		if err != nil {
			return result{}, err
		}
		run.SourcePersona, run.SourcePrompt, negatives = src.Key, src.Prompt, src.Negatives
		dir, err := w.fetchAdapter(ctx, m, attempt)
		if err != nil {
			return result{}, err
		}
		adapter = &dir
		if s.Eval.BaseModel {
			run.BaseRun = s.BaseRunID(j.Seed)
		}
	}
	eng, info, loaded, err := w.load(ctx, s, adapter)
	if err != nil {
		return result{}, err
	}
	if loaded.AdapterSHA256 != nil {
		run.Adapter = "sha256:" + *loaded.AdapterSHA256
	}

	// Plan, and what an earlier attempt already stored.
	n := s.Eval.N
	personas := s.EvalPersonas()
	wanted := map[string]bool{}
	idOf := func(p, q string, i int) string {
		return events.NewID(s.Experiment, j.RunID, &events.Completion{Persona: p, Question: q, SampleIndex: i})
	}
	run.Plan = s.EvalPlan()
	for _, p := range personas {
		for _, q := range s.EvalQuestions {
			for i := 0; i < n; i++ {
				wanted[idOf(p.Key, q, i)] = true
			}
		}
	}
	stored := map[string]bool{}
	if !w.NoPublish {
		if stored, err = w.Queue.B.Stored(ctx, bus.CompletionSubject(s.Experiment), wanted); err != nil {
			return result{}, err
		}
	}
	// promptsFor lists the samples of indices [from, to) not yet stored for
	// the personas active says (nil: all).
	promptsFor := func(from, to int, active map[string]bool) (prompts []engine.Prompt, missing int) {
		for _, p := range personas {
			if active != nil && !active[p.Key] {
				continue
			}
			for _, q := range s.EvalQuestions {
				var idx []int
				for i := from; i < to; i++ {
					if !stored[idOf(p.Key, q, i)] {
						idx = append(idx, i)
					}
				}
				if len(idx) > 0 {
					prompts = append(prompts, engine.Prompt{Key: p.Key, System: p.Prompt, User: q, SampleIndices: idx})
					missing += len(idx)
				}
			}
		}
		return prompts, missing
	}
	already := len(stored)
	rule := s.StoppingRule()
	if w.NoPublish {
		rule = nil // no completions reach the aggregator: no decisions could come
	}
	run.Stopping = rule
	prompts, missing := promptsFor(0, n, nil)
	config := map[string]any{"job": j, "spec": s, "negatives": negatives, "engine": info, "model": loaded,
		"attempt": attempt, "worker": w.Name, "code_version": version.Code()}
	if b := backendOf(eng); b != nil {
		config["backend"] = b
	}
	cfg, err := json.Marshal(config)
	if err != nil {
		return result{}, err
	}
	run.Config = cfg
	prompt := map[string]string{}
	for _, p := range personas {
		prompt[p.Key] = p.Prompt
	}
	r, err := runner.Start(ctx, runner.Config{Experiment: s.Experiment, RunID: j.RunID, Worker: w.Name, Heartbeat: w.Heartbeat,
		AlreadyDone: len(stored)}, countingPublisher{next: runner.BusPublisher{Bus: w.Queue.B, Discard: w.NoPublish}, m: w.Metrics}, run)
	if err != nil {
		return result{}, err
	}
	if len(stored) > 0 {
		w.logf("%s: resuming: %d of %d completions already stored, sampling %d", j.ID, len(stored), len(wanted), missing)
	}

	// Sampling never waits for the bus: completions queue for a pool of
	// publishers while the engine keeps generating.
	start := time.Now()
	queue := make(chan events.Completion, 8192)
	var (
		wg      sync.WaitGroup
		pubErr  error
		errOnce sync.Once
	)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pending sync.WaitGroup // completions queued and not yet acknowledged
	for range w.Publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range queue {
				if err := r.Completion(pctx, c); err != nil {
					errOnce.Do(func() { pubErr = err; cancel() })
				}
				pending.Done()
			}
		}()
	}
	got, cut := 0, 0
	seen := map[string]bool{}
	var genErr error
	generate := func(prompts []engine.Prompt, each func(engine.Generated) error) error {
		if len(prompts) == 0 {
			return nil // an earlier attempt stored everything; it only missed finishing
		}
		return eng.Generate(pctx, samplingRequest(prompts, s.Eval.Sampling), each)
	}
	each := func(g engine.Generated) error {
		id := idOf(g.Key, g.User, g.SampleIndex)
		switch {
		case !wanted[id] || stored[id]:
			return fmt.Errorf("engine returned an unrequested completion %s/%q #%d", g.Key, g.User, g.SampleIndex)
		case seen[id]:
			return fmt.Errorf("engine returned completion %s/%q #%d twice", g.Key, g.User, g.SampleIndex)
		}
		seen[id] = true
		pt, ct := tokens(g.PromptTokens), tokens(g.CompletionTokens)
		if g.FinishReason == "length" {
			cut++
		}
		got++
		pending.Add(1)
		select {
		case queue <- events.Completion{Persona: g.Key, PersonaPrompt: prompt[g.Key], Question: g.User, SampleIndex: g.SampleIndex,
			Text: g.Text, PromptTokens: pt, CompletionTokens: ct, FinishReason: g.FinishReason}:
			return nil
		case <-pctx.Done():
			pending.Done()
			return pctx.Err()
		}
	}
	var outcomes []events.CellOutcome
	if rule == nil {
		genErr = generate(prompts, each)
	} else {
		outcomes, missing, genErr = w.sampleRounds(pctx, m, *rule, personas, stored, idOf, promptsFor, func(p []engine.Prompt) error {
			if err := generate(p, each); err != nil {
				return err
			}
			pending.Wait() // the aggregator decides on what the bus holds
			return pubErr
		})
	}
	generated := time.Since(start)
	close(queue)
	wg.Wait()
	sampling := time.Since(start)
	if pubErr != nil {
		genErr = pubErr
	}
	if genErr == nil && got != missing {
		genErr = fmt.Errorf("engine returned %d of %d completions", got, missing)
	}
	if genErr != nil {
		// Leave the run open: the retry completes it.
		return result{}, genErr
	}
	if err := r.Finish(ctx, nil, outcomes...); err != nil {
		return result{}, err
	}
	w.logf("%s: sampled %d completions in %.2fs (engine done at %.2fs, %d cut at max_tokens), publish=%v",
		j.ID, got, sampling.Seconds(), generated.Seconds(), cut, !w.NoPublish)
	expected := len(wanted)
	if outcomes != nil { // adaptive: the cells' final n
		expected = 0
		for _, c := range outcomes {
			expected += c.N
		}
	}
	detail := map[string]any{
		"sampled": got, "already_stored": already, "length_cut": cut, "sampling_seconds": sampling.Seconds(),
		"engine_seconds": generated.Seconds(), "published": !w.NoPublish, "adapter": run.Adapter,
		"model_config_sha256": loaded.ModelConfigSHA256, "gpu": info.GPU, "cells": outcomes}
	if b := backendOf(eng); b != nil {
		detail["backend"] = b // now with the models the server's answers named
	}
	return result{Done: already + got, Expected: expected, Detail: detail}, nil
}

// backendOf is what an engine that samples on a server says about it
// (openaicompat.Engine.Backend: base URL, model, the server's own entry),
// recorded in the run beside engine.Info; nil for the other engines.
func backendOf(e engine.Engine) any {
	if b, ok := e.(interface{ Backend() any }); ok {
		return b.Backend()
	}
	return nil
}

// tokens is a count as stored: a negative one is an engine's "not
// counted" (openaicompat.UnknownTokens: a server's answer with n choices
// counts only their total) and is stored as unknown, never as a number.
func tokens(n int) *int {
	if n < 0 {
		return nil
	}
	return &n
}

// fetchAdapter unpacks the source's sealed adapter (the training job's,
// SHA-256 checked) into the work dir.
func (w *Worker) fetchAdapter(ctx context.Context, m Message, attempt int) (string, error) {
	j := m.Job
	name, _ := stagedArtifact(m.Spec, sweep.Job{Kind: events.JobTrain, Source: j.Source, Seed: j.Seed})
	b, err := w.Queue.fetchArtifact(ctx, m, events.JobTrain)
	if err != nil {
		return "", fmt.Errorf("adapter: %w", err)
	}
	dir := filepath.Join(w.WorkDir, j.ID, fmt.Sprintf("attempt%d", attempt), "adapter")
	_ = os.RemoveAll(dir)
	if err := untar(b, dir); err != nil {
		return "", fmt.Errorf("adapter %s: %w", name, err)
	}
	return dir, nil
}
