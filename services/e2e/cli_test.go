package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// leakscopeBin builds the leakscope command once per test binary.
func leakscopeBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "leakscope-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "leakscope")
		out, err := exec.Command("go", "build", "-o", binPath, "leakscope/services/leakscope").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	require.NoError(t, binErr, binPath)
	return binPath
}

// run runs the command to completion and returns stdout, stderr and the exit code.
func run(t testing.TB, data string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(leakscopeBin(t), append([]string{"--data", data}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errb.String(), code
}

// Killing the import process (which holds the embedded server and ingest)
// with SIGKILL, at several moments, then importing again, gives exactly the
// lake of one uninterrupted import.
func TestImportSurvivesSIGKILL(t *testing.T) {
	dir := fixturesDir(t)
	refData := t.TempDir()
	_, stderr, code := run(t, refData, "import", dir)
	require.Equal(t, 0, code, stderr)
	ref := snapshot(t, filepath.Join(refData, "lake"))

	// Kill points: while publishing (before any commit), after the first
	// committed batch, after the second.
	for _, killAfter := range []int{0, 1, 2} {
		data := t.TempDir()
		cmd := exec.Command(leakscopeBin(t), "--data", data, "import", dir)
		require.NoError(t, cmd.Start())
		manifest := filepath.Join(data, "lake", "_manifest.jsonl")
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(manifest)
			if bytes.Count(b, []byte("\n")) >= killAfter && (killAfter > 0 || fileExists(filepath.Join(data, "jetstream"))) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		require.NoError(t, cmd.Process.Kill())
		err := cmd.Wait()
		if err == nil {
			t.Logf("kill point %d: import finished before the kill; the re-run still must change nothing", killAfter)
		}
		_, stderr, code := run(t, data, "import", dir)
		require.Equal(t, 0, code, "re-run after kill point %d: %s", killAfter, stderr)
		requireSameLake(t, ref, snapshot(t, filepath.Join(data, "lake")))
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
