// Package openaicompat is the engine that sends sampling to a running
// OpenAI-compatible server (vLLM, SGLang, TGI) instead of the Python torch
// engine: chat completions with n samples per request, a bounded number of
// requests in flight, retries on 429 and 5xx (honouring Retry-After), and
// LoRA adapters loaded on the server by name (vLLM's
// POST /v1/load_lora_adapter). It samples only: on-policy and eval jobs.
// Training and embeddings need the model's weights and stay on the torch
// engine, whose adapter this engine hands to the server.
//
// HTTP, retries and errors are the official SDK's (github.com/openai/openai-go).
package openaicompat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"leakscope/gpuworker/engine"
)

// Config says which server and model to sample from.
type Config struct {
	// BaseURL is the server's OpenAI API root, e.g. http://127.0.0.1:8000/v1
	// (a URL without a path gets /v1).
	BaseURL string
	// APIKey is sent as a bearer token when not empty (vLLM's --api-key).
	APIKey string
	// Model is the served name of the base model (vLLM's --served-model-name,
	// else the path it was started with).
	Model string
	// NPerRequest caps the completions one chat request asks (n): 0, the
	// default, asks all samples of a prompt at once; 1 sends one request
	// per sample, for servers that ignore n (TGI), and gets each
	// completion's exact token count (usage counts a request's total).
	NPerRequest int
	// Concurrency bounds the chat requests in flight (default 32): sampling
	// waits, rather than queueing requests without bound, when the server
	// or the publisher falls behind.
	Concurrency int
	// MaxRetries is how often a request is repeated after a 408, 409, 429 or
	// 5xx answer or a lost connection, with exponential backoff or the
	// server's Retry-After (default 5; 0 is taken as the default, -1 as none).
	MaxRetries int
	// AdapterDir is a folder the worker and the server share: an adapter is
	// copied there, under its content-addressed name, before the server
	// loads it. Needed for eval jobs of a trained source only.
	AdapterDir string
	// ServerAdapterDir is AdapterDir as the server sees it (default
	// AdapterDir; differs when the server runs in a container).
	ServerAdapterDir string
	// MaxResponseBytes bounds one answer's body (default 64 MiB): a broken
	// or hostile server cannot make the worker read without end.
	MaxResponseBytes int64
	// HTTPClient replaces the SDK's client (tests).
	HTTPClient *http.Client
}

// DefaultMaxResponseBytes is Config.MaxResponseBytes's default: far above
// n = 200 completions of 4,096 tokens, JSON-escaped.
const DefaultMaxResponseBytes = 64 << 20

// Engine samples on an OpenAI-compatible server. It is safe for one
// Generate at a time, as every engine.Engine.
type Engine struct {
	cfg    Config
	base   *url.URL
	client openai.Client
	active atomic.Int64 // unix nanos of the last request sent or answer received

	mu       sync.Mutex
	model    string   // the name chat requests carry: Config.Model or the loaded adapter's
	adapter  *Adapter // the loaded adapter, nil for the base model
	served   *ServedModel
	reported map[string]bool // `model` of the server's answers
}

