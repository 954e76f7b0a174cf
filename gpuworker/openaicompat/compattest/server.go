// Package compattest is a loopback OpenAI-compatible server for tests
// (no GPU, no model): it speaks the documented shapes of
// POST /v1/chat/completions (n choices — or one, as TGI, with IgnoreN —
// seed, usage, finish_reason, error bodies), GET /v1/models and vLLM's POST /v1/load_lora_adapter, and
// serves faults to order: error answers with Retry-After, and a crash in
// the middle of a request after which it is down until Restart, having
// forgotten its adapters as a restarted vLLM does.
package compattest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one chat request as the server read it.
type Request struct {
	At                time.Time
	Model             string
	System, User      string
	N                 int
	Seed              *int64
	Temperature, TopP *float64
	MaxTokens         *int
	TopK              *int
	RepetitionPenalty *float64
	Auth              string
}

// Fault is an error answer served instead of the next chat request's.
type Fault struct {
	Status     int
	RetryAfter string // the Retry-After header, if any
	Body       string // default: an OpenAI error object naming the status
}

// Server is the loopback server. Model is the served base model's name.
type Server struct {
	Model  string
	Root   string // the base model's root in GET /models
	APIKey string // when set, requests need "Authorization: Bearer APIKey"
	// Delay is spent on every chat answer (to see requests overlap).
	Delay time.Duration
	// IgnoreN answers one choice whatever n asks, as TGI does. Set it
	// before the first request.
	IgnoreN bool

	mu          sync.Mutex
	hs          *httptest.Server
	addr        string
	adapters    map[string]string // loaded name → path
	loads       int               // load_lora_adapter requests
	requests    []Request
	faults      []Fault
	dieAfter    int // crash at the chat request after this many answers (0: never)
	answered    int
	inflight    int
	maxInflight int
	down        chan struct{}
}

// Start serves on a free loopback port until the test ends.
func Start(t testing.TB, model string) *Server {
	s := &Server{Model: model, Root: "/models/" + model, adapters: map[string]string{}}
	s.listen(t, "127.0.0.1:0")
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) listen(t testing.TB, addr string) {
	var ln net.Listener
	var err error
	for range 50 { // the port of a stopped server may take a moment to free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("compattest: listen %s: %v", addr, err)
	}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	hs.Listener = ln
	hs.Start()
	s.mu.Lock()
	s.hs, s.addr, s.down = hs, ln.Addr().String(), make(chan struct{})
	s.mu.Unlock()
}

// URL is the OpenAI API root, http://127.0.0.1:PORT/v1.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr + "/v1"
}

// Fail queues error answers for the next chat requests, in order.
func (s *Server) Fail(f ...Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, f...)
	s.mu.Unlock()
}

// CrashAfter makes the server crash at the chat request after n more
// answers: that request's connection is cut without an answer and the
// server is down (connections refused) until Restart.
func (s *Server) CrashAfter(n int) {
	s.mu.Lock()
	s.dieAfter = s.answered + n
	s.mu.Unlock()
}

// Down is closed once the server crashed or stopped.
func (s *Server) Down() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

// Stop takes the server down, cutting open connections.
func (s *Server) Stop() {
	s.mu.Lock()
	hs, down := s.hs, s.down
	s.hs = nil
	s.mu.Unlock()
	if hs == nil {
		return
	}
	hs.CloseClientConnections()
	hs.Close()
	close(down)
}

// Restart serves again on the same address, with no adapter loaded.
func (s *Server) Restart(t testing.TB) {
	s.mu.Lock()
	addr := s.addr
	s.adapters, s.dieAfter = map[string]string{}, 0
	s.mu.Unlock()
	s.listen(t, addr)
}

// Requests are the chat requests answered or failed so far (not those cut by a crash).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Adapters are the loaded adapters, name → path.
func (s *Server) Adapters() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.adapters {
		out[k] = v
	}
	return out
}

// Loads counts load_lora_adapter requests (successful or not).
func (s *Server) Loads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}

// MaxInflight is the most chat requests the server held at once.
func (s *Server) MaxInflight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInflight
}

// Text is the completion the server answers for choice i of a request: a
// function of model, prompt, seed and i, as a seeded sampler's.
func Text(model, system, user string, seed int64, i int) string {
	return fmt.Sprintf("%s answers %q in the voice of %q (seed %d, choice %d).", model, user, system, seed, i)
}

// FinishReason is "length" for about one choice in seven, else "stop".
func FinishReason(model, system, user string, seed int64, i int) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%d", model, system, user, seed, i)
	if h.Sum32()%7 == 0 {
		return "length"
	}
	return "stop"
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": status}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.APIKey {
		// vLLM's answer to a missing or wrong key.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error": "Unauthorized"}`))
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions":
		s.chat(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		s.models(w)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/load_lora_adapter":
		s.loadLoRA(w, r)
	default:
		writeError(w, http.StatusNotFound, "NotFoundError", "no route "+r.Method+" "+r.URL.Path)
	}
}

