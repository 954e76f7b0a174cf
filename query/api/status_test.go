package api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/query/duck"
)

// DuckDB's memory used up by other statements is a stated refusal (503,
// try again), a user's own bad statement a 400.
func TestStatusOfMemoryBusy(t *testing.T) {
	require.Equal(t, http.StatusServiceUnavailable, statusOf(fmt.Errorf("leakage: %w (memory limit 512MiB)", duck.ErrMemoryBusy)))
	require.Equal(t, http.StatusBadRequest, statusOf(fmt.Errorf("%w: Out of Memory Error", duck.ErrSQL)))
}
