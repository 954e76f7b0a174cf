package jobs

import (
	"context"
	"crypto/sha256"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// PutArtifact stores data as the named artifact; the same bytes stored
// before are left as they are (a job that runs again). Replacing an
// object makes nats.go purge the old one's chunks, which a worker's user
// may not do (deploy/accounts.conf: no purge on the artifact store): the
// server drops that request unanswered and Put waits for it on its
// context, so Put gets one without deadline (cancelled with ctx), whose
// API calls wait jetstream's default timeout (5 s) at most. The old chunks
// then stay in the store.
func (q *Queue) PutArtifact(ctx context.Context, name string, data []byte) error {
	h := sha256.New()
	h.Write(data)
	info, err := q.Artifacts.GetInfo(ctx, name)
	if err == nil && info.Digest == jetstream.GetObjectDigestValue(h) && info.Size == uint64(len(data)) {
		return nil
	}
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return err
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	_, err = q.Artifacts.PutBytes(pctx, name, data)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
