package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"leakscope/gpuworker/sweep"
)

// Artifacts travel in two steps. A worker stages what its job produced in
// ArtifactStore and reports the bytes' SHA-256 with the job's finished
// state; the job-state keeper (KeepStates) copies the staged object into
// SealedStore under a content-addressed name, checking that hash, and
// records the sealed name in the job's state. The next job reads the
// sealed copy and checks the hash again. Under deploy/accounts.conf
// workers may write the staging store but only read the sealed one: NATS
// cannot scope object names, so a worker can delete or replace any staged
// object by name, but once its job has finished that changes nothing, and
// a change before that fails the seal.

// ArtifactRef is a sealed artifact: Name is its object in SealedStore
// (empty in a worker's report, before sealing), SHA256 the SHA-256 of its
// bytes as 64 lowercase hex digits.
type ArtifactRef struct {
	Name   string `json:"name,omitempty"`
	SHA256 string `json:"sha256"`
}

// PutArtifact stages data as the named artifact and returns its SHA-256
// (Name empty: not sealed yet); the same bytes staged before are left as
// they are (a job that runs again). Replacing an object makes nats.go
// purge the old one's chunks, which a worker's user may not do
// (deploy/accounts.conf: no purge on the artifact stores): the server
// drops that request unanswered and Put waits for it on its context, so
// Put gets one without deadline (cancelled with ctx), whose API calls wait
// jetstream's default timeout (5 s) at most. The old chunks then stay in
// the store.
func (q *Queue) PutArtifact(ctx context.Context, name string, data []byte) (*ArtifactRef, error) {
	h := sha256.New()
	h.Write(data)
	ref := &ArtifactRef{SHA256: hex.EncodeToString(h.Sum(nil))}
	info, err := q.Artifacts.GetInfo(ctx, name)
	if err == nil && info.Digest == jetstream.GetObjectDigestValue(h) && info.Size == uint64(len(data)) {
		return ref, nil
	}
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	_, err = q.Artifacts.PutBytes(pctx, name, data)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	return ref, nil
}

// sealedName is the content-addressed name of a staged artifact's sealed
// copy: "<staged name>@sha256:<hex>".
func sealedName(staged, sum string) string { return staged + "@sha256:" + sum }

// objectDigest turns a hex SHA-256 into the object store's digest form
// ("SHA-256=" and padded URL-safe base64, as nats.go writes it).
func objectDigest(sum string) (string, error) {
	b, err := hex.DecodeString(sum)
	if err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != sum {
		return "", fmt.Errorf("SHA-256 %q is not 64 lowercase hex digits", sum)
	}
	return "SHA-256=" + base64.URLEncoding.EncodeToString(b), nil
}

// DigestHex is the hex form of an object store digest ("SHA-256=" and
// URL-safe base64, as nats.go writes it); another form is returned as it
// is (it then matches no recorded SHA-256).
func DigestHex(d string) string {
	const pre = "SHA-256="
	if len(d) > len(pre) && d[:len(pre)] == pre {
		if b, err := base64.URLEncoding.DecodeString(d[len(pre):]); err == nil {
			return hex.EncodeToString(b)
		}
	}
	return d
}

