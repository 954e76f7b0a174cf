package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus/bustest"
	"leakscope/gpuworker/replay"
	"leakscope/gpuworker/sweep"
)

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The seal copies exactly the bytes the job reported, or nothing: a
// staged object changed or deleted after the job stored it, a malformed
// hash or a finished report without one are refused with the artifact's
// name; a seal repeated keeps the first copy.
func TestSealRefusesWhatTheJobDidNotStore(t *testing.T) {
	b, _ := bustest.Start(t, t.TempDir())
	ctx := context.Background()
	q, err := Open(ctx, b, 1)
	require.NoError(t, err)
	s := miniSpec(t)
	train := sweep.Job{ID: "mini.src_chef.s7.train", Kind: events.JobTrain, Source: "src_chef", Seed: 7}
	m := Message{Job: train, Spec: s}
	staged := "mini/src_chef/s7/adapter.tar"

	good, bad := []byte("the adapter the job trained"), []byte("another adapter")
	_, err = q.sealFinished(ctx, m, State{Status: "finished", Artifact: &ArtifactRef{SHA256: hexSHA(good)}})
	require.EqualError(t, err, "job mini.src_chef.s7.train: artifact "+staged+" is not in LEAKSCOPE_ARTIFACTS (deleted before it was sealed): not sealed")

	ref, err := q.PutArtifact(ctx, staged, good)
	require.NoError(t, err)
	require.Equal(t, &ArtifactRef{SHA256: hexSHA(good)}, ref)
	_, err = q.PutArtifact(ctx, staged, bad) // changed after the job stored it
	require.NoError(t, err)
	_, err = q.sealFinished(ctx, m, State{Status: "finished", Artifact: ref})
	require.EqualError(t, err, "job mini.src_chef.s7.train: artifact "+staged+" in LEAKSCOPE_ARTIFACTS has SHA-256 "+hexSHA(bad)+
		", but its job reported "+hexSHA(good)+" (changed after the job stored it): not sealed")
	_, err = q.Sealed.GetInfo(ctx, sealedName(staged, hexSHA(good)))
	require.ErrorIs(t, err, jetstream.ErrObjectNotFound, "nothing is left sealed")

	_, err = q.sealFinished(ctx, m, State{Status: "finished"})
	require.EqualError(t, err, "job mini.src_chef.s7.train finished without the SHA-256 of its artifact "+staged)
	for _, sum := range []string{"abc", strings.Repeat("A", 64), strings.Repeat("g", 64)} {
		_, err = q.sealFinished(ctx, m, State{Status: "finished", Artifact: &ArtifactRef{SHA256: sum}})
		require.ErrorContains(t, err, "artifact "+staged+": SHA-256 \""+sum+"\" is not 64 lowercase hex digits")
	}

	// A running state keeps no artifact, whatever the report names.
	st, err := q.sealFinished(ctx, m, State{Status: "running", Artifact: &ArtifactRef{Name: "x", SHA256: hexSHA(bad)}})
	require.NoError(t, err)
	require.Nil(t, st.Artifact)

	// The bytes the report names are sealed, under their hash; again, the
	// first copy stays.
	st, err = q.sealFinished(ctx, m, State{Status: "finished", Artifact: &ArtifactRef{Name: "elsewhere", SHA256: hexSHA(bad)}})
	require.NoError(t, err)
	want := &ArtifactRef{Name: staged + "@sha256:" + hexSHA(bad), SHA256: hexSHA(bad)}
	require.Equal(t, want, st.Artifact, "the name comes from the job, not the report")
	info, err := q.Sealed.GetInfo(ctx, want.Name)
	require.NoError(t, err)
	_, err = q.PutArtifact(ctx, staged, good)
	require.NoError(t, err)
	st, err = q.sealFinished(ctx, m, State{Status: "finished", Artifact: &ArtifactRef{SHA256: hexSHA(bad)}})
	require.NoError(t, err)
	require.Equal(t, want, st.Artifact)
	again, err := q.Sealed.GetInfo(ctx, want.Name)
	require.NoError(t, err)
	require.Equal(t, info.NUID, again.NUID, "sealed once")
	got, err := q.Sealed.GetBytes(ctx, want.Name)
	require.NoError(t, err)
	require.Equal(t, bad, got)
}

// Jobs read the sealed copy: a staged adapter deleted after its training
// job finished changes nothing, and a sealed one that does not hash to
// what the training job recorded fails the eval, naming the artifact.
func TestEvalReadsTheSealedAdapter(t *testing.T) {
	ctx, _, q, s := submittedSourceOnly(t)
	log := &syncBuf{}
	w := newWorker(q, "w1", &replay.Engine{Marker: "[ZLT]"}, log)
	w.WorkDir, w.MaxAttempts = t.TempDir(), 1
	require.NoError(t, w.Run(ctx, true))
	train, err := q.Get(ctx, "mini.src_chef.s7.train")
	require.NoError(t, err)
	require.Equal(t, "finished", train.Status, log.String())
	ref := train.Artifact
	require.NotNil(t, ref)
	require.Equal(t, "mini/src_chef/s7/adapter.tar@sha256:"+ref.SHA256, ref.Name)
	sealed, err := q.Sealed.GetBytes(ctx, ref.Name)
	require.NoError(t, err)
	require.Equal(t, ref.SHA256, hexSHA(sealed))
	onpolicy, err := q.Get(ctx, "mini.src_chef.s7.onpolicy")
	require.NoError(t, err)
	require.Equal(t, "mini/src_chef/s7/onpolicy.json@sha256:"+onpolicy.Artifact.SHA256, onpolicy.Artifact.Name)

	rerunEval := func() *State {
		t.Helper()
		require.NoError(t, q.State.Delete(ctx, "mini.src_chef.s7.eval"))
		sub, err := q.Submit(ctx, s)
		require.NoError(t, err)
		require.Equal(t, []string{"mini.src_chef.s7.eval"}, sub.Queued)
		require.NoError(t, w.Run(ctx, true))
		st, err := q.Get(ctx, "mini.src_chef.s7.eval")
		require.NoError(t, err)
		return st
	}
	require.NoError(t, q.Artifacts.Delete(ctx, "mini/src_chef/s7/adapter.tar"))
	st := rerunEval()
	require.Equal(t, "finished", st.Status, st.Error)
	require.Nil(t, st.Artifact, "an eval hands nothing on")

	_, err = q.Sealed.PutBytes(ctx, ref.Name, []byte("not the adapter"))
	require.NoError(t, err)
	st = rerunEval()
	require.Equal(t, "failed", st.Status)
	require.Equal(t, "adapter: sealed artifact "+ref.Name+" has SHA-256 "+hexSHA([]byte("not the adapter"))+
		", but job mini.src_chef.s7.train recorded "+ref.SHA256+": refused", st.Error)

	// A job that finished without a sealed artifact (an older keeper).
	train.Artifact = nil
	require.NoError(t, q.put(ctx, "mini.src_chef.s7.train", *train))
	st = rerunEval()
	require.Equal(t, "failed", st.Status)
	require.Equal(t, "adapter: artifact of job mini.src_chef.s7.train: the job finished without a sealed artifact (before artifacts were sealed?): run the sweep under a new name", st.Error)
}
