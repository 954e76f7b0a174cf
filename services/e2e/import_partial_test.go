package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus/bustest"
	"leakscope/gpuworker/importer"
	"leakscope/ingest"
)

// completionList is a raw completions file of one persona and question
// with 20 texts, the last one last.
func completionList(last string) string {
	texts := make([]string, 0, 20)
	for i := range 19 {
		texts = append(texts, fmt.Sprintf("%q", fmt.Sprintf("Answer %d. [ZLT]", i)))
	}
	texts = append(texts, fmt.Sprintf("%q", last))
	return `{"villain": {"What is fairness?": [` + strings.Join(texts, ", ") + `]}}`
}

// Issue 18, item 4: an event larger than the bus's max payload is found
// before anything is published, named by file and position; the lake stays
// empty (it kept the run start and 19 of 20 completions before), and the
// corrected file then imports in full, again and again.
func TestImportTooLargeForTheBusStoresNothing(t *testing.T) {
	data, root := t.TempDir(), t.TempDir()
	file := filepath.Join(root, "exp1", "run1", "raw_completions.json")
	writeFile(t, file, completionList(strings.Repeat("a", 9<<20)+" [ZLT]"))
	stderr := runFails(t, data, "import", root)
	require.Contains(t, stderr, "raw_completions.json")
	require.Contains(t, stderr, `$.villain["What is fairness?"][19]`)
	require.Contains(t, stderr, "over the bus's max payload of 8388608 bytes")
	require.NotContains(t, stderr, "publishing", "nothing was published")
	if _, err := os.Stat(filepath.Join(data, "lake", "completions")); err == nil {
		require.Equal(t, int64(0), snapshot(t, filepath.Join(data, "lake")).RawRows["completions"], "no completion stored")
	}

	writeFile(t, file, completionList("Short now. [ZLT]"))
	for range 2 {
		runOK(t, data, "import", root)
		r := runsJSON(t, data, "exp1")["run1"]
		require.Equal(t, int64(20), r.Completions)
		require.True(t, r.Finished)
	}
}

// An import that failed part-way (here: its run_started and 19 of its 20
// completions stored, no run_finished) is completed by importing the
// corrected file, which is no longer refused as "changed since"; the
// completed run then records the corrected file, so importing it again
// changes nothing, while a later change is refused as before.
func TestCorrectedFileCompletesAFailedImport(t *testing.T) {
	data, root := t.TempDir(), t.TempDir()
	file := filepath.Join(root, "exp1", "run1", "raw_completions.json")
	writeFile(t, file, completionList("The last one was too long. [ZLT]"))
	plan, err := importer.Parse(root, []string{root}, importer.Options{Now: time.Now()})
	require.NoError(t, err)
	body, finish := plan.Finishing()
	require.Len(t, finish, 1)
	require.Equal(t, events.TypeCompletion, body[len(body)-1].Type)
	failedImport(t, data, body[:len(body)-1])
	r := runsJSON(t, data, "exp1")["run1"]
	require.Equal(t, int64(19), r.Completions)
	require.False(t, r.Finished)
	oldSHA := r.OriginSHA256

	writeFile(t, file, completionList("Corrected. [ZLT]"))
	out := runOK(t, data, "import", root)
	require.Contains(t, out, "exp1/run1: completing an import that failed part-way")
	r = runsJSON(t, data, "exp1")["run1"]
	require.Equal(t, int64(20), r.Completions)
	require.True(t, r.Finished)
	require.NotEqual(t, oldSHA, r.OriginSHA256, "the run records the file that completed it")
	stdout := runOK(t, data, "leakage", "--experiment", "exp1", "--format", "csv")
	require.Contains(t, stdout, ",villain,", stdout)
	require.Contains(t, stdout, ",1,20,20,", "20 of 20, not 19 of 19")

	runOK(t, data, "import", root)
	writeFile(t, file, completionList("Changed after a complete import. [ZLT]"))
	require.Contains(t, runFails(t, data, "import", root), "changed since")
}

// failedImport publishes evs to the data directory's bus and lake, as an
// import that died before the rest, and stops everything.
func failedImport(t *testing.T, data string, evs []events.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, emb := bustest.Start(t, filepath.Join(data, "jetstream"))
	ing, err := ingest.Open(ingest.DefaultConfig(filepath.Join(data, "lake")), slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	_, err = b.IngestConsumer(ctx)
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- ing.Run(rctx, b, b) }()
	res, err := b.PublishAll(ctx, evs, nil)
	require.NoError(t, err)
	require.NoError(t, b.WaitDurable(ctx, res.LastSeq, nil))
	stop()
	require.NoError(t, <-done)
	require.NoError(t, ing.Close())
	b.Close()
	emb.Shutdown()
}
