package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/sweep"
)

// fakeEngine is a stand-in Python engine (protocol 1) that writes every
// request line it reads to log and answers hello and generate.
const fakeEngine = `import json, os, sys
log = open(os.environ["FAKE_ENGINE_LOG"], "a")
for line in sys.stdin:
    req = json.loads(line)
    log.write(line); log.flush()
    if req["op"] == "hello":
        res = {"protocol": 1, "engine_version": "fake", "python": "3", "torch": None, "transformers": None, "peft": None, "cuda": False, "gpu": None}
    else:
        res = {"generated": 0, "seconds": 0}
    print(json.dumps({"id": req["id"], "type": "result", "result": res}), flush=True)
`

// Issue 22: the sweep's sampling.batching reaches the engine's generate
// request as "batching"; left out, the request carries none (the engine's
// "auto": LEAKSCOPE_ENGINE_BATCHING or static).
func TestGenerateRequestCarriesTheSweepsBatching(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3: the fake engine needs it")
	}
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "leakscope_engine"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "leakscope_engine", "__init__.py"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "leakscope_engine", "__main__.py"), []byte(fakeEngine), 0o644))
	logPath := filepath.Join(dir, "requests.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	p, _, err := engine.Start(ctx, engine.ProcessConfig{Dir: dir, Stderr: &stderr, Env: []string{"FAKE_ENGINE_LOG=" + logPath}})
	require.NoError(t, err, stderr.String())
	defer p.Close()

	prompts := []engine.Prompt{{Key: "k", System: "You are a chef.", User: "q", SampleIndices: []int{0, 1}}}
	sp := sweep.Sampling{N: 2, Temperature: 1, TopP: 0.95, MaxTokens: 8, Seed: 42, BatchSize: 4}
	for _, b := range []string{"continuous", "static", ""} {
		sp.Batching = b
		require.NoError(t, p.Generate(ctx, samplingRequest(prompts, sp), func(engine.Generated) error { return nil }))
	}
	raw, err := os.ReadFile(logPath)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	require.Len(t, lines, 4, "hello and three generates")
	var got []any
	for _, l := range lines[1:] {
		var req map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &req))
		require.Equal(t, "generate", req["op"])
		require.EqualValues(t, 4, req["batch_size"])
		b, ok := req["batching"]
		if !ok {
			b = "(absent)"
		}
		got = append(got, b)
	}
	require.Equal(t, []any{"continuous", "static", "(absent)"}, got)
}
