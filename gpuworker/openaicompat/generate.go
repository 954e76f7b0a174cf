package openaicompat

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"sync"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"leakscope/events"
	"leakscope/gpuworker/engine"
)

// extraBody are the sampling fields sent beyond the OpenAI API's (vLLM's
// and SGLang's names): top-k and the repetition penalty off, as the torch
// engine samples. Without them vLLM applies the model's generation config
// (Qwen ships top-k 20, repetition penalty 1.05), which would change the
// distribution the sweep asked for.
var extraBody = map[string]any{"top_k": -1, "repetition_penalty": 1.0}

// UnknownTokens is the token count of a completion the server did not
// count separately: an answer with n > 1 choices gives only their total,
// and an answer without usage none. jobs stores it as unknown.
const UnknownTokens = -1

// Generate sends one chat request per prompt — system and user message,
// n = its sample indices, the request's temperature, top-p and max tokens,
// seed req.Seed + the prompt's position (the torch engine seeds batch b
// with seed + b) — or, with Config.NPerRequest N, one per at most N of its
// sample indices, each with its own seed (chatSeed). At most Concurrency
// are in flight; each is called for every choice of every answer, from
// the calling goroutine, in the order the answers arrive. An answer is
// used whole or not at all, so a request that fails publishes nothing. An
// empty system prompt is refused (as the torch engine refuses it:
// templates fill an empty slot with a default).
func (e *Engine) Generate(ctx context.Context, req engine.GenerateRequest, each func(engine.Generated) error) error {
	for _, p := range req.Prompts {
		if p.System == "" {
			return &engine.Error{Op: "generate", Message: fmt.Sprintf("empty system prompt for %s: refused (a chat template fills an empty system slot with its default)", p.Key), BadRequest: true}
		}
	}
	e.mu.Lock()
	model := e.model
	e.mu.Unlock()
	var units []chatUnit
	for k, p := range req.Prompts {
		n := len(p.SampleIndices)
		step := n
		if e.cfg.NPerRequest > 0 {
			step = e.cfg.NPerRequest
		}
		for from := 0; from < n; from += step {
			units = append(units, chatUnit{k: k, from: from, to: min(from+step, n)})
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		gens []engine.Generated
		err  error
	}
	todo := make(chan chatUnit)
	answers := make(chan answer) // unbuffered: a slow consumer holds the senders
	var wg sync.WaitGroup
	for range min(e.cfg.Concurrency, max(len(units), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range todo {
				gens, err := e.sample(ctx, model, req, u)
				select {
				case answers <- answer{gens, err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(todo)
		for _, u := range units {
			select {
			case todo <- u:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(answers) }()
	var first error
	for a := range answers {
		if first != nil {
			continue // draining: the senders end once cancelled
		}
		if a.err != nil {
			first = a.err
			cancel()
			continue
		}
		for _, g := range a.gens {
			if err := each(g); err != nil {
				first = err
				cancel()
				break
			}
		}
	}
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// chatUnit is one chat request: sample indices [from, to) of prompt k.
type chatUnit struct{ k, from, to int }

// chatSeed is the seed of chat request u: req.Seed + the prompt's position
// when it asks all of the prompt's samples (the default), else a hash of
// req.Seed, the position and the first sample index it asks, so every
// request of a split prompt draws its own stream and the same
// GenerateRequest sends the same seeds (a resumed job's request asks other
// sample indices under another req.Seed: new draws, as on the torch
// engine). Non-negative.
func chatSeed(req engine.GenerateRequest, u chatUnit) int64 {
	p := req.Prompts[u.k]
	if u.from == 0 && u.to == len(p.SampleIndices) {
		return req.Seed + int64(u.k)
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%d\x00%d", req.Seed, u.k, p.SampleIndices[u.from])
	return int64(h.Sum64() >> 1)
}

// sample sends chat request u and checks its answer.
func (e *Engine) sample(ctx context.Context, model string, req engine.GenerateRequest, u chatUnit) ([]engine.Generated, error) {
	p := req.Prompts[u.k]
	indices := p.SampleIndices[u.from:u.to]
	n := len(indices)
	params := openai.ChatCompletionNewParams{
		Model:       model,
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(p.System), openai.UserMessage(p.User)},
		N:           openai.Int(int64(n)),
		Temperature: openai.Float(req.Temperature),
		TopP:        openai.Float(req.TopP),
		MaxTokens:   openai.Int(int64(req.MaxNewTokens)),
		Seed:        openai.Int(chatSeed(req, u)),
	}
	opts := []option.RequestOption{}
	for key, v := range extraBody {
		opts = append(opts, option.WithJSONSet(key, v))
	}
	var hr *http.Response
	opts = append(opts, option.WithResponseInto(&hr))
	e.touch()
	resp, err := e.client.Chat.Completions.New(ctx, params, opts...)
	e.touch()
	if err != nil {
		return nil, e.callError(ctx, "generate", "POST chat/completions", hr, err)
	}
	// Bytes that are not UTF-8, or a lone surrogate escape, would be stored
	// changed (as U+FFFD, by the event's encoding) without a word.
	if off, why := events.BadTextOffset([]byte(resp.RawJSON())); off >= 0 {
		return nil, fmt.Errorf("%s answered %s/%q with text that %s (byte %d of the answer): not stored", e.Server(), p.Key, p.User, why, off)
	}
	e.mu.Lock()
	e.reported[resp.Model] = true
	e.mu.Unlock()
	if len(resp.Choices) != n {
		hint := ": a server that ignores n (TGI) serves with --n-per-request 1"
		if n == 1 {
			hint = ""
		}
		return nil, fmt.Errorf("%s answered %d choices for n=%d (%s, %q)%s", e.Server(), len(resp.Choices), n, p.Key, p.User, hint)
	}
	pt, ct := UnknownTokens, UnknownTokens
	if resp.JSON.Usage.Valid() && resp.Usage.JSON.PromptTokens.Valid() {
		pt = int(resp.Usage.PromptTokens) // the prompt, counted once for all n
		if n == 1 && resp.Usage.JSON.CompletionTokens.Valid() {
			ct = int(resp.Usage.CompletionTokens)
		}
	}
	out := make([]engine.Generated, n)
	seen := make([]bool, n)
	for _, c := range resp.Choices {
		i := int(c.Index)
		if i < 0 || i >= n || seen[i] {
			return nil, fmt.Errorf("%s answered choice index %d twice or out of range for n=%d (%s, %q)", e.Server(), c.Index, n, p.Key, p.User)
		}
		seen[i] = true
		// stop: an end-of-turn/EOS token or a stop string; length: cut at
		// max_tokens — the torch engine's two outcomes. Anything else
		// (vLLM's abort, a content filter, a tool call) is not a sample of
		// the model's answer.
		if c.FinishReason != "stop" && c.FinishReason != "length" {
			return nil, fmt.Errorf("%s finished choice %d of %s/%q with %q: want stop or length", e.Server(), i, p.Key, p.User, c.FinishReason)
		}
		out[i] = engine.Generated{Key: p.Key, User: p.User, SampleIndex: indices[i], Text: c.Message.Content,
			PromptTokens: pt, CompletionTokens: ct, FinishReason: c.FinishReason}
	}
	return out, nil
}
