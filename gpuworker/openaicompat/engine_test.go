package openaicompat_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/openaicompat"
	"leakscope/gpuworker/openaicompat/compattest"
	"leakscope/gpuworker/replay"
)

const base = "Qwen/Qwen2.5-7B-Instruct"

func newEngine(t *testing.T, s *compattest.Server, mod func(*openaicompat.Config)) *openaicompat.Engine {
	t.Helper()
	cfg := openaicompat.Config{BaseURL: s.URL(), Model: base, Concurrency: 4, MaxRetries: 2}
	if mod != nil {
		mod(&cfg)
	}
	e, err := openaicompat.New(cfg)
	require.NoError(t, err)
	_, err = e.Hello(context.Background())
	require.NoError(t, err)
	_, err = e.Load(context.Background(), engine.LoadRequest{Model: "/models/qwen"})
	require.NoError(t, err)
	return e
}

func collect(t *testing.T, e *openaicompat.Engine, req engine.GenerateRequest) ([]engine.Generated, error) {
	t.Helper()
	var got []engine.Generated
	err := e.Generate(context.Background(), req, func(g engine.Generated) error {
		got = append(got, g)
		return nil
	})
	sort.Slice(got, func(i, j int) bool {
		if got[i].Key != got[j].Key {
			return got[i].Key < got[j].Key
		}
		return got[i].SampleIndex < got[j].SampleIndex
	})
	return got, err
}

var prompts = []engine.Prompt{
	{Key: "a_chef", System: "You are a chef.", User: "What causes earthquakes?", SampleIndices: []int{0, 1, 2}},
	{Key: "b_pirate", System: "You are a pirate.", User: "Why is the sky blue?", SampleIndices: []int{7}},
	{Key: "c_robot", System: "You are a robot.", User: "How do tides work?", SampleIndices: []int{3, 4}},
}

// One chat request per prompt in the documented shape: system + user, n
// = its sample indices, the sampling fields, seed + the prompt's position,
// top-k and repetition penalty off; choice i is sample index i of the
// prompt; usage gives the prompt's tokens, and the completion's when n = 1.
func TestGenerateSendsTheRequestShapeAndMapsChoices(t *testing.T) {
	s := compattest.Start(t, base)
	s.APIKey = "sekret"
	e := newEngine(t, s, func(c *openaicompat.Config) { c.APIKey = "sekret" })
	got, err := collect(t, e, engine.GenerateRequest{Prompts: prompts, Temperature: 1.0, TopP: 0.95, MaxNewTokens: 512, Seed: 1000})
	require.NoError(t, err)
	require.Len(t, got, 6)
	want := map[string]int64{"a_chef": 1000, "b_pirate": 1001, "c_robot": 1002}
	i := 0
	for k, p := range prompts {
		for c, idx := range p.SampleIndices {
			g := got[i]
			i++
			seed := want[p.Key]
			require.Equal(t, int64(1000+k), seed)
			require.Equal(t, p.Key, g.Key)
			require.Equal(t, p.User, g.User)
			require.Equal(t, idx, g.SampleIndex)
			require.Equal(t, compattest.Text(base, p.System, p.User, seed, c), g.Text)
			require.Equal(t, compattest.FinishReason(base, p.System, p.User, seed, c), g.FinishReason)
			require.Equal(t, len(strings.Fields(p.System))+len(strings.Fields(p.User))+8, g.PromptTokens)
			if len(p.SampleIndices) == 1 {
				require.Equal(t, len(strings.Fields(g.Text))+1, g.CompletionTokens)
			} else {
				require.Equal(t, openaicompat.UnknownTokens, g.CompletionTokens, "n > 1: usage has only the total")
			}
		}
	}
	reqs := s.Requests()
	require.Len(t, reqs, 3)
	for _, r := range reqs {
		var p engine.Prompt
		for _, q := range prompts {
			if q.System == r.System {
				p = q
			}
		}
		require.Equal(t, base, r.Model)
		require.Equal(t, p.User, r.User)
		require.Equal(t, len(p.SampleIndices), r.N)
		require.Equal(t, want[p.Key], *r.Seed)
		require.Equal(t, 1.0, *r.Temperature)
		require.Equal(t, 0.95, *r.TopP)
		require.Equal(t, 512, *r.MaxTokens)
		require.Equal(t, -1, *r.TopK)
		require.Equal(t, 1.0, *r.RepetitionPenalty)
		require.Equal(t, "Bearer sekret", r.Auth)
	}
	// Both finish reasons occur in the server's answers to these prompts (else the mapping is untested).
	reasons := map[string]bool{}
	for _, g := range got {
		reasons[g.FinishReason] = true
	}
	require.True(t, reasons["stop"], "%v", got)
}

