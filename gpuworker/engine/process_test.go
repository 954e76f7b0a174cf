package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startHere starts the real Python engine from this folder. CI machines
// have python3 without torch: the protocol layer answers, the ops that
// need torch fail with a runtime error naming it.
func startHere(t *testing.T) (*Process, Info, *bytes.Buffer) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is needed for the engine's protocol test")
		}
		t.Skip("no python3: the engine's protocol test needs it")
	}
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, info, err := Start(ctx, ProcessConfig{Dir: ".", Stderr: &stderr})
	require.NoError(t, err, stderr.String())
	t.Cleanup(func() { _ = p.Close() })
	return p, info, &stderr
}

func TestProcessSpeaksTheProtocol(t *testing.T) {
	p, info, _ := startHere(t)
	require.Equal(t, 1, info.Protocol)
	require.NotEmpty(t, info.Python)
	ctx := context.Background()

	// Validation happens before torch is needed: an empty system prompt is
	// a bad request on any machine (Qwen would inject its default one).
	err := p.Generate(ctx, GenerateRequest{Prompts: []Prompt{{Key: "k", System: "", User: "q", SampleIndices: []int{0}}},
		Temperature: 1, TopP: 0.95, MaxNewTokens: 8, BatchSize: 4}, func(Generated) error { return nil })
	var ee *Error
	require.True(t, errors.As(err, &ee), "%v", err)
	require.True(t, ee.BadRequest)
	require.Contains(t, ee.Message, "system")

	// The engine keeps serving after an error.
	again, err := p.Hello(ctx)
	require.NoError(t, err)
	require.Equal(t, info, again)

	_, err = p.Load(ctx, LoadRequest{Model: "/nonexistent", DType: "float32"})
	require.True(t, errors.As(err, &ee), "%v", err)
	require.True(t, ee.BadRequest)
	require.Contains(t, ee.Message, "config.json", "a folder that is no model is named")
	if info.Torch == nil {
		model := t.TempDir()
		require.NoError(t, os.WriteFile(model+"/config.json", []byte(`{"model_type":"qwen2"}`), 0o644))
		_, err = p.Load(ctx, LoadRequest{Model: model, DType: "float32"})
		require.True(t, errors.As(err, &ee), "%v", err)
		require.False(t, ee.BadRequest, "a missing library is a runtime error")
		require.Contains(t, ee.Message, "torch")
	}
}

// A cancelled call kills the engine: a GPU op cannot be interrupted
// otherwise, and the worker must not wait for it.
func TestCancelKillsTheEngine(t *testing.T) {
	p, _, _ := startHere(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Hello(ctx)
	require.ErrorIs(t, err, context.Canceled)
	_, err = p.Hello(context.Background())
	require.Error(t, err, "the process is unusable after a kill")
}

func TestFindDirNamesWhereItLooked(t *testing.T) {
	t.Setenv("LEAKSCOPE_ENGINE_DIR", "/nonexistent")
	wd, _ := os.Getwd()
	require.NoError(t, os.Chdir(t.TempDir()))
	t.Cleanup(func() { _ = os.Chdir(wd) })
	_, err := FindDir()
	require.ErrorContains(t, err, "/nonexistent")
	require.ErrorContains(t, err, "--engine-dir")
}
