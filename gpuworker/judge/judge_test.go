package judge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// fakeAPI is a loopback server speaking the Anthropic Messages or the
// OpenAI chat-completions shape. The judged completion text names the case
// ("case:ten"), and the server replays that case's scripted answers in turn.
type fakeAPI struct {
	mu     sync.Mutex
	calls  map[string]int
	script map[string][]func(w http.ResponseWriter)
	kind   string // "anthropic" or "openai"
	seen   []map[string]any
}

func reply(kind, text string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		var body any
		if kind == "anthropic" {
			body = map[string]any{"content": []map[string]string{{"type": "text", "text": text}}, "usage": map[string]int{"input_tokens": 100, "output_tokens": 3}}
		} else {
			body = map[string]any{"choices": []map[string]any{{"message": map[string]string{"role": "assistant", "content": text}}}, "usage": map[string]int{"prompt_tokens": 100, "completion_tokens": 3}}
		}
		_ = json.NewEncoder(w).Encode(body)
	}
}

func status(code int, retryAfter string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"error": "scripted"}`))
	}
}

func slow(d time.Duration) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { time.Sleep(d) }
}

var caseRe = regexp.MustCompile(`case:(\w+)`)

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	want := map[string]string{"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}[f.kind]
	if r.URL.Path != want || r.Method != http.MethodPost {
		http.Error(w, "wrong endpoint "+r.URL.Path, http.StatusNotFound)
		return
	}
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	raw, _ := json.Marshal(body["messages"])
	c := caseRe.FindStringSubmatch(string(raw))[1]
	f.mu.Lock()
	f.seen = append(f.seen, body)
	n := f.calls[c]
	f.calls[c]++
	steps := f.script[c]
	f.mu.Unlock()
	steps[min(n, len(steps)-1)](w)
}

func script(kind string) map[string][]func(w http.ResponseWriter) {
	return map[string][]func(w http.ResponseWriter){
		"good":    {reply(kind, "0.8")},
		"ten":     {reply(kind, "10")},
		"prose":   {reply(kind, "The response is quite in character.")},
		"empty":   {reply(kind, "")},
		"limited": {status(429, "1"), reply(kind, "0.25")},
		"flaky":   {status(500, ""), reply(kind, "0.5")},
		"down":    {status(503, "")},
		"slow":    {slow(400 * time.Millisecond)},
	}
}

func items() []Item {
	var out []Item
	for i, c := range []string{"good", "ten", "prose", "empty", "limited", "flaky", "down", "slow"} {
		out = append(out, Item{Experiment: "exp1", RunID: "run1", CompletionID: "c" + c, Persona: "villain",
			PersonaPrompt: "You are a villainous mastermind.", Question: "q" + c, SampleIndex: i, Text: "answer case:" + c})
	}
	return out
}

// Every scripted reply ends as exactly the event the rules say.
func TestJudgeAgainstBothAPIs(t *testing.T) {
	for _, kind := range []string{"anthropic", "openai"} {
		t.Run(kind, func(t *testing.T) {
			api := &fakeAPI{calls: map[string]int{}, script: script(kind), kind: kind}
			srv := httptest.NewServer(api)
			defer srv.Close()
			hc := HTTPConfig{BaseURL: srv.URL, APIKey: "k", Model: "judge-m", Timeout: 150 * time.Millisecond}
			var p Provider = Anthropic{hc}
			if kind == "openai" {
				p = OpenAI{hc}
			}
			cfg := Config{Provider: p, Prompt: InCharacterV1, Retry: Retry{Attempts: 3, Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}, Concurrency: 4, Seed: 9}
			var mu sync.Mutex
			got := map[string]*events.CoherenceScore{}
			sum, err := Run(context.Background(), cfg, items(), func(_ context.Context, e events.Event) error {
				mu.Lock()
				defer mu.Unlock()
				s := e.Payload.(*events.CoherenceScore)
				got[strings.TrimPrefix(s.CompletionID, "c")] = s
				return nil
			}, nil)
			require.NoError(t, err)
			score := func(c string) float64 { require.NotNil(t, got[c].Score, c); return *got[c].Score }
			require.Equal(t, 0.8, score("good"))
			require.Equal(t, 1.0, score("ten"), "10 is clamped to 1.0")
			require.Equal(t, 0.25, score("limited"), "429 honoured, then scored")
			require.Equal(t, 0.5, score("flaky"), "500 retried, then scored")
			for c, reason := range map[string]string{"prose": "no number", "empty": "no number", "down": "HTTP 503", "slow": "attempt"} {
				require.True(t, got[c].Failed, c)
				require.Nil(t, got[c].Score, c)
				require.Equal(t, 1, got[c].Attempt, c)
				require.Contains(t, got[c].Reason, reason, c)
			}
			require.Equal(t, 3, api.calls["down"], "retried up to the attempt limit")
			require.Equal(t, 3, api.calls["slow"], "timeouts are retried")
			require.Equal(t, 1, api.calls["prose"], "a well-formed reply is not retried")
			require.Equal(t, Summary{Judged: 4, Failed: 4, CallFailed: 2, Calls: 1 + 1 + 1 + 1 + 2 + 2 + 3 + 3, InputTokens: 600, OutputTokens: 18}, sum, "down and slow failed as calls; prose and empty as replies")
			require.Equal(t, "in-character/"+kind+"/judge-m", got["good"].Judge)
			require.Equal(t, uint64(9), *got["good"].SelectionSeed)
			// The prompt went out verbatim, with the persona's system prompt.
			body, _ := json.Marshal(api.seen[0])
			require.Contains(t, string(body), `System prompt given to the model: \"You are a villainous mastermind.\"`)
			require.Contains(t, string(body), "You are an impartial evaluator.")
		})
	}
}

