package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"leakscope/query"
)

// Artifacts reads sealed artifacts (the object store the job-state keeper
// seals finished jobs' artifacts into) for download; the query package
// and this one know nothing of NATS (services/internal/querysrv has the
// bus's reader).
type Artifacts interface {
	// Open returns the sealed object called name ("<staged name>@sha256:<hex>"),
	// its size in bytes and the SHA-256 its store records for it (64
	// lowercase hex digits). Errors: ErrNoArtifact when the store or the
	// object does not exist, else the store's.
	Open(ctx context.Context, name string) (io.ReadCloser, int64, string, error)
}

// ErrNoArtifact is what Artifacts.Open returns (wrapped) for an object
// the store does not hold.
var ErrNoArtifact = errors.New("no such artifact")

// sealedPrefix separates a sealed artifact's staged name from its digest
// (gpuworker/jobs.sealedName; query may not import it).
const sealedPrefix = "@sha256:"

// splitSealed parses "<staged name>@sha256:<64 lowercase hex>".
func splitSealed(name string) (staged, sum string, ok bool) {
	i := strings.LastIndex(name, sealedPrefix)
	if i <= 0 {
		return "", "", false
	}
	staged, sum = name[:i], name[i+len(sealedPrefix):]
	if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != sum {
		return "", "", false
	}
	return staged, sum, true
}

// artifactURL is the download address of the sealed copy of the artifact
// staged as name with SHA-256 sum.
func artifactURL(name, sum string) string {
	parts := strings.Split(name+sealedPrefix+sum, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/artifacts/" + strings.Join(parts, "/")
}

// artifactDownload serves GET /artifacts/{name...}: the sealed artifact
// called name, as an attachment, if a finished job_status event of the
// lake records it (its staged name and SHA-256) — never another object of
// the store (404). The bytes are read whole into a temporary file while
// their SHA-256 is computed, and served only when it equals the recorded
// one: a mismatch (the store's copy changed after sealing) is refused with
// 502 and no byte of it is sent.
func artifactDownload(e *query.Engine, arts Artifacts) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		staged, sum, ok := splitSealed(name)
		if !ok {
			fail(w, http.StatusNotFound, fmt.Errorf("artifact %q: not a sealed artifact's name (<staged name>@sha256:<64 hex digits>)", name))
			return
		}
		rec, err := e.ArtifactRecorded(r.Context(), staged, sum)
		if err != nil {
			fail(w, 0, err)
			return
		}
		if !rec {
			fail(w, http.StatusNotFound, fmt.Errorf("artifact %s: no finished job in the lake recorded it", name))
			return
		}
		rc, size, stored, err := arts.Open(r.Context(), name)
		if errors.Is(err, ErrNoArtifact) {
			fail(w, http.StatusNotFound, fmt.Errorf("artifact %s is recorded in the lake but not in the sealed artifact store (deleted?)", name))
			return
		}
		if err != nil {
			fail(w, http.StatusBadGateway, fmt.Errorf("artifact %s: %w", name, err))
			return
		}
		defer rc.Close()
		if stored != sum {
			fail(w, http.StatusBadGateway, fmt.Errorf("artifact %s: the store's copy has SHA-256 %s, but its job recorded %s: refused (changed after sealing)", name, stored, sum))
			return
		}
		f, err := os.CreateTemp("", "leakscope-artifact-*")
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, h), rc)
		if err != nil {
			fail(w, http.StatusBadGateway, fmt.Errorf("artifact %s: read: %w: refused", name, err))
			return
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != sum || n != size {
			fail(w, http.StatusBadGateway, fmt.Errorf("artifact %s: its bytes (%d) have SHA-256 %s, but its job recorded %s: refused (changed after sealing)", name, n, got, sum))
			return
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": strings.ReplaceAll(staged, "/", "_")}))
		w.Header().Set("X-Content-SHA256", sum)
		_, _ = io.Copy(w, f)
	}
}
