package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"leakscope/events/bus"
	"leakscope/gpuworker/sweep"
)

// StateSubject is where workers ask for a job's state to be recorded;
// StateKeepers is the queue group of those who record it.
const (
	StateSubject = "leakscope.jobstate"
	StateKeepers = "jobstate"
)

// stateRequest is a worker's report on the job it holds: Seq is the
// stream sequence of the job's message on the queue (its delivery's).
type stateRequest struct {
	Job   string `json:"job"`
	Seq   uint64 `json:"seq"`
	State State  `json:"state"`
}

type stateReply struct {
	Error string `json:"error,omitempty"`
}

// ErrNotOnQueue refuses a state report for a job whose message is not on
// the queue (finished, failed for good, or never submitted).
var ErrNotOnQueue = errors.New("job is not on the queue")

// KeepStates records the job states that workers report on StateSubject
// (one of the keepers of the queue group answers each report) until ctx
// ends. Under deploy/accounts.conf workers may not write the state bucket:
// a report is written only while the job's message is on the queue, that
// is for a job any worker may still take, so no worker can change the
// state of a job that finished or failed for good (it could make `sweep
// submit` skip a failed job). A finished job's artifact is sealed first
// (sealFinished: copied from the staging store into the sealed one if its
// SHA-256 is the one reported), and a report whose artifact cannot be
// sealed is refused (the worker runs the job again). It runs with a user
// that may read the queue stream and the staging store and write the
// state bucket and the sealed store (ingest's); they are opened on the
// first report (the submitter declares them).
func KeepStates(ctx context.Context, b *bus.Bus) error {
	k := &keeper{b: b}
	sub, err := b.NC.QueueSubscribe(StateSubject, StateKeepers, func(m *nats.Msg) {
		rctx, cancel := context.WithTimeout(ctx, sealTimeout)
		defer cancel()
		var rep stateReply
		if err := k.record(rctx, m.Data); err != nil {
			rep.Error = err.Error()
		}
		data, _ := json.Marshal(rep)
		_ = m.Respond(data)
	})
	if err != nil {
		return fmt.Errorf("job-state keeper: %w", err)
	}
	go func() {
		<-ctx.Done()
		_ = sub.Unsubscribe()
	}()
	return nil
}

type keeper struct {
	b  *bus.Bus
	mu sync.Mutex
	q  *Queue // opened on the first report
}

func (k *keeper) queue(ctx context.Context) (*Queue, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.q != nil {
		return k.q, nil
	}
	st, err := k.b.JS.Stream(ctx, Stream)
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	kv, err := k.b.JS.KeyValue(ctx, StateBucket)
	if err != nil {
		return nil, fmt.Errorf("job states: %w", err)
	}
	staged, err := k.b.JS.ObjectStore(ctx, ArtifactStore)
	if err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", ArtifactStore, err)
	}
	sealed, err := k.b.JS.ObjectStore(ctx, SealedStore)
	if err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", SealedStore, err)
	}
	k.q = &Queue{B: k.b, Stream: st, State: kv, Artifacts: staged, Sealed: sealed}
	return k.q, nil
}

// record checks a report and writes it: the status is one a worker sets,
// the message at Seq is this job's, the spec hash stays the submitter's,
// and a finished job's artifact is sealed.
func (k *keeper) record(ctx context.Context, data []byte) error {
	var r stateRequest
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("job-state report: %w", err)
	}
	switch s := r.State.Status; {
	case r.Job == "":
		return errors.New("job-state report: no job")
	case s != "running" && s != "finished" && s != "failed":
		return fmt.Errorf("job %s: status %q is not a worker's to set (running, finished, failed)", r.Job, s)
	}
	q, err := k.queue(ctx)
	if err != nil {
		return err
	}
	m, err := q.Stream.GetMsg(ctx, r.Seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) || (err == nil && m.Subject != Subject(sweep.Job{ID: r.Job})) {
		return fmt.Errorf("job %s (queue message %d): %w", r.Job, r.Seq, ErrNotOnQueue)
	}
	if err != nil {
		return fmt.Errorf("job %s: %w", r.Job, err)
	}
	var jm Message
	if err := json.Unmarshal(m.Data, &jm); err != nil || jm.Job.ID != r.Job {
		return fmt.Errorf("job %s (queue message %d): %w", r.Job, r.Seq, ErrNotOnQueue)
	}
	if r.State, err = q.sealFinished(ctx, jm, r.State); err != nil {
		return err
	}
	cur, err := q.Get(ctx, r.Job)
	if err != nil {
		return err
	}
	r.State.SpecSHA256 = ""
	if cur != nil {
		r.State.SpecSHA256 = cur.SpecSHA256
	}
	return q.put(ctx, r.Job, r.State)
}

// report records the state of job m, whose delivery is msg: through a
// state keeper (KeepStates), or, where none runs (an embedded server
// without users), in the bucket itself, sealing a finished job's artifact
// as a keeper would.
func (q *Queue) report(ctx context.Context, msg jetstream.Msg, m Message, st State) error {
	id := m.Job.ID
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("job %s: %w", id, err)
	}
	data, err := json.Marshal(stateRequest{Job: id, Seq: meta.Sequence.Stream, State: st})
	if err != nil {
		return err
	}
	var refused error // a keeper's answer: final, not retried
	per := apiTimeout
	if st.Artifact != nil {
		per = sealTimeout // the keeper copies the artifact first
	}
	err = retryAPIEach(ctx, per, func(ctx context.Context) error {
		resp, err := q.B.NC.RequestWithContext(ctx, StateSubject, data)
		if errors.Is(err, nats.ErrNoResponders) {
			sealed, serr := q.sealFinished(ctx, m, st)
			if serr != nil {
				refused = fmt.Errorf("job state %s refused: %w", id, serr)
				return nil
			}
			if perr := q.put(ctx, id, sealed); perr != nil {
				return fmt.Errorf("%w (and no job-state keeper answers on %s: leakscope-ingest and leakscope up run one)", perr, StateSubject)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("job state %s: %w", id, err)
		}
		var rep stateReply
		if err := json.Unmarshal(resp.Data, &rep); err != nil {
			return fmt.Errorf("job state %s: keeper answered %q: %w", id, resp.Data, err)
		}
		if rep.Error != "" {
			refused = fmt.Errorf("job state %s refused: %s", id, rep.Error)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return refused
}
