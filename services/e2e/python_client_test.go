package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// python3 returns Debian's python3, skipping the test when there is none.
func python3(t testing.TB) string {
	t.Helper()
	// Debian's interpreter first: a pyenv or venv python3 earlier on PATH
	// lacks the Debian packages (pandas) the client is tested with.
	p := "/usr/bin/python3"
	if _, err := os.Stat(p); err != nil {
		if p, err = exec.LookPath("python3"); err != nil {
			t.Skip("python3 is not installed: the Python client (python/leakscope) is not tested")
		}
	}
	return p
}

// pyCmd runs a script of the Python package from the checkout (no pip),
// driving the binary under test.
func pyCmd(t testing.TB, args ...string) *exec.Cmd {
	py := python3(t)
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(root, "python"), "LEAKSCOPE_BIN="+leakscopeBin(t),
		"PYTHONDONTWRITEBYTECODE=1")
	return cmd
}

// cliJSON runs a query command with --format json and decodes its output.
func cliJSON(t testing.TB, data string, out any, args ...string) {
	t.Helper()
	stdout, stderr, code := run(t, data, append(args, "--format", "json")...)
	require.Zero(t, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), out), stdout)
}

// noNulls drops the null fields of cells: pandas fills absent fields with NaN.
func noNulls(cells []map[string]any) []map[string]any {
	for _, c := range cells {
		for k, v := range c {
			if v == nil {
				delete(c, k)
			}
		}
	}
	return cells
}

// The package's own unit tests (binary discovery, the protocol against the
// real sidecar) run with the Go tests.
func TestPythonUnitTests(t *testing.T) {
	cmd := pyCmd(t, "-m", "unittest", "discover", "-s", "../../python/tests", "-v")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.NotContains(t, string(out), "skipped", "the protocol tests must run against the binary")
}

// A plain Python script logs a 3-source × 20-persona × 20-question ×
// 5-sample sweep through the sidecar into a running `leakscope up`: the
// live view shows it while it runs; SIGKILL mid-run and a rerun store
// every completion exactly once; leakage equals the script's own count of
// marker hits, and the package reads back what the CLI prints.
func TestPythonClientSweep(t *testing.T) {
	python3(t)
	data := t.TempDir()
	httpAddr := startUp(t, data)
	const exp = "pysweep"
	counts := filepath.Join(t.TempDir(), "counts.json")

	// First attempt, paced, killed mid-run.
	first := pyCmd(t, "testdata/pysweep.py", data, exp, counts, "0.05")
	stdout, err := first.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	first.Stderr = &stderr
	require.NoError(t, first.Start())
	var logged atomic.Int64
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "logged "); ok {
				v, _ := strconv.Atoi(n)
				logged.Store(int64(v))
			}
		}
	}()
	require.Eventually(t, func() bool {
		return logged.Load() >= 1500 && liveState(t, httpAddr, exp).Done > 0
	}, 2*time.Minute, 20*time.Millisecond, "the live view shows the sweep while it runs (stderr: %s)", &stderr)
	require.NoError(t, first.Process.Kill())
	_ = first.Wait()
	require.Less(t, logged.Load(), int64(6000), "killed mid-run")
	require.NoFileExists(t, counts, "the killed script never finished")

	// The rerun resumes the same runs.
	out, err := pyCmd(t, "testdata/pysweep.py", data, exp, counts).CombinedOutput()
	require.NoError(t, err, string(out))

	var once []map[string]any
	cliJSON(t, data, &once, "sql", `SELECT count(*) AS n, count(DISTINCT (run_id, persona, question, sample_index)) AS distinct_samples,
		count(DISTINCT run_id) AS runs FROM completions WHERE experiment = '`+exp+`'`)
	require.Equal(t, []map[string]any{{"n": 6000.0, "distinct_samples": 6000.0, "runs": 3.0}}, once, "every completion exactly once")
	var finished []map[string]any
	cliJSON(t, data, &finished, "runs", "--experiment", exp)
	require.Len(t, finished, 3)
	for _, r := range finished {
		require.Equal(t, true, r["finished"], r)
		require.Equal(t, 2000.0, r["completions"], r)
	}

	// leakage equals the script's own count, cell by cell.
	var want map[string]int
	b, err := os.ReadFile(counts)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &want))
	require.Len(t, want, 60)
	var lk struct {
		Cells []map[string]any `json:"cells"`
	}
	cliJSON(t, data, &lk, "leakage", "--experiment", exp)
	require.Len(t, lk.Cells, 60)
	hits := 0
	for _, c := range lk.Cells {
		key := fmt.Sprint(c["run_id"], "/", c["persona"])
		require.Contains(t, want, key)
		require.Equal(t, float64(want[key]), c["found"], key)
		require.Equal(t, 100.0, c["total"], key)
		hits += want[key]
	}
	require.Greater(t, hits, 100, "the sweep must have marker hits to compare")

	// The package reads the same cells over the data folder and the HTTP API.
	for _, how := range [][2]string{{"data", data}, {"url", "http://" + httpAddr}} {
		t.Run("read via "+how[0], func(t *testing.T) {
			got := pyRead(t, how[0], how[1], exp)
			require.Equal(t, noNulls(lk.Cells), noNulls(got.Leakage[exp]))
			require.True(t, got.ProvenanceQuery)
			require.True(t, got.Aware, "timestamps are timezone-aware datetimes")
			require.Equal(t, 6000.0, got.SQL["n"])
			require.Equal(t, 2.0, got.SQL["mean_index"])
			require.Equal(t, []any{"p00", "p01"}, got.SQL["first_personas"])
			if got.Pandas {
				require.Equal(t, map[string]string{"n": "Int64", "ids": "Int64", "last": "datetime64[ns, UTC]",
					"mean_index": "float64", "first_personas": "object"}, got.Dtypes)
			} else {
				// .ci/run installs Debian's python3-pandas: there the DataFrame path must run.
				require.NotEqual(t, "true", os.Getenv("CI"), "CI=true but Debian's python3 has no pandas (apt-get install python3-pandas)")
				t.Log("pandas is not installed: the list-of-dicts path was tested")
				require.Equal(t, map[string]string{"n": "int", "ids": "int", "last": "datetime", "mean_index": "float",
					"first_personas": "list"}, got.Types)
			}
		})
	}
}

