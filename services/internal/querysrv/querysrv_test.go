package querysrv

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/ingest"
)

// /healthz showed ingest's error with the absolute lake path (issue 18
// item 7): paths are shown relative to the data directory.
func TestIngestHealthShowsPathsRelativeToData(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(data, "lake", "completions", "experiment=e", "x.parquet.tmp")
	h := IngestHealth(func() ingest.Health {
		return ingest.Health{Err: "write " + file + ": no space left on device"}
	}, data)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.NotContains(t, w.Body.String(), data)
	require.Contains(t, w.Body.String(), `"error":"write lake/completions/experiment=e/x.parquet.tmp: no space left on device"`)
	require.Contains(t, w.Body.String(), `"status":"ingest failing"`)
}