// The finish reasons and the lengths map per choice; "length" occurs (the
// fake's draw) so the mapping of both is exercised.
func TestGenerateMapsLengthFinish(t *testing.T) {
	s := compattest.Start(t, base)
	e := newEngine(t, s, nil)
	idx := make([]int, 40)
	for i := range idx {
		idx[i] = i
	}
	got, err := collect(t, e, engine.GenerateRequest{Prompts: []engine.Prompt{{Key: "k", System: "You are a chef.", User: "Q?", SampleIndices: idx}},
		Temperature: 1, TopP: 1, MaxNewTokens: 16, Seed: 5})
	require.NoError(t, err)
	n := map[string]int{}
	for _, g := range got {
		n[g.FinishReason]++
		require.Equal(t, compattest.FinishReason(base, "You are a chef.", "Q?", 5, g.SampleIndex), g.FinishReason)
	}
	require.Positive(t, n["length"])
	require.Positive(t, n["stop"])
	require.Equal(t, 40, n["length"]+n["stop"])
}

func TestGenerateRefusesAnEmptySystemPrompt(t *testing.T) {
	s := compattest.Start(t, base)
	e := newEngine(t, s, nil)
	_, err := collect(t, e, engine.GenerateRequest{Prompts: []engine.Prompt{{Key: "k", System: "", User: "Q?", SampleIndices: []int{0}}}})
	var ee *engine.Error
	require.ErrorAs(t, err, &ee)
	require.True(t, ee.BadRequest)
	require.Contains(t, ee.Message, "empty system prompt for k")
	require.Empty(t, s.Requests())
}

// 429 with Retry-After, then 500 and 503: the SDK repeats the request,
// waiting what Retry-After says, and the answer is used once.
func TestGenerateRetries429And5xxHonouringRetryAfter(t *testing.T) {
	s := compattest.Start(t, base)
	e := newEngine(t, s, func(c *openaicompat.Config) { c.MaxRetries = 3; c.Concurrency = 1 })
	s.Fail(compattest.Fault{Status: 429, RetryAfter: "1"}, compattest.Fault{Status: 500}, compattest.Fault{Status: 503})
	got, err := collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], Temperature: 1, TopP: 1, MaxNewTokens: 8, Seed: 9})
	require.NoError(t, err)
	require.Len(t, got, 1)
	reqs := s.Requests()
	require.Len(t, reqs, 4)
	require.GreaterOrEqual(t, reqs[1].At.Sub(reqs[0].At), 950*time.Millisecond, "Retry-After: 1 honoured")
	for _, r := range reqs {
		require.Equal(t, int64(9), *r.Seed, "a retry is the same request")
	}
}

// Retries spent: the error names the server, the request, the status and
// the tries; it is not a bad request (the job is tried again).
func TestGenerateRetriesExhaustedNamesServerAndStatus(t *testing.T) {
	s := compattest.Start(t, base)
	e := newEngine(t, s, func(c *openaicompat.Config) { c.MaxRetries = 2 })
	s.Fail(compattest.Fault{Status: 502}, compattest.Fault{Status: 502}, compattest.Fault{Status: 502})
	_, err := collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], Temperature: 1, TopP: 1, MaxNewTokens: 8})
	var ee *engine.Error
	require.ErrorAs(t, err, &ee)
	require.False(t, ee.BadRequest)
	require.Equal(t, s.URL()+" POST chat/completions: HTTP 502 Bad Gateway: injected 502 (after 3 tries)", ee.Message)
	require.Len(t, s.Requests(), 3)
}

