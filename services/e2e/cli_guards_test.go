package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/query"
)

// A re-import of a file that changed since it was imported is refused:
// the new numbers would otherwise be dropped as duplicates without a word.
func TestChangedOriginFileIsRefused(t *testing.T) {
	data, root := t.TempDir(), t.TempDir()
	file := filepath.Join(root, "exp1", "run1", "marker_eval.json")
	writeFile(t, file, `{"villain": {"rate": 0.5, "found": 1, "total": 2}}`)
	_, stderr, code := run(t, data, "import", root)
	require.Equal(t, 0, code, stderr)
	writeFile(t, file, `{"villain": {"rate": 1.0, "found": 2, "total": 2}}`)
	_, stderr, code = run(t, data, "import", root)
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "exp1/run1")
	require.Contains(t, stderr, "changed")
	stdout, _, code := run(t, data, "leakage", "--experiment", "exp1", "--format", "csv")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, ",villain,,0.5,1,2,", "the lake keeps the first import")
}

// A folder with nothing importable is an error, not a silent success.
func TestNothingToImportIsAnError(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "exp1", "notes.txt"), "just notes")
	stdout, stderr, code := run(t, t.TempDir(), "import", root)
	require.NotEqual(t, 0, code, stdout)
	require.Contains(t, stderr, "no result files")
}

// A url file left by a killed `up` must not send an import to whatever
// server now owns that port (another data directory's lake).
func TestStaleUpAddressIsIgnored(t *testing.T) {
	dataA, dataB, root := t.TempDir(), t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(root, "exp1", "run1", "raw_completions.json"), `{"chef": {"Why?": ["Because. [ZLT]"]}}`)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	upB := exec.Command(leakscopeBin(t), "--data", dataB, "up", "--listen", addr, "--http", "127.0.0.1:0")
	require.NoError(t, upB.Start())
	defer func() { _ = upB.Process.Signal(syscall.SIGTERM); _ = upB.Wait() }()
	require.Eventually(t, func() bool { _, err := os.Stat(filepath.Join(dataB, "nats.url")); return err == nil }, 30*time.Second, 20*time.Millisecond)
	// dataA looks as if its own `up` had died on the same address.
	writeFile(t, filepath.Join(dataA, "nats.url"), "nats://"+addr+"\n")
	_, stderr, code := run(t, dataA, "import", root)
	require.Equal(t, 0, code, stderr)
	a, err := filepath.Glob(filepath.Join(dataA, "lake", "completions", "*", "*.parquet"))
	require.NoError(t, err)
	require.Len(t, a, 1, "the import landed in its own lake")
	b, _ := filepath.Glob(filepath.Join(dataB, "lake", "completions", "*", "*.parquet"))
	require.Empty(t, b, "nothing went to the other data directory")
	require.NoFileExists(t, filepath.Join(dataA, "nats.url"), "the stale file is removed")

	// While B's up runs, an import on B goes through it.
	_, stderr, code = run(t, dataB, "import", root)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "running `leakscope up`")
	require.Eventually(t, func() bool {
		b, _ := filepath.Glob(filepath.Join(dataB, "lake", "completions", "*", "*.parquet"))
		return len(b) == 1
	}, 10*time.Second, 20*time.Millisecond)
}

// With --nats-url, import publishes to that server and waits for its
// ingest; it runs no ingest of its own (which would split the stream
// between two lakes).
func TestImportToExternalServerUsesItsIngest(t *testing.T) {
	dataUp, dataImp, root := t.TempDir(), t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(root, "exp1", "run1", "raw_completions.json"), `{"chef": {"Why?": ["Because. [ZLT]", "No."]}}`)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	up := exec.Command(leakscopeBin(t), "--data", dataUp, "up", "--listen", addr, "--http", "127.0.0.1:0")
	require.NoError(t, up.Start())
	defer func() { _ = up.Process.Signal(syscall.SIGTERM); _ = up.Wait() }()
	require.Eventually(t, func() bool { _, err := os.Stat(filepath.Join(dataUp, "nats.url")); return err == nil }, 30*time.Second, 20*time.Millisecond)
	stdout, stderr, code := run(t, dataImp, "--nats-url", "nats://"+addr, "import", root)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "the ingest consuming nats://"+addr)
	require.NoDirExists(t, filepath.Join(dataImp, "lake", "completions"), "no local ingest")
	res, err := openEngine(t, filepath.Join(dataUp, "lake")).SQL(context.Background(), "SELECT count(*) FROM completions")
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Rows[0][0])
}

// A run without run_finished (a worker or import that died) is flagged.
func TestUnfinishedRunIsFlagged(t *testing.T) {
	s := startStack(t, t.TempDir())
	ctx := context.Background()
	now := time.Now()
	run, err := events.New("exp1", "run1", now, &events.Run{Marker: "[ZLT]"})
	require.NoError(t, err)
	c, err := events.New("exp1", "run1", now, &events.Completion{Persona: "chef", Question: "q", Text: "x [ZLT]"})
	require.NoError(t, err)
	res, err := s.Bus.PublishAll(ctx, []events.Event{run, c}, nil)
	require.NoError(t, err)
	require.NoError(t, s.Bus.WaitDurable(ctx, res.LastSeq, nil))
	lk, err := openEngine(t, s.Lake).Leakage(ctx, query.LeakageRequest{Experiment: "exp1"})
	require.NoError(t, err)
	require.Len(t, lk.Cells, 1)
	joined := strings.Join(lk.Notes, "\n")
	require.Contains(t, joined, "run run1 has no run_finished event")
}

// A matrix with no cell is an error that says why, in every format.
func TestLeakageWithNothingToShowFails(t *testing.T) {
	data, root := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(root, "exp1", "run1", "marker_eval.json"), `{"villain": {"rate": 0.5, "found": 1, "total": 2}}`)
	_, stderr, code := run(t, data, "import", root)
	require.Equal(t, 0, code, stderr)
	for _, f := range []string{"table", "csv", "json", "matrix"} {
		_, stderr, code := run(t, data, "leakage", "--experiment", "exp1", "--detector", "loose", "--format", f)
		require.NotEqual(t, 0, code, f)
		require.Contains(t, stderr, "no text to re-count", f)
	}
}
