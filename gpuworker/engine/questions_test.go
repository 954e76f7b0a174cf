package engine

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/presets/i81"
)

// The Python engine keeps its own copy of the #81 question lists (its tiny
// test model's corpus is built from them, without Go): it must stay equal
// to the i81 preset's (presets/i81/i81.json).
func TestPythonQuestionsEqualGo(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	out, err := exec.Command("python3", "-c", `import json; from leakscope_engine import questions as q; print(json.dumps([q.EVAL_QUESTIONS, q.DATA_QUESTIONS]))`).Output()
	require.NoError(t, err)
	var lists [2][]string
	require.NoError(t, json.Unmarshal(out, &lists))
	require.Equal(t, i81.EvalQuestions, lists[0])
	require.Equal(t, i81.DataQuestions, lists[1])
}
