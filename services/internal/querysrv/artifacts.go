package querysrv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"leakscope/events/bus"
	"leakscope/gpuworker/jobs"
	"leakscope/query/web"
)

// SealedArtifacts reads the sealed artifact store (jobs.SealedStore) on b
// for the web app's downloads. The store is opened on first use (it
// exists once a sweep was submitted). Under deploy/accounts.conf the
// query user may read it, not write it.
func SealedArtifacts(b *bus.Bus) web.Artifacts { return &sealedArtifacts{b: b} }

type sealedArtifacts struct {
	b     *bus.Bus
	mu    sync.Mutex
	store jetstream.ObjectStore
}

func (s *sealedArtifacts) open(ctx context.Context) (jetstream.ObjectStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store != nil {
		return s.store, nil
	}
	st, err := s.b.JS.ObjectStore(ctx, jobs.SealedStore)
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("object store %s does not exist (no sweep submitted on this bus): %w", jobs.SealedStore, web.ErrNoArtifact)
	}
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", jobs.SealedStore, err)
	}
	s.store = st
	return st, nil
}

// Open implements web.Artifacts: the object, its size and the SHA-256 its
// metadata records (reading it also fails when the chunks do not match).
func (s *sealedArtifacts) Open(ctx context.Context, name string) (io.ReadCloser, int64, string, error) {
	st, err := s.open(ctx)
	if err != nil {
		return nil, 0, "", err
	}
	r, err := st.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, 0, "", fmt.Errorf("%s in %s: %w", name, jobs.SealedStore, web.ErrNoArtifact)
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("%s in %s: %w", name, jobs.SealedStore, err)
	}
	info, err := r.Info()
	if err != nil {
		r.Close()
		return nil, 0, "", fmt.Errorf("%s in %s: %w", name, jobs.SealedStore, err)
	}
	return r, int64(info.Size), jobs.DigestHex(info.Digest), nil
}
