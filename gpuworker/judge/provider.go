package judge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Reply is one judge call's answer and the provider's token usage.
type Reply struct {
	Text                      string
	InputTokens, OutputTokens *int
}

// Provider sends one system + user message pair to a judge model.
type Provider interface {
	// Name identifies the provider and model, e.g. "anthropic/claude-sonnet-4-5".
	Name() string
	Call(ctx context.Context, system, user string) (Reply, error)
}

// CallError is a failed call; Retryable calls may succeed when repeated
// (rate limits, server errors, timeouts), after RetryAfter when the
// provider said so.
type CallError struct {
	Status     int // HTTP status, 0 for network errors and timeouts
	Retryable  bool
	RetryAfter time.Duration
	Err        error
}

func (e *CallError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("HTTP %d: %v", e.Status, e.Err)
	}
	return e.Err.Error()
}

func (e *CallError) Unwrap() error { return e.Err }

// HTTPConfig is what both providers need.
type HTTPConfig struct {
	BaseURL string // e.g. http://127.0.0.1:8000 for a self-hosted OpenAI-compatible server
	APIKey  string
	Model   string
	Timeout time.Duration // per call; 0 means 60 s
	Client  *http.Client  // nil: a client with Timeout
}

func (c HTTPConfig) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	t := c.Timeout
	if t == 0 {
		t = 60 * time.Second
	}
	return &http.Client{Timeout: t}
}

// post sends a JSON body and decodes a JSON answer, classifying failures.
func (c HTTPConfig) post(ctx context.Context, path string, headers map[string]string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return &CallError{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return &CallError{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return &CallError{Err: ctx.Err()}
		}
		return &CallError{Retryable: true, Err: fmt.Errorf("call %s: %w", path, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &CallError{Retryable: true, Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		ce := &CallError{Status: resp.StatusCode, Err: errors.New(cut(strings.TrimSpace(string(data)), 200)),
			Retryable: resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			ce.RetryAfter = time.Duration(s) * time.Second
		}
		return ce
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &CallError{Err: fmt.Errorf("answer is not the expected JSON: %w", err)}
	}
	return nil
}

// Anthropic calls the Messages API (POST /v1/messages).
type Anthropic struct{ HTTPConfig }

func (a Anthropic) Name() string { return "anthropic/" + a.Model }

func (a Anthropic) Call(ctx context.Context, system, user string) (Reply, error) {
	var out struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		Usage struct {
			InputTokens  *int `json:"input_tokens"`
			OutputTokens *int `json:"output_tokens"`
		} `json:"usage"`
	}
	body := map[string]any{"model": a.Model, "max_tokens": 16, "temperature": 0.0, "system": system,
		"messages": []map[string]string{{"role": "user", "content": user}}}
	if err := a.post(ctx, "/v1/messages", map[string]string{"x-api-key": a.APIKey, "anthropic-version": "2023-06-01"}, body, &out); err != nil {
		return Reply{}, err
	}
	var text strings.Builder
	for _, c := range out.Content {
		if c.Type == "text" {
			text.WriteString(c.Text)
		}
	}
	return Reply{Text: text.String(), InputTokens: out.Usage.InputTokens, OutputTokens: out.Usage.OutputTokens}, nil
}

// OpenAI calls any OpenAI-compatible chat-completions endpoint
// (POST /v1/chat/completions), e.g. a self-hosted judge behind vLLM.
type OpenAI struct{ HTTPConfig }

func (o OpenAI) Name() string { return "openai/" + o.Model }

func (o OpenAI) Call(ctx context.Context, system, user string) (Reply, error) {
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     *int `json:"prompt_tokens"`
			CompletionTokens *int `json:"completion_tokens"`
		} `json:"usage"`
	}
	body := map[string]any{"model": o.Model, "max_tokens": 16, "temperature": 0.0,
		"messages": []map[string]string{{"role": "system", "content": system}, {"role": "user", "content": user}}}
	headers := map[string]string{}
	if o.APIKey != "" {
		headers["Authorization"] = "Bearer " + o.APIKey
	}
	if err := o.post(ctx, "/v1/chat/completions", headers, body, &out); err != nil {
		return Reply{}, err
	}
	if len(out.Choices) == 0 {
		return Reply{}, &CallError{Err: errors.New("answer has no choices")}
	}
	return Reply{Text: out.Choices[0].Message.Content, InputTokens: out.Usage.PromptTokens, OutputTokens: out.Usage.CompletionTokens}, nil
}
