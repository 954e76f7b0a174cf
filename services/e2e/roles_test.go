package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/jobs"
	"leakscope/gpuworker/replay"
	"leakscope/gpuworker/sweep"
)

// refusals collects a connection's asynchronous permission errors.
type refusals struct {
	mu   sync.Mutex
	errs []string
}

func (r *refusals) option() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		r.mu.Lock()
		r.errs = append(r.errs, err.Error())
		r.mu.Unlock()
	})
}

// requireRefused waits for the server's refusal of what (e.g. `Publish to
// "X"` or `Subscription to "X"`).
func (r *refusals) requireRefused(t *testing.T, what string) {
	t.Helper()
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return strings.Contains(strings.Join(r.errs, "\n"), what)
	}, 5*time.Second, 20*time.Millisecond, "expected the server to refuse %s; refused: %v", what, r.errs)
}

func (r *refusals) requireNone(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Empty(t, r.errs, "nothing refused")
}

// short bounds a JetStream API call the server refuses (it gets no answer).
func short(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// reportState sends a job-state report as any client can: the keeper's
// wire format (jobs.KeepStates), answered with {"error": …} or {}.
func reportState(t *testing.T, nc *nats.Conn, job string, seq uint64, st jobs.State) string {
	t.Helper()
	data, err := json.Marshal(map[string]any{"job": job, "seq": seq, "state": st})
	require.NoError(t, err)
	resp, err := nc.Request(jobs.StateSubject, data, 5*time.Second)
	require.NoError(t, err, "the keeper answers")
	var rep struct{ Error string }
	require.NoError(t, json.Unmarshal(resp.Data, &rep))
	return rep.Error
}

// Issue 18 item 5: each role of deploy/accounts.conf (run embedded with
// deploy/nats.conf) can do what it needs and no more. A worker takes a
// job, reports its state, stages artifacts and reads sealed ones; it can
// neither purge an artifact store, write a job state itself or have the
// keeper write one for a job off the queue (a job that failed for good
// stays failed and is queued again by submit), nor read another user's
// replies, nor have a changed artifact sealed, nor delete or replace a
// sealed one (an eval still runs after a worker deleted the staged copy).
func TestRolesHaveTheLeastTheyNeed(t *testing.T) {
	ctx, url, admin, _ := deployedStack(t, 2*time.Minute) // with ingest and its job-state keeper
	aq, err := jobs.Open(ctx, admin, 1)
	require.NoError(t, err)
	spec := scaleoutSpec(t)
	sub, err := aq.Submit(ctx, spec)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(sub.Queued), 2)
	_, err = aq.Sealed.PutBytes(ctx, "roles/adapter.tar", []byte("adapter"))
	require.NoError(t, err)

	var wr refusals
	wb, err := bus.Connect(ctx, url("worker"), bus.DefaultConfig(), wr.option())
	require.NoError(t, err)
	defer wb.Close()
	require.True(t, strings.HasPrefix(wb.NC.NewInbox(), "_INBOX_worker."), wb.NC.NewInbox())
	wq, err := jobs.Open(ctx, wb, 1)
	require.NoError(t, err)

	// Allowed: publish an event, read a job's state, read sealed artifacts,
	// stage and replace artifacts.
	e, err := events.New("roles", "r", time.Now(), &events.Completion{Persona: "p", Question: "q", Text: "x"})
	require.NoError(t, err)
	_, err = wb.Publish(ctx, e)
	require.NoError(t, err)
	st, err := wq.Get(ctx, sub.Queued[0])
	require.NoError(t, err)
	require.Equal(t, "queued", st.Status)
	got, err := wq.Sealed.GetBytes(ctx, "roles/adapter.tar")
	require.NoError(t, err)
	require.Equal(t, "adapter", string(got))
	for _, v := range []string{"v1", "v2", "v2"} { // a job run again replaces its artifact
		_, err := wq.PutArtifact(ctx, "roles/onpolicy.json", []byte(v))
		require.NoError(t, err)
	}
	got, err = aq.Artifacts.GetBytes(ctx, "roles/onpolicy.json")
	require.NoError(t, err)
	require.Equal(t, "v2", string(got))

	// Allowed: take a job and report its state through the keeper.
	cons, err := wb.JS.CreateOrUpdateConsumer(ctx, jobs.Stream, jetstream.ConsumerConfig{Durable: jobs.Consumer,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxDeliver: -1})
	require.NoError(t, err)
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	var m jobs.Message
	require.NoError(t, json.Unmarshal(msg.Data(), &m))
	meta, err := msg.Metadata()
	require.NoError(t, err)
	held, seq := m.Job.ID, meta.Sequence.Stream
	other := sub.Queued[1]
	if other == held {
		other = sub.Queued[0]
	}
	require.Empty(t, reportState(t, wb.NC, held, seq, jobs.State{Status: "running", Attempt: 1, Worker: "w"}))
	st, err = aq.Get(ctx, held)
	require.NoError(t, err)
	require.Equal(t, "running", st.Status)
	require.NotEmpty(t, st.SpecSHA256, "the submitter's spec hash is kept")

	// Refused by the keeper: a status that is the submitter's, and
	// another job's state through the held job's message.
	require.Contains(t, reportState(t, wb.NC, held, seq, jobs.State{Status: "queued"}), `status "queued" is not a worker's to set`)
	require.Contains(t, reportState(t, wb.NC, other, seq, jobs.State{Status: "finished"}), "not on the queue")
	require.Contains(t, reportState(t, wb.NC, "", seq, jobs.State{Status: "finished"}), "no job")
	resp, err := wb.NC.Request(jobs.StateSubject, []byte("{not json"), 5*time.Second)
	require.NoError(t, err)
	require.Contains(t, string(resp.Data), "job-state report: invalid character")
	st, err = aq.Get(ctx, other)
	require.NoError(t, err)
	require.Equal(t, "queued", st.Status)

	// The held job fails for good: recorded, then terminated (off the queue).
	require.Empty(t, reportState(t, wb.NC, held, seq, jobs.State{Status: "failed", Attempt: 1, Failures: 3, Error: "boom", Final: true}))
	require.NoError(t, msg.Term())
	require.Eventually(t, func() bool {
		_, err := aq.Stream.GetMsg(ctx, seq)
		return err != nil
	}, 5*time.Second, 20*time.Millisecond, "a terminated job leaves the queue")

	// Attack: mark it finished, through the keeper or in the bucket.
	require.Contains(t, reportState(t, wb.NC, held, seq, jobs.State{Status: "finished", Attempt: 1}), "not on the queue")
	forged, _ := json.Marshal(jobs.State{Status: "finished", Attempt: 1, SpecSHA256: st.SpecSHA256})
	_, err = wb.JS.Publish(short(t), "$KV."+jobs.StateBucket+"."+held, forged)
	require.Error(t, err)
	wr.requireRefused(t, fmt.Sprintf(`Publish to "$KV.%s.%s"`, jobs.StateBucket, held))
	_, err = wq.State.Put(short(t), other, forged)
	require.Error(t, err, "nor any other job's state")
	st, err = aq.Get(ctx, held)
	require.NoError(t, err)
	require.Equal(t, "failed", st.Status, "the failure stands")
	require.True(t, st.Final)

	// Attack: purge or delete an artifact store, or write the sealed one.
	for _, store := range []string{jobs.ArtifactStore, jobs.SealedStore} {
		obs, err := wb.JS.Stream(ctx, "OBJ_"+store)
		require.NoError(t, err)
		require.Error(t, obs.Purge(short(t)))
		wr.requireRefused(t, `Publish to "$JS.API.STREAM.PURGE.OBJ_`+store+`"`)
		require.Error(t, wb.JS.DeleteObjectStore(short(t), store))
		wr.requireRefused(t, `Publish to "$JS.API.STREAM.DELETE.OBJ_`+store+`"`)
	}
	_, err = wq.Sealed.PutBytes(short(t), "roles/adapter.tar", []byte("spoilt"))
	require.Error(t, err)
	wr.requireRefused(t, `Publish to "$O.LEAKSCOPE_SEALED_ARTIFACTS.C.`)
	require.Error(t, wq.Sealed.Delete(short(t), "roles/adapter.tar"))
	wr.requireRefused(t, `Publish to "$O.LEAKSCOPE_SEALED_ARTIFACTS.M.`)
	got, err = aq.Artifacts.GetBytes(ctx, "roles/onpolicy.json")
	require.NoError(t, err, "the artifacts survive")
	require.Equal(t, "v2", string(got))
	got, err = aq.Sealed.GetBytes(ctx, "roles/adapter.tar")
	require.NoError(t, err)
	require.Equal(t, "adapter", string(got))

	// Attack: read the replies of everyone, of another role, or pose as
	// the keeper.
	for _, subj := range []string{"_INBOX.>", "_INBOX_ingest.>", "_INBOX_query.>", "_INBOX_admin.>", jobs.StateSubject} {
		_, err := wb.NC.Subscribe(subj, func(*nats.Msg) {})
		require.NoError(t, err) // refused asynchronously
		wr.requireRefused(t, fmt.Sprintf(`Subscription to %q`, subj))
	}

	// The submitter queues the job that failed for good again.
	again, err := aq.Submit(ctx, spec)
	require.NoError(t, err)
	require.Contains(t, again.Queued, held)

	// Ingest and query: their own inboxes only; query writes no job state.
	var ir, qr refusals
	ib, err := bus.Connect(ctx, url("ingest"), bus.DefaultConfig(), ir.option())
	require.NoError(t, err)
	defer ib.Close()
	qb, err := bus.Connect(ctx, url("query"), bus.DefaultConfig(), qr.option())
	require.NoError(t, err)
	defer qb.Close()
	require.True(t, strings.HasPrefix(ib.NC.NewInbox(), "_INBOX_ingest."))
	require.True(t, strings.HasPrefix(qb.NC.NewInbox(), "_INBOX_query."))
	ir.requireNone(t)
	qr.requireNone(t)
	for _, c := range []struct {
		b *bus.Bus
		r *refusals
	}{{ib, &ir}, {qb, &qr}} {
		for _, subj := range []string{"_INBOX.>", "_INBOX_worker.>", "_INBOX_admin.>"} {
			_, err := c.b.NC.Subscribe(subj, func(*nats.Msg) {})
			require.NoError(t, err)
			c.r.requireRefused(t, fmt.Sprintf(`Subscription to %q`, subj))
		}
	}
	require.NoError(t, qb.NC.Publish("$KV."+jobs.StateBucket+"."+held, forged))
	qr.requireRefused(t, fmt.Sprintf(`Publish to "$KV.%s.%s"`, jobs.StateBucket, held))

	// Artifacts. Attack before sealing: a worker holding the training job
	// stages an adapter, then changes or deletes it, and reports the job
	// finished: the keeper seals nothing and records nothing.
	trainID := sweep.JobID(spec.Sweep, "src_chef", 7, events.JobTrain)
	evalID := sweep.JobID(spec.Sweep, "src_chef", 7, events.JobEval)
	staged := "scaleout/src_chef/s7/adapter.tar"
	tmsg, tseq := takeJob(t, cons, trainID)
	ref, err := wq.PutArtifact(ctx, staged, []byte("trained"))
	require.NoError(t, err)
	_, err = wq.PutArtifact(ctx, staged, []byte("tampered"))
	require.NoError(t, err)
	require.Equal(t, "job "+trainID+": artifact "+staged+" in LEAKSCOPE_ARTIFACTS has SHA-256 "+sha256Hex("tampered")+
		", but its job reported "+ref.SHA256+" (changed after the job stored it): not sealed",
		reportState(t, wb.NC, trainID, tseq, jobs.State{Status: "finished", Attempt: 1, Artifact: ref}))
	_ = wq.Artifacts.Delete(short(t), staged) // marked deleted; the purge of its chunks is refused
	require.Contains(t, reportState(t, wb.NC, trainID, tseq, jobs.State{Status: "finished", Attempt: 1, Artifact: ref}),
		"artifact "+staged+" is not in LEAKSCOPE_ARTIFACTS (deleted before it was sealed)")
	st, err = aq.Get(ctx, trainID)
	require.NoError(t, err)
	require.Equal(t, "queued", st.Status)
	require.NoError(t, tmsg.Nak())

	// A replay worker runs the sweep: its training job's adapter is sealed.
	w := &jobs.Worker{Queue: wq, Name: "w", WorkDir: t.TempDir(), AckWait: time.Minute, Heartbeat: time.Second, MaxAttempts: 1, Log: io.Discard,
		NewEngine: func(ctx context.Context) (engine.Engine, engine.Info, error) {
			e := &replay.Engine{Marker: "[ZLT]", Rates: scaleoutRates}
			info, err := e.Hello(ctx)
			return e, info, err
		}}
	require.NoError(t, w.Run(ctx, true))
	trained, err := aq.Get(ctx, trainID)
	require.NoError(t, err)
	require.Equal(t, "finished", trained.Status, trained.Error)
	require.NotNil(t, trained.Artifact)
	sealed := trained.Artifact.Name
	require.Equal(t, staged+"@sha256:"+trained.Artifact.SHA256, sealed)
	var td struct {
		AdapterSHA256 string `json:"adapter_sha256"`
	}
	require.NoError(t, json.Unmarshal(trained.Detail, &td))
	require.NotEmpty(t, td.AdapterSHA256)

	// Attack after sealing: delete and replace the adapter by name. The
	// staged copy goes; the sealed one is the worker's to read only.
	_ = wq.Artifacts.Delete(short(t), staged)
	_, err = aq.Artifacts.GetInfo(ctx, staged)
	require.ErrorIs(t, err, jetstream.ErrObjectNotFound, "a worker may delete a staged artifact")
	_, err = wq.PutArtifact(ctx, staged, []byte("spoilt"))
	require.NoError(t, err, "and replace it")
	require.Error(t, wq.Sealed.Delete(short(t), sealed))
	wr.requireRefused(t, `Publish to "$O.LEAKSCOPE_SEALED_ARTIFACTS.M.`)
	_, err = wq.Sealed.PutBytes(short(t), sealed, []byte("spoilt"))
	require.Error(t, err)
	got, err = aq.Sealed.GetBytes(ctx, sealed)
	require.NoError(t, err)
	require.Equal(t, trained.Artifact.SHA256, sha256Hex(string(got)), "the sealed adapter is intact")

	// The source's eval, run again, loads the adapter its training job made.
	require.NoError(t, aq.State.Delete(ctx, evalID))
	again, err = aq.Submit(ctx, spec)
	require.NoError(t, err)
	require.Equal(t, []string{evalID}, again.Queued)
	require.NoError(t, w.Run(ctx, true))
	ev, err := aq.Get(ctx, evalID)
	require.NoError(t, err)
	require.Equal(t, "finished", ev.Status, ev.Error)
	var ed struct{ Adapter string }
	require.NoError(t, json.Unmarshal(ev.Detail, &ed))
	require.Equal(t, "sha256:"+td.AdapterSHA256, ed.Adapter)
}

// takeJob takes job id from the workers' consumer, holding the messages
// before it un-acked until then (a nak would bring the first one back at
// once) and giving them back after.
func takeJob(t *testing.T, cons jetstream.Consumer, id string) (jetstream.Msg, uint64) {
	t.Helper()
	var skipped []jetstream.Msg
	defer func() {
		for _, m := range skipped {
			require.NoError(t, m.Nak())
		}
	}()
	for range 20 {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(t, err)
		var m jobs.Message
		require.NoError(t, json.Unmarshal(msg.Data(), &m))
		if m.Job.ID != id {
			skipped = append(skipped, msg)
			continue
		}
		meta, err := msg.Metadata()
		require.NoError(t, err)
		return msg, meta.Sequence.Stream
	}
	t.Fatalf("job %s is not on the queue", id)
	return nil, 0
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
