package query

import (
	"context"
	"encoding/json"
	"fmt"
)

// ArtifactRecorded reports whether some finished job_status event of the
// lake names the artifact staged as name with SHA-256 sum (64 lowercase
// hex digits over its bytes): detail {"artifact": name, "artifact_sha256":
// sum}, as GPU workers record the artifacts that ingest's keeper seals.
// Only such artifacts may be served: the lake, not the object store, says
// which objects belong to a run. Errors: the lake's.
func (e *Engine) ArtifactRecorded(ctx context.Context, name, sum string) (bool, error) {
	// contains() on the hex digest narrows the scan (a name may be written
	// with JSON escapes); the decoded JSON decides.
	res, err := e.DB.Query(ctx, `SELECT detail FROM job_status
WHERE status = 'finished' AND detail IS NOT NULL AND contains(detail, $1)`, sum)
	if err != nil {
		return false, fmt.Errorf("read job attempts: %w", err)
	}
	for _, r := range res.Rows {
		var det struct {
			Artifact string `json:"artifact"`
			SHA256   string `json:"artifact_sha256"`
		}
		if json.Unmarshal([]byte(str(r[0])), &det) == nil && det.Artifact == name && det.SHA256 == sum {
			return true, nil
		}
	}
	return false, nil
}
