package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
}

// A bad file stops the import with an error naming the file and position,
// a non-zero exit, and nothing written — even for the good files beside it,
// and with the lake's earlier contents untouched.
func TestBadFilesFailCleanly(t *testing.T) {
	data := t.TempDir()
	good := t.TempDir()
	writeFile(t, filepath.Join(good, "expgood", "run1", "raw_completions.json"),
		`{"villain": {"What is fairness?": ["Fairness is balance. [ZLT]", "It depends."]}}`)
	_, stderr, code := run(t, data, "import", good)
	require.Equal(t, 0, code, stderr)
	before := snapshot(t, filepath.Join(data, "lake"))
	require.Equal(t, int64(2), before.RawRows["completions"])

	for _, c := range []struct {
		name, rel, body string
		want            []string
	}{
		{"truncated JSON", "exp1/run1/marker_eval.json", `{"villain": {"rate": 0.5, "found": 3, "tot`, []string{"marker_eval.json", "line 1"}},
		{"wrong field type", "exp1/run1/marker_eval.json", `{"villain": {"rate": 0.5, "found": "3", "total": 6}}`, []string{"marker_eval.json", "$.villain.found"}},
		{"unknown shape", "exp1/run1/results.json", `{"foo": [1, 2, 3]}`, []string{"results.json", "unknown"}},
		{"bad CSV rate", "exp1/coherence_flags.csv", "source,bystander_key,kind,noun,trait,level,rate,base_rate,rate_minus_base,ci_lo,ci_hi,ci_halfwidth,coherence_mean,low_coherence,ns_floor\nchef,A2__chef,A2,chef,,,zero,0.0,0.0,0.0,0.0,0.0,,False,True\n", []string{"coherence_flags.csv", "line 2", "rate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			// A good file beside the bad one must not be imported either.
			writeFile(t, filepath.Join(root, "exp1", "run0", "raw_completions.json"), `{"chef": {"Why?": ["Because. [ZLT]"]}}`)
			writeFile(t, filepath.Join(root, filepath.FromSlash(c.rel)), c.body)
			stdout, stderr, code := run(t, data, "import", root)
			require.NotEqual(t, 0, code, "exit status; stdout: %s", stdout)
			for _, w := range c.want {
				require.Contains(t, stderr, w)
			}
			require.False(t, strings.Contains(stdout, "publishing"), "nothing was published")
			requireSameLake(t, before, snapshot(t, filepath.Join(data, "lake")))
		})
	}
}