type pyReadResult struct {
	Leakage         map[string][]map[string]any `json:"leakage"`
	Pandas          bool                        `json:"pandas"`
	Dtypes          map[string]string           `json:"dtypes"`
	Types           map[string]string           `json:"types"`
	SQL             map[string]any              `json:"sql"`
	ProvenanceQuery bool                        `json:"provenance_query"`
	Aware           bool                        `json:"aware"`
}

func pyRead(t *testing.T, how, where string, experiments ...string) pyReadResult {
	t.Helper()
	cmd := pyCmd(t, append([]string{"testdata/pyread.py", how, where}, experiments...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var res pyReadResult
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	return res
}

// leakscope.leakage in Python equals the CLI's JSON cell by cell for every
// fixture experiment that has cells.
func TestPythonLeakageMatchesCLIOnFixtures(t *testing.T) {
	python3(t)
	lake := importedFixtures(t)
	data := filepath.Dir(lake)
	var runs []map[string]any
	cliJSON(t, data, &runs, "runs")
	seen := map[string]bool{}
	var exps []string
	cli := map[string][]map[string]any{}
	for _, r := range runs {
		e := r["experiment"].(string)
		if seen[e] {
			continue
		}
		seen[e] = true
		stdout, _, code := run(t, data, "leakage", "--experiment", e, "--format", "json")
		if code != 0 { // no cell answers (cosines only): nothing to compare
			continue
		}
		var lk struct {
			Cells []map[string]any `json:"cells"`
		}
		require.NoError(t, json.Unmarshal([]byte(stdout), &lk))
		cli[e] = noNulls(lk.Cells)
		exps = append(exps, e)
	}
	require.GreaterOrEqual(t, len(exps), 3, "fixture experiments with cells")
	got := pyRead(t, "data", data, exps...)
	for _, e := range exps {
		require.Equal(t, cli[e], noNulls(got.Leakage[e]), e)
	}
}

// `pip install ./python` gives an importable package: into a fresh venv,
// offline, with the interpreter's own setuptools (no index, no isolation).
func TestPythonPackageInstallsWithPip(t *testing.T) {
	py := python3(t)
	if exec.Command(py, "-c", "import venv, ensurepip, setuptools").Run() != nil {
		t.Skip("python3 lacks venv, ensurepip or setuptools (Debian: python3-venv, python3-setuptools): pip install ./python is not tested")
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	venv := filepath.Join(t.TempDir(), "venv")
	out, err := exec.Command(py, "-m", "venv", "--system-site-packages", venv).CombinedOutput()
	require.NoError(t, err, string(out))
	// setuptools builds in the source tree (build/, *.egg-info): build a copy.
	src := filepath.Join(t.TempDir(), "python")
	require.NoError(t, os.CopyFS(src, os.DirFS(filepath.Join(root, "python"))))
	pip := exec.Command(filepath.Join(venv, "bin", "pip"), "install", "--no-build-isolation", "--no-index", src)
	out, err = pip.CombinedOutput()
	require.NoError(t, err, string(out))
	imp := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import leakscope; print(leakscope.__file__); print(callable(leakscope.init) and callable(leakscope.sql))")
	imp.Dir = t.TempDir()
	out, err = imp.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), filepath.Join(venv, "lib"), "imported from the venv, not the checkout")
	require.Contains(t, string(out), "True")
}
