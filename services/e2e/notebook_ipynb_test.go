package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// nbconvert returns Debian's jupyter-nbconvert, skipping the test when it
// is not installed — except under CI=true (.ci/run installs it), where
// its absence fails.
func nbconvert(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("jupyter-nbconvert")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but jupyter-nbconvert is missing (apt-get install jupyter-nbconvert python3-nbformat python3-ipykernel)")
		}
		t.Skip("jupyter-nbconvert is not installed: the .ipynb notebooks are not executed (apt-get install jupyter-nbconvert python3-nbformat python3-ipykernel)")
	}
	return p
}

// ipynb is the part of an nbformat v4 notebook the tests read.
type ipynb struct {
	NBFormat int `json:"nbformat"`
	Cells    []struct {
		CellType string `json:"cell_type"`
		Outputs  []struct {
			OutputType string `json:"output_type"`
			Name       string `json:"name"`
			Text       any    `json:"text"` // a string or a list of lines
			EName      string `json:"ename"`
			EValue     string `json:"evalue"`
		} `json:"outputs"`
	} `json:"cells"`
}

// executeIpynb runs `jupyter-nbconvert --to notebook --execute` on the
// notebook against the data folder and the binary under test; it returns
// the executed notebook (nil when nbconvert failed), nbconvert's output
// and its error.
func executeIpynb(t *testing.T, notebook, data string) (*ipynb, string, error) {
	t.Helper()
	out := t.TempDir()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	cmd := exec.Command(nbconvert(t), "--to", "notebook", "--execute", notebook, "--output-dir", out,
		"--output", "executed", "--ExecutePreprocessor.timeout=600")
	cmd.Env = append(os.Environ(), "LEAKSCOPE_DATA="+data, "LEAKSCOPE_BIN="+leakscopeBin(t),
		"PYTHONPATH="+filepath.Join(root, "python"), "PYTHONDONTWRITEBYTECODE=1",
		// The kernel's files go to the test's folders, not $HOME.
		"JUPYTER_RUNTIME_DIR="+t.TempDir(), "IPYTHONDIR="+t.TempDir(), "PYDEVD_DISABLE_FILE_VALIDATION=1")
	msg, err := cmd.CombinedOutput()
	if err != nil {
		return nil, string(msg), err
	}
	b, rerr := os.ReadFile(filepath.Join(out, "executed.ipynb"))
	require.NoError(t, rerr, string(msg))
	var nb ipynb
	require.NoError(t, json.Unmarshal(b, &nb))
	return &nb, string(msg), nil
}

// streamText joins a notebook's printed output (stdout and stderr streams).
func (nb *ipynb) streamText() string {
	var sb strings.Builder
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if o.OutputType != "stream" {
				continue
			}
			switch v := o.Text.(type) {
			case string:
				sb.WriteString(v)
			case []any:
				for _, line := range v {
					sb.WriteString(line.(string))
				}
			}
		}
	}
	return sb.String()
}

// The i81 notebook in Jupyter's format, executed by Debian's nbconvert
// against the fixtures' lake through the Python client, reproduces the
// published values (its own asserts, and the values it prints).
func TestNotebookIpynbI81(t *testing.T) {
	python3(t)
	nbconvert(t)
	data := filepath.Dir(importedFixtures(t))
	src := filepath.Join("..", "..", "notebooks", "i81_factorial.ipynb")

	// The committed notebook is valid nbformat v4 and carries no outputs
	// (they would be stale, and they make diffs unreadable).
	val := exec.Command(python3(t), "-c", "import nbformat, sys; nbformat.validate(nbformat.read(sys.argv[1], 4))", src)
	vout, err := val.CombinedOutput()
	require.NoError(t, err, string(vout))
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	var committed ipynb
	require.NoError(t, json.Unmarshal(b, &committed))
	require.Equal(t, 4, committed.NBFormat)
	for i, c := range committed.Cells {
		require.Empty(t, c.Outputs, "cell %d of %s is committed with outputs: clear them", i, src)
	}

	nb, msg, err := executeIpynb(t, src, data)
	require.NoError(t, err, msg)
	code := 0
	for _, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		code++
		for _, o := range c.Outputs {
			require.NotEqual(t, "error", o.OutputType, "%s: %s", o.EName, o.EValue)
		}
	}
	require.GreaterOrEqual(t, code, 8)
	printed := nb.streamText()
	for _, want := range []string{
		"✔ self-implant[person].self_implant_pct = 93 (published 93)",
		"✔ self-implant[chef].self_implant_pct = 92.5 (published 92.5)",
		"✔ self-implant[pirate].self_implant_pct = 86 (published 86)",
		"✔ self-implant[child].self_implant_pct = 98.5 (published 98.5)",
		"✔ self-implant[robot].self_implant_pct = 95 (published 95)",
		"✔ h2[chef].noun_effect_pp = 6.25 (published 6.25)",
		"✔ h2[chef].trait_effect_pp = 2 (published 2)",
		"✔ h2[pirate].noun_effect_pp = 84.25 (published 84.25)",
		"✔ h2[pirate].trait_effect_pp = 0 (published 0)",
		"✔ h2[child].noun_effect_pp = 66.5 (published 66.5)",
		"✔ h2[child].trait_effect_pp = 4.25 (published 4.25)",
		"✔ h2[robot].noun_effect_pp = 91.25 (published 91.25)",
		"✔ h2[robot].trait_effect_pp = 0.75 (published 0.75)",
		"✔ h2_own[child].trait_effect_pp = 11 (published 11)",
		"✔ h2_coherent[pirate].noun_effect_pp = 84.75 (published 84.75)",
		"✔ h2_coherent[robot].trait_effect_pp = 1 (published 1)",
		"✔ h3[child].triples_passing = 19 (published 19)",
		"✔ h3[total].triples_passing = 42 (published 42)",
		"✔ head-to-head[chef].median_trait_leak_frac = 0.375 (published 0.375)",
		"✔ head-to-head[chef].noun_wins_leak = 0 (published 0)",
		"✔ head-to-head[pirate].noun_wins_leak = 32 (published 32)",
		"✔ head-to-head[child].median_noun_leak_frac = 0.0575 (published 0.0575)",
		"✔ head-to-head[robot].noun_wins_leak = 52 (published 52)",
		"cells: 650, missing (never measured): 95",
		"data: " + data,
	} {
		require.Contains(t, printed, want+"\n")
	}
	require.NotContains(t, printed, "✘")
	require.Regexp(t, `lake fingerprint: [0-9a-f]{64}\n`, printed)
}

// A published value the lake does not reproduce fails the execution, and
// the error names the value: the notebook's checks can fail.
func TestNotebookIpynbFailsOnWrongValue(t *testing.T) {
	python3(t)
	nbconvert(t)
	data := filepath.Dir(importedFixtures(t))
	b, err := os.ReadFile(filepath.Join("..", "..", "notebooks", "i81_factorial.ipynb"))
	require.NoError(t, err)
	const right, wrong = `(\"chef\", 92.5)`, `(\"chef\", 50.0)`
	require.Contains(t, string(b), right)
	bad := filepath.Join(t.TempDir(), "wrong.ipynb")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(string(b), right, wrong, 1)), 0o644))
	nb, msg, err := executeIpynb(t, bad, data)
	require.Error(t, err, "a failed assert must fail the execution")
	require.Nil(t, nb)
	require.Contains(t, msg, "AssertionError")
	require.Contains(t, msg, "self-implant[chef].self_implant_pct: got 92.5, published 50")
}