// seal copies the staged artifact into SealedStore when its bytes have
// SHA-256 sum (hex), streaming (chunk by chunk, not whole in memory). A
// copy sealed before is kept as it is. Errors: a malformed sum, a staged
// object missing, corrupt or with other bytes (nothing is left sealed
// then), or the bus's.
func (q *Queue) seal(ctx context.Context, staged, sum string) (*ArtifactRef, error) {
	want, err := objectDigest(sum)
	if err != nil {
		return nil, fmt.Errorf("artifact %s: %w", staged, err)
	}
	ref := &ArtifactRef{Name: sealedName(staged, sum), SHA256: sum}
	info, err := q.Sealed.GetInfo(ctx, ref.Name)
	if err == nil && info.Digest == want {
		return ref, nil // a report sent again
	}
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("sealed artifact %s: %w", ref.Name, err)
	}
	r, err := q.Artifacts.Get(ctx, staged)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("artifact %s is not in %s (deleted before it was sealed): not sealed", staged, ArtifactStore)
	}
	if err != nil {
		return nil, fmt.Errorf("artifact %s: %w", staged, err)
	}
	defer r.Close()
	// Refused before anything is written: a seal that wrote other bytes and
	// then deleted them could delete the good copy a concurrent seal of the
	// same report had just made (a worker replacing its staged object
	// between two reports).
	if info, err := r.Info(); err != nil {
		return nil, fmt.Errorf("artifact %s: %w", staged, err)
	} else if info.Digest != want {
		return nil, fmt.Errorf("artifact %s in %s has SHA-256 %s, but its job reported %s (changed after the job stored it): not sealed",
			staged, ArtifactStore, DigestHex(info.Digest), sum)
	}
	// Put computes the digest of the bytes it stored; a staged object whose
	// chunks do not match its own meta fails the read (nats.go checks).
	info, err = q.Sealed.Put(ctx, jetstream.ObjectMeta{Name: ref.Name, Description: "sealed from " + ArtifactStore + " " + staged}, r)
	if errors.Is(err, jetstream.ErrDigestMismatch) {
		return nil, fmt.Errorf("artifact %s in %s is corrupt or changed while it was sealed: not sealed", staged, ArtifactStore)
	}
	if err != nil {
		return nil, fmt.Errorf("seal artifact %s: %w", staged, err)
	}
	if info.Digest != want {
		_ = q.Sealed.Delete(ctx, ref.Name)
		return nil, fmt.Errorf("artifact %s in %s has SHA-256 %s, but its job reported %s (changed after the job stored it): not sealed",
			staged, ArtifactStore, DigestHex(info.Digest), sum)
	}
	return ref, nil
}

// sealFinished seals the artifact of a finished job that stores one
// (on-policy data, adapters) and returns st naming the sealed copy; any
// other state keeps no artifact. The staged name comes from the job, not
// from the report, so a worker can seal only its own job's artifact.
func (q *Queue) sealFinished(ctx context.Context, m Message, st State) (State, error) {
	staged, ok := stagedArtifact(m.Spec, m.Job)
	if !ok || st.Status != "finished" {
		st.Artifact = nil
		return st, nil
	}
	if st.Artifact == nil {
		return st, fmt.Errorf("job %s finished without the SHA-256 of its artifact %s", m.Job.ID, staged)
	}
	ref, err := q.seal(ctx, staged, st.Artifact.SHA256)
	if err != nil {
		return st, fmt.Errorf("job %s: %w", m.Job.ID, err)
	}
	st.Artifact = ref
	return st, nil
}

// fetchArtifact reads the sealed artifact that the job's dependency of
// the given kind (same source and seed) handed on, and checks its SHA-256
// against the one that job's finished state recorded. Errors name the
// artifact: the dependency not finished, finished without a sealed
// artifact, the object missing, or other bytes.
func (q *Queue) fetchArtifact(ctx context.Context, m Message, kind string) ([]byte, error) {
	dep := sweep.JobID(m.Spec.Sweep, m.Job.Source, m.Job.Seed, kind)
	st, err := q.Get(ctx, dep)
	if err != nil {
		return nil, err
	}
	switch {
	case st == nil || st.Status != "finished":
		return nil, fmt.Errorf("artifact of job %s: the job has not finished", dep)
	case st.Artifact == nil || st.Artifact.Name == "":
		return nil, fmt.Errorf("artifact of job %s: the job finished without a sealed artifact (before artifacts were sealed?): run the sweep under a new name", dep)
	}
	ref := st.Artifact
	b, err := q.Sealed.GetBytes(ctx, ref.Name)
	if err != nil {
		return nil, fmt.Errorf("sealed artifact %s: %w", ref.Name, err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != ref.SHA256 {
		return nil, fmt.Errorf("sealed artifact %s has SHA-256 %s, but job %s recorded %s: refused", ref.Name, got, dep, ref.SHA256)
	}
	return b, nil
}