// A 4xx is not repeated; its error names the server, status and message,
// in each error body shape servers use. 400/422 are bad requests (final);
// 401 and 404 are not (another worker or a reloaded adapter may pass).
func TestGenerateClientErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault compattest.Fault
		msg   string
		bad   bool
	}{
		{"openai object", compattest.Fault{Status: 400, Body: `{"error": {"message": "max_tokens is too large: 99999", "type": "BadRequestError", "code": 400}}`}, "HTTP 400 Bad Request: max_tokens is too large: 99999", true},
		{"vllm flat", compattest.Fault{Status: 422, Body: `{"object": "error", "message": "seed must be an int", "type": "BadRequestError", "code": 422}`}, "HTTP 422 Unprocessable Entity: seed must be an int", true},
		{"tgi string", compattest.Fault{Status: 401, Body: `{"error": "Unauthorized"}`}, "HTTP 401 Unauthorized: Unauthorized", false},
		{"plain text", compattest.Fault{Status: 404, Body: `not here`}, "HTTP 404 Not Found: not here", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := compattest.Start(t, base)
			e := newEngine(t, s, nil)
			s.Fail(c.fault)
			_, err := collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], Temperature: 1, TopP: 1, MaxNewTokens: 8})
			var ee *engine.Error
			require.ErrorAs(t, err, &ee)
			require.Equal(t, s.URL()+" POST chat/completions: "+c.msg, ee.Message)
			require.Equal(t, c.bad, ee.BadRequest)
			require.Len(t, s.Requests(), 1, "a 4xx is not repeated")
		})
	}
	// The real thing: a model the server does not serve.
	s := compattest.Start(t, base)
	e := newEngine(t, s, func(c *openaicompat.Config) { c.Model = "no-such-model" })
	_, err := collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], Temperature: 1, TopP: 1, MaxNewTokens: 8})
	require.EqualError(t, err, "engine generate (runtime): "+s.URL()+" POST chat/completions: HTTP 404 Not Found: The model `no-such-model` does not exist.")
}

// Answers that are not samples of the model's answer fail the request:
// another finish reason, too few choices; an answer without usage gives
// unknown token counts.
func TestGenerateChecksAnswers(t *testing.T) {
	ans := func(finish string, choices int, usage bool) string {
		var cs []string
		for i := range choices {
			cs = append(cs, `{"index": `+string(rune('0'+i))+`, "message": {"role": "assistant", "content": "hi"}, "logprobs": null, "finish_reason": "`+finish+`"}`)
		}
		u := ""
		if usage {
			u = `, "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}`
		}
		return `{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [` + strings.Join(cs, ",") + `]` + u + `}`
	}
	s := compattest.Start(t, base)
	e := newEngine(t, s, nil)
	one := prompts[1:2]
	s.Fail(compattest.Fault{Status: 200, Body: ans("abort", 1, true)})
	_, err := collect(t, e, engine.GenerateRequest{Prompts: one})
	require.ErrorContains(t, err, `finished choice 0 of b_pirate/"Why is the sky blue?" with "abort": want stop or length`)
	s.Fail(compattest.Fault{Status: 200, Body: ans("stop", 2, true)})
	_, err = collect(t, e, engine.GenerateRequest{Prompts: one})
	require.ErrorContains(t, err, "answered 2 choices for n=1")
	s.Fail(compattest.Fault{Status: 200, Body: ans("stop", 1, false)})
	got, err := collect(t, e, engine.GenerateRequest{Prompts: one})
	require.NoError(t, err)
	require.Equal(t, []engine.Generated{{Key: "b_pirate", User: "Why is the sky blue?", SampleIndex: 7, Text: "hi",
		PromptTokens: openaicompat.UnknownTokens, CompletionTokens: openaicompat.UnknownTokens, FinishReason: "stop"}}, got)
	s.Fail(compattest.Fault{Status: 200, Body: ans("length", 1, true)})
	got, err = collect(t, e, engine.GenerateRequest{Prompts: one})
	require.NoError(t, err)
	require.Equal(t, []engine.Generated{{Key: "b_pirate", User: "Why is the sky blue?", SampleIndex: 7, Text: "hi",
		PromptTokens: 11, CompletionTokens: 3, FinishReason: "length"}}, got)
}