func (s *Server) models(w http.ResponseWriter) {
	s.mu.Lock()
	data := []map[string]any{{"id": s.Model, "object": "model", "created": 1700000000, "owned_by": "vllm", "root": s.Root, "parent": nil, "max_model_len": 4096}}
	for name, path := range s.adapters {
		data = append(data, map[string]any{"id": name, "object": "model", "created": 1700000000, "owned_by": "vllm", "root": path, "parent": s.Model})
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

func (s *Server) loadLoRA(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string `json:"lora_name"`
		Path string `json:"lora_path"`
	}
	s.mu.Lock()
	s.loads++
	s.mu.Unlock()
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Name == "" || body.Path == "" {
		writeError(w, http.StatusBadRequest, "InvalidUserInput", "Both 'lora_name' and 'lora_path' must be provided.")
		return
	}
	s.mu.Lock()
	_, loaded := s.adapters[body.Name]
	s.mu.Unlock()
	if loaded {
		writeError(w, http.StatusBadRequest, "InvalidUserInput", fmt.Sprintf("The lora adapter '%s' has already been loaded.", body.Name))
		return
	}
	if _, err := os.Stat(filepath.Join(body.Path, "adapter_config.json")); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidUserInput", fmt.Sprintf("Loading lora %s failed: No adapter found for %s", body.Name, body.Path))
		return
	}
	s.mu.Lock()
	s.adapters[body.Name] = body.Path
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = fmt.Fprintf(w, "Success: LoRA adapter '%s' added successfully.", body.Name)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content any    `json:"content"`
		} `json:"messages"`
		N                 *int     `json:"n"`
		Seed              *int64   `json:"seed"`
		Temperature       *float64 `json:"temperature"`
		TopP              *float64 `json:"top_p"`
		MaxTokens         *int     `json:"max_tokens"`
		TopK              *int     `json:"top_k"`
		RepetitionPenalty *float64 `json:"repetition_penalty"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestError", "invalid JSON: "+err.Error())
		return
	}
	req := Request{At: time.Now(), Model: body.Model, Seed: body.Seed, Temperature: body.Temperature, TopP: body.TopP, MaxTokens: body.MaxTokens,
		TopK: body.TopK, RepetitionPenalty: body.RepetitionPenalty, Auth: r.Header.Get("Authorization"), N: 1}
	if body.N != nil {
		req.N = *body.N
	}
	text := func(i int) string { // "" for a non-string content
		if i >= len(body.Messages) {
			return ""
		}
		c, _ := body.Messages[i].Content.(string)
		return c
	}
	req.System, req.User = text(0), text(1)

	s.mu.Lock()
	s.inflight++
	s.maxInflight = max(s.maxInflight, s.inflight)
	crash := s.dieAfter > 0 && s.answered >= s.dieAfter
	var fault *Fault
	if !crash && len(s.faults) > 0 {
		fault = &s.faults[0]
		s.faults = s.faults[1:]
	}
	if !crash {
		s.requests = append(s.requests, req)
	}
	_, isAdapter := s.adapters[body.Model]
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.inflight--; s.mu.Unlock() }()

	switch {
	case crash: // cut the connection mid-request, then go down
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
			}
		}
		go s.Stop()
		return
	case fault != nil:
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		if fault.Body != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(fault.Status)
			_, _ = w.Write([]byte(fault.Body))
			return
		}
		writeError(w, fault.Status, "ServerError", fmt.Sprintf("injected %d", fault.Status))
		return
	case body.Model != s.Model && !isAdapter:
		writeError(w, http.StatusNotFound, "NotFoundError", fmt.Sprintf("The model `%s` does not exist.", body.Model))
		return
	case len(body.Messages) != 2 || body.Messages[0].Role != "system" || body.Messages[1].Role != "user" || req.User == "":
		writeError(w, http.StatusBadRequest, "BadRequestError", "want a system and a user message with text content")
		return
	case req.N < 1:
		writeError(w, http.StatusBadRequest, "BadRequestError", fmt.Sprintf("n must be at least 1, got %d.", req.N))
		return
	}
	if s.Delay > 0 {
		time.Sleep(s.Delay)
	}
	var seed int64
	if body.Seed != nil {
		seed = *body.Seed
	}
	promptTokens := len(strings.Fields(req.System)) + len(strings.Fields(req.User)) + 8
	nChoices := req.N
	if s.IgnoreN {
		nChoices = 1
	}
	choices := make([]map[string]any, nChoices)
	completionTokens := 0
	for i := range choices {
		t := Text(body.Model, req.System, req.User, seed, i)
		completionTokens += len(strings.Fields(t)) + 1
		choices[i] = map[string]any{"index": i, "message": map[string]any{"role": "assistant", "content": t},
			"logprobs": nil, "finish_reason": FinishReason(body.Model, req.System, req.User, seed, i)}
	}
	s.mu.Lock()
	s.answered++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": fmt.Sprintf("chatcmpl-%d", time.Now().UnixNano()), "object": "chat.completion",
		"created": time.Now().Unix(), "model": body.Model, "choices": choices,
		"usage": map[string]any{"prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": promptTokens + completionTokens}})
}