// New checks cfg and builds the engine; it does not contact the server
// (Hello does).
func New(cfg Config) (*Engine, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("--base-url: the OpenAI-compatible server to sample on is missing (e.g. http://127.0.0.1:8000/v1)")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--base-url %q: want http(s)://HOST[:PORT][/v1]", cfg.BaseURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1"
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/"
	u.RawQuery, u.Fragment = "", ""
	if cfg.Model == "" {
		return nil, errors.New("--model: the served model name is missing (vLLM's --served-model-name, or the path it serves)")
	}
	switch {
	case cfg.Concurrency == 0:
		cfg.Concurrency = 32
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("--concurrency %d: want requests in flight ≥ 1", cfg.Concurrency)
	}
	if cfg.NPerRequest < 0 {
		return nil, fmt.Errorf("--n-per-request %d: want completions per chat request ≥ 1, or 0 for all of a prompt's", cfg.NPerRequest)
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = 5
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.ServerAdapterDir == "" {
		cfg.ServerAdapterDir = cfg.AdapterDir
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	opts := []option.RequestOption{
		option.WithBaseURL(u.String()),
		// Set explicitly: the SDK would otherwise send $OPENAI_API_KEY and
		// the organisation headers of the environment to this server.
		option.WithAPIKey(cfg.APIKey), option.WithHeaderDel("OpenAI-Organization"), option.WithHeaderDel("OpenAI-Project"),
		option.WithMaxRetries(cfg.MaxRetries),
		option.WithMiddleware(limitBodies(cfg.MaxResponseBytes)),
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	e := &Engine{cfg: cfg, base: u, client: openai.NewClient(opts...), model: cfg.Model, reported: map[string]bool{}}
	e.touch()
	return e, nil
}

// Server is the base URL the engine talks to, without credentials.
func (e *Engine) Server() string {
	u := *e.base
	u.User = nil
	return strings.TrimRight(u.String(), "/")
}

func (e *Engine) touch() { e.active.Store(time.Now().UnixNano()) }

// LastActivity is when a request was last sent or answered: the worker
// fails a job whose server stays silent longer than --stall-timeout.
func (e *Engine) LastActivity() time.Time { return time.Unix(0, e.active.Load()) }

// Hello reports the engine and checks that the server answers (its list of
// models; a server without GET /models passes).
func (e *Engine) Hello(ctx context.Context) (engine.Info, error) {
	info := engine.Info{Protocol: 1, EngineVersion: "openai-compatible (" + sdkVersion() + ")", Python: "none"}
	served, err := e.lookupServed(ctx, e.cfg.Model)
	if err != nil {
		return info, err
	}
	e.mu.Lock()
	e.served = served
	e.mu.Unlock()
	return info, nil
}

// Load selects what chat requests sample from: the base model (--model),
// or, with an adapter, the adapter loaded on the server under its
// content-addressed name. req.Model (the sweep's model path on GPU
// machines) is recorded by the job, not used: the server serves its model.
func (e *Engine) Load(ctx context.Context, req engine.LoadRequest) (engine.Loaded, error) {
	l := engine.Loaded{ModelType: "openai-compatible"}
	model, adapter := e.cfg.Model, (*Adapter)(nil)
	if req.Adapter != nil {
		a, err := e.loadAdapter(ctx, *req.Adapter)
		if err != nil {
			return l, err
		}
		model, adapter = a.Name, a
		sha := a.SHA256
		l.AdapterSHA256 = &sha
	}
	served, err := e.lookupServed(ctx, model)
	if err != nil {
		return l, err
	}
	e.mu.Lock()
	e.model, e.adapter, e.served = model, adapter, served
	e.reported = map[string]bool{} // what answers name from now on
	e.mu.Unlock()
	return l, nil
}

// Train is refused: training needs the weights (the torch engine, --engine hf).
func (e *Engine) Train(context.Context, engine.TrainRequest, func(engine.TrainLog) error) (engine.Trained, error) {
	return engine.Trained{}, &engine.Error{Op: "train", Message: "the openai engine samples only: training runs on a torch worker (--engine hf), whose adapter the server then loads"}
}

// Embed is refused: hidden states are not served over the OpenAI API.
func (e *Engine) Embed(context.Context, engine.EmbedRequest) (engine.Embedded, error) {
	return engine.Embedded{}, &engine.Error{Op: "embed", Message: "the openai engine samples only: persona embeddings need the model's hidden states (--engine hf)"}
}

// Close releases nothing: the server keeps running, adapters stay loaded.
func (e *Engine) Close() error { return nil }

// Backend describes the server for the run's provenance (recorded beside
// engine.Info): base URL, the served base model and the name sent, the
// server's own entry for it (GET /models: root, parent), the adapter, the
// models its answers named, and the sampling fields sent beyond the
// OpenAI API's.
func (e *Engine) Backend() any {
	e.mu.Lock()
	defer e.mu.Unlock()
	var reported []string
	for m := range e.reported {
		reported = append(reported, m)
	}
	b := map[string]any{"api": "openai-compatible chat completions", "base_url": e.Server(), "model": e.cfg.Model,
		"sent_model": e.model, "client": sdkVersion(), "concurrency": e.cfg.Concurrency, "max_retries": e.cfg.MaxRetries, "n_per_request": e.cfg.NPerRequest,
		"extra_body": extraBody}
	if e.served != nil {
		b["server_model"] = e.served
	}
	if e.adapter != nil {
		b["adapter"] = e.adapter
	}
	if len(reported) > 0 {
		b["reported_models"] = reported
	}
	return b
}

// sdkVersion is the SDK's module version as linked.
func sdkVersion() string {
	const mod = "github.com/openai/openai-go/v3"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == mod {
				return mod + " " + d.Version
			}
		}
	}
	return mod
}