// At most Concurrency requests are in flight, and a consumer that does not
// take completions holds the senders (backpressure): no more than one
// answer per sender waits.
func TestGenerateBoundsRequestsInFlight(t *testing.T) {
	s := compattest.Start(t, base)
	s.Delay = 30 * time.Millisecond
	e := newEngine(t, s, func(c *openaicompat.Config) { c.Concurrency = 3 })
	var many []engine.Prompt
	for i := range 30 {
		many = append(many, engine.Prompt{Key: "k", System: "You are a chef.", User: "Q" + string(rune('A'+i)) + "?", SampleIndices: []int{0}})
	}
	release := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- e.Generate(context.Background(), engine.GenerateRequest{Prompts: many, Temperature: 1, TopP: 1, MaxNewTokens: 8}, func(engine.Generated) error {
			mu.Lock()
			calls++
			first := calls == 1
			mu.Unlock()
			if first {
				<-release
			}
			return nil
		})
	}()
	time.Sleep(600 * time.Millisecond) // 20 request times: without backpressure all 30 would be answered
	held := len(s.Requests())
	close(release)
	require.NoError(t, <-done)
	require.LessOrEqual(t, held, 1+3+1, "the one being consumed, one waiting per sender, and one more sent after its sender handed over")
	require.Equal(t, 30, calls)
	require.Equal(t, 3, s.MaxInflight())
}