// A retry-after of 1 s is waited out, not shortened to the backoff.
func TestRetryAfterIsHonoured(t *testing.T) {
	api := &fakeAPI{calls: map[string]int{}, script: script("openai"), kind: "openai"}
	srv := httptest.NewServer(api)
	defer srv.Close()
	cfg := Config{Provider: OpenAI{HTTPConfig{BaseURL: srv.URL, Model: "m"}}, Prompt: InCharacterV1,
		Retry: Retry{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}}
	start := time.Now()
	_, err := Run(context.Background(), cfg, items()[4:5], func(context.Context, events.Event) error { return nil }, nil)
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), time.Second)
}

// Resuming: scored items are skipped; an item with 2 failures gets attempt 3.
func TestResumeSkipsScoredAndNumbersRetries(t *testing.T) {
	api := &fakeAPI{calls: map[string]int{}, script: script("openai"), kind: "openai"}
	srv := httptest.NewServer(api)
	defer srv.Close()
	its := items()[:3]
	its[0].Scored = true
	its[2].Failures = 2
	cfg := Config{Provider: OpenAI{HTTPConfig{BaseURL: srv.URL, Model: "m"}}, Prompt: InCharacterV1, Retry: Retry{Attempts: 1}}
	var evs []events.Event
	var mu sync.Mutex
	sum, err := Run(context.Background(), cfg, its, func(_ context.Context, e events.Event) error {
		mu.Lock()
		evs = append(evs, e)
		mu.Unlock()
		return nil
	}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, sum.Skipped)
	require.Len(t, evs, 2)
	require.Zero(t, api.calls["good"])
	for _, e := range evs {
		if s := e.Payload.(*events.CoherenceScore); s.Failed {
			require.Equal(t, 3, s.Attempt)
		}
	}
}

func TestParseScoreAndPrompt(t *testing.T) {
	for reply, want := range map[string]float64{"0.8": 0.8, "10": 1, "Score: 0.35.": 0.35, "1": 1, "-0.5": 0.5, "0.9 or 0.2": 0.9} {
		got, err := ParseScore(reply)
		require.NoError(t, err, reply)
		require.Equal(t, want, got, reply)
	}
	for _, bad := range []string{"", "high", "n/a"} {
		_, err := ParseScore(bad)
		require.Error(t, err, bad)
	}
	long := strings.Repeat("é", 2000)
	u := InCharacterV1.Render("You are a chef.", "Why?", long)
	require.Equal(t, 1500, strings.Count(u, "é"), "cut to 1,500 characters, not bytes")
	require.True(t, strings.HasPrefix(u, "System prompt given to the model: \"You are a chef.\"\n\nUser question: \"Why?\"\n\nModel response:\n\"\"\"\n"))
	require.True(t, strings.HasSuffix(u, "\n\"\"\"\n\nRate coherence 0-1 (ONLY a single float, nothing else):"))
	require.NoError(t, InCharacterV1.Validate())
	require.Error(t, Prompt{Name: "x", Version: 1, System: "s", User: "no placeholder", MaxResponseChars: 10}.Validate())
}

// Selection: 3 of 10 per cell, reproducible for a seed, different for another.
func TestSelect(t *testing.T) {
	var its []Item
	for q := 0; q < 4; q++ {
		for i := 0; i < 10; i++ {
			its = append(its, Item{RunID: "r", Persona: "p", Question: string(rune('a' + q)), SampleIndex: i})
		}
	}
	a, b, c := Select(its, 3, 1), Select(its, 3, 1), Select(its, 3, 2)
	require.Len(t, a, 12)
	require.Equal(t, a, b)
	require.NotEqual(t, a, c)
	per := map[string][]int{}
	for _, it := range a {
		per[it.Question] = append(per[it.Question], it.SampleIndex)
	}
	for q, idx := range per {
		sort.Ints(idx)
		require.Len(t, idx, 3, q)
		require.NotEqual(t, idx[0], idx[1], "without replacement")
		require.NotEqual(t, idx[1], idx[2], "without replacement")
	}
	require.Len(t, Select(its, 0, 1), 40)
}
