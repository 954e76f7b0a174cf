package jobs

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus/bustest"
	"leakscope/gpuworker/sweep"
)

// Attack: a worker replaces its staged artifact and reports the job again
// while the keeper seals the first report. The seal of the changed bytes
// wrote them under the sealed name and then deleted that name — the good
// copy a concurrent seal had just made with it. Now other bytes are
// refused before anything reaches the sealed store.
func TestSealWritesNothingForOtherBytes(t *testing.T) {
	b, _ := bustest.Start(t, t.TempDir())
	ctx := context.Background()
	q, err := Open(ctx, b, 1)
	require.NoError(t, err)
	m := Message{Job: sweep.Job{ID: "mini.src_chef.s7.train", Kind: events.JobTrain, Source: "src_chef", Seed: 7}, Spec: miniSpec(t)}
	staged := "mini/src_chef/s7/adapter.tar"
	good, bad := []byte("the adapter the job trained"), []byte("another adapter")
	_, err = q.PutArtifact(ctx, staged, bad)
	require.NoError(t, err)
	_, err = q.sealFinished(ctx, m, State{Status: "finished", Artifact: &ArtifactRef{SHA256: hexSHA(good)}})
	require.ErrorContains(t, err, "has SHA-256 "+hexSHA(bad)+", but its job reported "+hexSHA(good)+" (changed after the job stored it): not sealed")
	st, err := q.Sealed.Status(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Size(), "no chunk or delete marker written to the sealed store")
}