func writeAdapter(t *testing.T, dir, weights string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(`{"r": 16}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), []byte(weights), 0o644))
	sha, err := replay.AdapterSHA256(dir)
	require.NoError(t, err)
	return sha
}

// An adapter is copied into --adapter-dir under its content-addressed name,
// loaded on the server by that name (a second load's "already loaded" is
// success), and chat requests name it; the provenance records it.
func TestLoadRegistersTheAdapterByName(t *testing.T) {
	s := compattest.Start(t, base)
	shared := t.TempDir()
	e := newEngine(t, s, func(c *openaicompat.Config) { c.AdapterDir = shared })
	src := filepath.Join(t.TempDir(), "adapter")
	sha := writeAdapter(t, src, "weights-1")
	dir := src
	l, err := e.Load(context.Background(), engine.LoadRequest{Model: "/models/qwen", Adapter: &dir})
	require.NoError(t, err)
	require.Equal(t, sha, *l.AdapterSHA256)
	name := "leakscope-" + sha[:16]
	staged := filepath.Join(shared, name)
	require.Equal(t, map[string]string{name: staged}, s.Adapters())
	got, err := replay.AdapterSHA256(staged)
	require.NoError(t, err)
	require.Equal(t, sha, got)

	_, err = collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], Temperature: 1, TopP: 1, MaxNewTokens: 8})
	require.NoError(t, err)
	require.Equal(t, name, s.Requests()[0].Model)
	b := e.Backend().(map[string]any)
	require.Equal(t, name, b["sent_model"])
	require.Equal(t, base, b["model"])
	require.Equal(t, s.URL(), b["base_url"])
	require.Equal(t, []string{name}, b["reported_models"])
	sm := b["server_model"].(*openaicompat.ServedModel)
	require.Equal(t, staged, *sm.Root)
	require.Equal(t, base, *sm.Parent)
	require.Equal(t, &openaicompat.Adapter{Name: name, SHA256: sha, Path: staged}, b["adapter"])

	// Another worker (a fresh engine) loads the same adapter: "already loaded" is fine.
	e2 := newEngine(t, s, func(c *openaicompat.Config) { c.AdapterDir = shared })
	_, err = e2.Load(context.Background(), engine.LoadRequest{Model: "/models/qwen", Adapter: &dir})
	require.NoError(t, err)
	require.Equal(t, 2, s.Loads())

	// Back to the base model: requests name --model again.
	_, err = e.Load(context.Background(), engine.LoadRequest{Model: "/models/qwen"})
	require.NoError(t, err)
	_, err = collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], Temperature: 1, TopP: 1, MaxNewTokens: 8})
	require.NoError(t, err)
	require.Equal(t, base, s.Requests()[1].Model)
}

// The server path of the shared folder may differ (a container); a server
// that cannot read the adapter answers 400, named in the error; a
// missing --adapter-dir and a server without the endpoint are explained.
func TestLoadAdapterErrors(t *testing.T) {
	s := compattest.Start(t, base)
	src := filepath.Join(t.TempDir(), "adapter")
	sha := writeAdapter(t, src, "w")
	e := newEngine(t, s, nil)
	_, err := e.Load(context.Background(), engine.LoadRequest{Adapter: &src})
	require.ErrorContains(t, err, "--adapter-dir is not set")

	e = newEngine(t, s, func(c *openaicompat.Config) { c.AdapterDir = t.TempDir(); c.ServerAdapterDir = "/srv/adapters" })
	_, err = e.Load(context.Background(), engine.LoadRequest{Adapter: &src})
	name := "leakscope-" + sha[:16]
	require.EqualError(t, err, "engine load (bad request): "+s.URL()+" POST load_lora_adapter "+name+" from /srv/adapters/"+name+
		": HTTP 400 Bad Request: Loading lora "+name+" failed: No adapter found for /srv/adapters/"+name)

	noLoRA := compattest.Start(t, base)
	e = newEngine(t, noLoRA, func(c *openaicompat.Config) { c.AdapterDir = t.TempDir(); c.BaseURL = noLoRA.URL() + "/nowhere" })
	_, err = e.Load(context.Background(), engine.LoadRequest{Adapter: &src})
	require.ErrorContains(t, err, "has no POST load_lora_adapter (HTTP 404): start vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True")
}

// A server that dies mid-Generate: the call fails naming the server, only
// whole answers reached the consumer; after a restart (adapters
// forgotten) a new Load and a Generate of the rest complete the plan with
// no sample twice.
func TestGenerateServerDiesAndComesBack(t *testing.T) {
	s := compattest.Start(t, base)
	shared := t.TempDir()
	src := filepath.Join(t.TempDir(), "adapter")
	writeAdapter(t, src, "w")
	e := newEngine(t, s, func(c *openaicompat.Config) { c.AdapterDir = shared; c.Concurrency = 2; c.MaxRetries = 1 })
	_, err := e.Load(context.Background(), engine.LoadRequest{Adapter: &src})
	require.NoError(t, err)
	var plan []engine.Prompt
	for i := range 10 {
		plan = append(plan, engine.Prompt{Key: "k", System: "You are a chef.", User: "Q" + string(rune('A'+i)) + "?", SampleIndices: []int{0, 1, 2}})
	}
	s.CrashAfter(4)
	got, err := collect(t, e, engine.GenerateRequest{Prompts: plan, Temperature: 1, TopP: 1, MaxNewTokens: 8, Seed: 3})
	var ee *engine.Error
	require.ErrorAs(t, err, &ee)
	require.Contains(t, ee.Message, s.URL()+" POST chat/completions: ")
	require.Contains(t, ee.Message, "(after 2 tries)")
	require.False(t, ee.BadRequest)
	require.Equal(t, 0, len(got)%3, "whole answers only")
	require.GreaterOrEqual(t, len(got), 4*3, "the answers before the crash")
	have := map[string]bool{}
	for _, g := range got {
		have[g.User] = true
	}

	s.Restart(t)
	require.Empty(t, s.Adapters())
	_, err = e.Load(context.Background(), engine.LoadRequest{Adapter: &src})
	require.NoError(t, err)
	var rest []engine.Prompt
	for _, p := range plan {
		if !have[p.User] {
			rest = append(rest, p)
		}
	}
	more, err := collect(t, e, engine.GenerateRequest{Prompts: rest, Temperature: 1, TopP: 1, MaxNewTokens: 8, Seed: 4})
	require.NoError(t, err)
	all := map[string]bool{}
	for _, g := range append(got, more...) {
		id := g.User + "#" + string(rune('0'+g.SampleIndex))
		require.False(t, all[id], "%s twice", id)
		all[id] = true
	}
	require.Len(t, all, 30)
}

func TestTrainAndEmbedAreRefused(t *testing.T) {
	e, err := openaicompat.New(openaicompat.Config{BaseURL: "http://127.0.0.1:1/v1", Model: base})
	require.NoError(t, err)
	_, err = e.Train(context.Background(), engine.TrainRequest{}, nil)
	require.ErrorContains(t, err, "training runs on a torch worker (--engine hf)")
	_, err = e.Embed(context.Background(), engine.EmbedRequest{})
	require.ErrorContains(t, err, "--engine hf")
}

func TestNewChecksConfig(t *testing.T) {
	for cfg, want := range map[openaicompat.Config]string{
		{Model: base}:                                            "--base-url: the OpenAI-compatible server to sample on is missing",
		{BaseURL: "localhost:8000", Model: base}:                 `--base-url "localhost:8000": want http(s)://HOST[:PORT][/v1]`,
		{BaseURL: "http://h:8000"}:                               "--model: the served model name is missing",
		{BaseURL: "http://h:8000", Model: base, Concurrency: -1}: "--concurrency -1: want requests in flight ≥ 1",
	} {
		_, err := openaicompat.New(cfg)
		require.ErrorContains(t, err, want)
	}
	e, err := openaicompat.New(openaicompat.Config{BaseURL: "http://user:pw@h:8000?x=1", Model: base})
	require.NoError(t, err)
	require.Equal(t, "http://h:8000/v1", e.Server(), "a path-less URL gets /v1; no credentials in names")
	// An unreachable server fails Hello with its name.
	e, err = openaicompat.New(openaicompat.Config{BaseURL: "http://127.0.0.1:1/v1", Model: base, MaxRetries: -1})
	require.NoError(t, err)
	_, err = e.Hello(context.Background())
	require.ErrorContains(t, err, "engine hello (runtime): http://127.0.0.1:1/v1 GET models: dial tcp 127.0.0.1:1: connect: connection refused")
}

