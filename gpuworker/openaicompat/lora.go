package openaicompat

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/openai/openai-go/v3/option"

	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/replay"
)

// Adapter is a LoRA adapter loaded on the server: Name is what chat
// requests send as the model, "leakscope-" and the first 16 hex digits of
// SHA256 (PROTOCOL.md's adapter hash), so one name never means two
// adapters and loading it again is harmless; Path is where the server
// reads it.
type Adapter struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Path   string `json:"server_path"`
}

// AdapterName is the served name of the adapter with this hash.
func AdapterName(sha256 string) string { return "leakscope-" + sha256[:16] }

// loadAdapter copies the adapter folder dir into AdapterDir under its name
// and has the server load it (vLLM: POST /v1/load_lora_adapter; the server
// needs --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True). An
// answer that the name is already loaded is success: the name is the hash.
func (e *Engine) loadAdapter(ctx context.Context, dir string) (*Adapter, error) {
	if e.cfg.AdapterDir == "" {
		return nil, &engine.Error{Op: "load", Message: "--adapter-dir is not set: sampling under a trained adapter needs a folder this worker and the server " + e.Server() + " both see"}
	}
	sha, err := replay.AdapterSHA256(dir)
	if err != nil {
		return nil, &engine.Error{Op: "load", Message: fmt.Sprintf("adapter %s: %v", dir, err)}
	}
	a := &Adapter{Name: AdapterName(sha), SHA256: sha, Path: filepath.Join(e.cfg.ServerAdapterDir, AdapterName(sha))}
	if err := stage(dir, filepath.Join(e.cfg.AdapterDir, a.Name), sha); err != nil {
		return nil, &engine.Error{Op: "load", Message: fmt.Sprintf("adapter into --adapter-dir %s: %v", e.cfg.AdapterDir, err)}
	}
	var hr *http.Response
	e.touch()
	err = e.client.Post(ctx, "load_lora_adapter", map[string]string{"lora_name": a.Name, "lora_path": a.Path}, nil, option.WithResponseInto(&hr))
	e.touch()
	if err == nil {
		return a, nil
	}
	if hr != nil && hr.StatusCode == http.StatusBadRequest {
		msg := errorMessage(hr)
		if l := strings.ToLower(msg); strings.Contains(l, "already") && strings.Contains(l, "loaded") {
			return a, nil
		}
		hr.Body = io.NopCloser(strings.NewReader(msg))
	}
	if hr != nil && (hr.StatusCode == http.StatusNotFound || hr.StatusCode == http.StatusMethodNotAllowed) {
		return nil, &engine.Error{Op: "load", Message: fmt.Sprintf("%s has no POST load_lora_adapter (HTTP %d): start vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True",
			e.Server(), hr.StatusCode)}
	}
	return nil, e.callError(ctx, "load", "POST load_lora_adapter "+a.Name+" from "+a.Path, hr, err)
}

// stage makes target a copy of dir (whose hash is sha) unless it already
// is one: copied beside it, then renamed into place, so the server never
// reads half an adapter.
func stage(dir, target, sha string) error {
	if got, err := replay.AdapterSHA256(target); err == nil && got == sha {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(target), ".staging-"+filepath.Base(target)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := copyTree(dir, tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	_ = os.RemoveAll(target) // a copy with other content (hand-edited, half-written by an older worker)
	if err := os.Rename(tmp, target); err != nil {
		// Another worker may have staged the same adapter meanwhile.
		if got, herr := replay.AdapterSHA256(target); herr == nil && got == sha {
			return nil
		}
		return err
	}
	return nil
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, 0o644)
		}
		return nil // links and devices are not part of an adapter
	})
}

// ServedModel is the server's entry for a model in GET /models: vLLM gives
// root (the path it loaded; an adapter's path) and parent (an adapter's
// base model).
type ServedModel struct {
	ID          string  `json:"id"`
	OwnedBy     string  `json:"owned_by,omitempty"`
	Root        *string `json:"root,omitempty"`
	Parent      *string `json:"parent,omitempty"`
	MaxModelLen *int    `json:"max_model_len,omitempty"`
}

// lookupServed asks GET /models for the entry of model: nil when the
// server does not list it (TGI answers any name) or has no such endpoint.
func (e *Engine) lookupServed(ctx context.Context, model string) (*ServedModel, error) {
	var hr *http.Response
	var body []byte
	e.touch()
	err := e.client.Get(ctx, "models", nil, &body, option.WithResponseInto(&hr))
	e.touch()
	if err != nil {
		if hr != nil && (hr.StatusCode == http.StatusNotFound || hr.StatusCode == http.StatusMethodNotAllowed) {
			return nil, nil
		}
		return nil, e.callError(ctx, "hello", "GET models", hr, err)
	}
	var list struct {
		Data []ServedModel `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, &engine.Error{Op: "hello", Message: fmt.Sprintf("%s GET models: not a model list (%v): %.200s", e.Server(), err, body)}
	}
	for _, m := range list.Data {
		if m.ID == model {
			return &m, nil
		}
	}
	return nil, nil
}

// Served is the server's entry for the model chat requests name now (nil:
// not listed).
func (e *Engine) Served() *ServedModel {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.served
}
