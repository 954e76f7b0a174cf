package openaicompat_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/openaicompat"
)

const okAnswer = `{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}`

// hostileEngine is an engine on a server that answers chat requests with
// chat (and lists no models).
func hostileEngine(t *testing.T, chat http.HandlerFunc, mod func(*openaicompat.Config)) *openaicompat.Engine {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/chat/completions") {
			w.Header().Set("Content-Type", "application/json")
			chat(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := openaicompat.Config{BaseURL: srv.URL + "/v1", APIKey: "sk-secret", Model: base, Concurrency: 2, MaxRetries: -1}
	if mod != nil {
		mod(&cfg)
	}
	e, err := openaicompat.New(cfg)
	require.NoError(t, err)
	return e
}

// Attack: the sampling server redirects (307) to another port of the same
// host, where net/http would keep the Authorization header (same host
// name). Held by the SDK, which refuses a request outside the base URL's
// origin: the other server sees nothing and nothing is stored.
func TestGenerateRefusesRedirectsAndKeepsTheKey(t *testing.T) {
	var stolen atomic.Value
	stolen.Store("")
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Store(r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, okAnswer)
	}))
	defer thief.Close()
	e := hostileEngine(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, thief.URL+"/v1/chat/completions", http.StatusTemporaryRedirect)
	}, nil)
	got, err := collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], MaxNewTokens: 8})
	require.Equal(t, "", stolen.Load(), "the key must not follow a redirect")
	require.ErrorContains(t, err, "origin must match the configured base URL")
	require.Empty(t, got)
}

// Attack: a 200 answer without end (or just huge). The SDK reads a body
// whole, so the worker's memory grew without bound; now the answer fails
// past MaxResponseBytes and nothing is stored.
func TestGenerateBoundsTheAnswer(t *testing.T) {
	e := hostileEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id": "x", "object": "chat.completion", "model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "`)
		chunk := strings.Repeat("a", 64<<10)
		for i := 0; i < 64; i++ { // 4 MiB, 16 × the limit
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `"}}]}`)
	}, func(c *openaicompat.Config) { c.MaxResponseBytes = 256 << 10 })
	got, err := collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], MaxNewTokens: 8})
	require.ErrorContains(t, err, "longer than 262144 bytes")
	require.Empty(t, got)
	// An answer of the limit's size passes.
	e = hostileEngine(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, okAnswer) },
		func(c *openaicompat.Config) { c.MaxResponseBytes = int64(len(okAnswer)) })
	got, err = collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], MaxNewTokens: 8})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "hi", got[0].Text)
}

// Attack: answers a sampler must not store — a non-JSON 200, invalid
// UTF-8 in the content, absurd usage. Each fails the request or is
// stored as the torch engine would (tokens unknown when negative).
func TestGenerateHostileAnswers(t *testing.T) {
	for _, c := range []struct{ name, body, err string }{
		{"html 200", "<html>proxy login</html>", "generate"},
		{"no choices", `{"id": "x", "model": "m", "choices": []}`, "answered 0 choices for n=1"},
		{"choice index out of range", strings.Replace(okAnswer, `"index": 0`, `"index": 5`, 1), "out of range"},
		{"truncated json", okAnswer[:40], "generate"},
	} {
		e := hostileEngine(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, c.body) }, nil)
		got, err := collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], MaxNewTokens: 8})
		require.ErrorContains(t, err, c.err, c.name)
		require.Empty(t, got, c.name)
	}
	e := hostileEngine(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Replace(okAnswer, `"choices"`, `"usage": {"prompt_tokens": -7, "completion_tokens": -9}, "choices"`, 1))
	}, nil)
	got, err := collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], MaxNewTokens: 8})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "hi", got[0].Text)
	require.Equal(t, -7, got[0].PromptTokens, "negative counts reach jobs, which stores them as unknown (tokens())")
}

// Attack: invalid UTF-8 or a lone surrogate escape in a choice's content.
// The SDK kept the raw bytes and the event's encoding would have stored
// them as U+FFFD without a word; the answer is refused instead.
func TestGenerateRefusesUnsoundText(t *testing.T) {
	for _, content := range []string{"\"a\xffb\"", `"a\ud800b"`} {
		e := hostileEngine(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, strings.Replace(okAnswer, `"hi"`, content, 1))
		}, nil)
		got, err := collect(t, e, engine.GenerateRequest{Prompts: prompts[1:2], MaxNewTokens: 8})
		require.ErrorContains(t, err, `answered b_pirate/"Why is the sky blue?" with text that`, content)
		require.Empty(t, got)
	}
}