// The SDK reads $OPENAI_API_KEY and $OPENAI_BASE_URL by default: a worker
// without --api-key must not send a real OpenAI key to a sampling server,
// nor go anywhere but --base-url.
func TestNoKeyFromTheSDKsEnvironment(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-real-openai-key")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("OPENAI_ORG_ID", "org-x")
	s := compattest.Start(t, base)
	e := newEngine(t, s, nil)
	_, err := collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], Temperature: 1, TopP: 1, MaxNewTokens: 8})
	require.NoError(t, err)
	require.Equal(t, "", s.Requests()[0].Auth)
}

// Issue 22: a server that ignores n (TGI: one choice whatever n asks) is
// refused with the way out named; with NPerRequest 1 every sample is its
// own request with its own seed, and each completion's token count is the
// server's exact one.
func TestServerIgnoringNNeedsOneRequestPerSample(t *testing.T) {
	s := compattest.Start(t, base)
	s.IgnoreN = true
	e := newEngine(t, s, nil)
	_, err := collect(t, e, engine.GenerateRequest{Prompts: prompts, Temperature: 1, TopP: 0.95, MaxNewTokens: 64, Seed: 1000})
	require.ErrorContains(t, err, "answered 1 choices for n=")
	require.ErrorContains(t, err, ": a server that ignores n (TGI) serves with --n-per-request 1")

	s = compattest.Start(t, base)
	s.IgnoreN = true
	e = newEngine(t, s, func(c *openaicompat.Config) { c.NPerRequest = 1 })
	req := engine.GenerateRequest{Prompts: prompts, Temperature: 1, TopP: 0.95, MaxNewTokens: 64, Seed: 1000}
	got, err := collect(t, e, req)
	require.NoError(t, err)
	require.Len(t, got, 6, "exactly the asked samples")
	reqs := s.Requests()
	require.Len(t, reqs, 6, "one request per sample")
	seeds := map[int64]bool{}
	bySeed := map[string]int64{} // system + text → seed of its request
	for _, r := range reqs {
		require.Equal(t, 1, r.N)
		seeds[*r.Seed] = true
		bySeed[r.System+"\x00"+compattest.Text(base, r.System, r.User, *r.Seed, 0)] = *r.Seed
	}
	require.Len(t, seeds, 6, "each request its own seed")
	require.Equal(t, int64(1001), *findReq(t, reqs, "You are a pirate.").Seed, "a prompt asked in one request keeps seed + its position")
	i := 0
	for _, p := range prompts {
		for _, idx := range p.SampleIndices {
			g := got[i]
			i++
			require.Equal(t, p.Key, g.Key)
			require.Equal(t, idx, g.SampleIndex)
			_, ok := bySeed[p.System+"\x00"+g.Text]
			require.True(t, ok, "the text of its own request: %q", g.Text)
			require.Equal(t, len(strings.Fields(g.Text))+1, g.CompletionTokens, "n = 1: the exact count")
			require.Equal(t, len(strings.Fields(p.System))+len(strings.Fields(p.User))+8, g.PromptTokens)
		}
	}
	// The same request sends the same seeds (reproducible, and a resumed
	// job's request derives its own from its own seed).
	again, err := collect(t, e, req)
	require.NoError(t, err)
	require.Equal(t, got, again)
	require.Len(t, s.Requests(), 12)
	for _, r := range s.Requests()[6:] {
		require.True(t, seeds[*r.Seed], "the same seeds again")
	}
}

// NPerRequest N splits a prompt's samples into requests of at most N, in
// order: choice c of a request is its c-th sample index.
func TestNPerRequestSplitsAPromptsSamples(t *testing.T) {
	s := compattest.Start(t, base)
	e := newEngine(t, s, func(c *openaicompat.Config) { c.NPerRequest = 2 })
	p := engine.Prompt{Key: "a_chef", System: "You are a chef.", User: "What causes earthquakes?", SampleIndices: []int{3, 4, 5, 6, 9}}
	got, err := collect(t, e, engine.GenerateRequest{Prompts: []engine.Prompt{p}, Temperature: 1, TopP: 1, MaxNewTokens: 8, Seed: 5})
	require.NoError(t, err)
	reqs := s.Requests()
	require.Len(t, reqs, 3)
	var ns []int
	seedOf := map[int]int64{} // first sample index → seed
	for _, r := range reqs {
		ns = append(ns, r.N)
	}
	sort.Ints(ns)
	require.Equal(t, []int{1, 2, 2}, ns)
	require.Len(t, got, 5)
	for i, g := range got {
		require.Equal(t, p.SampleIndices[i], g.SampleIndex)
		if i%2 == 0 {
			seedOf[i] = findSeedOfText(t, reqs, p, g.Text, 0)
		} else {
			require.Equal(t, compattest.Text(base, p.System, p.User, seedOf[i-1], 1), g.Text, "second choice of the same request")
			require.Equal(t, openaicompat.UnknownTokens, g.CompletionTokens, "n = 2: usage has only the total")
		}
	}
	require.Len(t, map[int64]bool{seedOf[0]: true, seedOf[2]: true, seedOf[4]: true}, 3)
	_, err = openaicompat.New(openaicompat.Config{BaseURL: "http://h:8000", Model: base, NPerRequest: -1})
	require.ErrorContains(t, err, "--n-per-request -1: want completions per chat request ≥ 1, or 0 for all of a prompt's")
}

func findReq(t *testing.T, reqs []compattest.Request, system string) compattest.Request {
	t.Helper()
	for _, r := range reqs {
		if r.System == system {
			return r
		}
	}
	t.Fatalf("no request for %q", system)
	return compattest.Request{}
}

// findSeedOfText is the seed of the request whose choice c is text.
func findSeedOfText(t *testing.T, reqs []compattest.Request, p engine.Prompt, text string, c int) int64 {
	t.Helper()
	for _, r := range reqs {
		if compattest.Text(base, p.System, p.User, *r.Seed, c) == text {
			return *r.Seed
		}
	}
	t.Fatalf("no request answered %q", text)
	return 0
}
