// Package jobs is the sweep's job queue and the GPU worker that drains it.
// Jobs travel on a JetStream work-queue stream (LEAKSCOPE_JOBS, one message
// per job, deduplicated by job ID); their state lives in a key-value bucket
// (LEAKSCOPE_JOB_STATE) that dependencies and `sweep status` read; what one
// job hands the next (on-policy answers, adapters) travels through object
// stores, so the jobs of one sweep may run on different machines: workers
// stage it in LEAKSCOPE_ARTIFACTS, the job-state keeper seals it into
// LEAKSCOPE_SEALED_ARTIFACTS (which workers may only read) when the job
// finishes, and the next job reads the sealed copy (artifact.go).
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/gpuworker/sweep"
)

// Names on the bus.
const (
	Stream        = "LEAKSCOPE_JOBS"
	SubjectPrefix = "leakscope.jobs"
	Consumer      = "workers"
	StateBucket   = "LEAKSCOPE_JOB_STATE"
	ArtifactStore = "LEAKSCOPE_ARTIFACTS"        // staged by workers
	SealedStore   = "LEAKSCOPE_SEALED_ARTIFACTS" // sealed by the job-state keeper
)

// Message is one job on the queue: the job and the whole validated spec,
// so any worker can run it without the sweep file.
type Message struct {
	Job  sweep.Job  `json:"job"`
	Spec sweep.Spec `json:"spec"`
}

// State is a job's entry in the state bucket.
type State struct {
	Status string `json:"status"` // queued, running, finished, failed
	// Attempt counts the deliveries that started the job (killed ones too);
	// Failures the attempts that failed since it was last submitted.
	Attempt    int       `json:"attempt"`
	Failures   int       `json:"failures,omitempty"`
	SpecSHA256 string    `json:"spec_sha256,omitempty"`
	Worker     string    `json:"worker,omitempty"`
	Error      string    `json:"error,omitempty"`
	Final      bool      `json:"final,omitempty"`
	Updated    time.Time `json:"updated"`
	// Detail is what the job produced (hashes, counts), as JSON.
	Detail json.RawMessage `json:"detail,omitempty"`
	// Artifact is what a finished on-policy or training job handed on:
	// the worker reports its SHA-256, the keeper seals it (artifact.go).
	Artifact *ArtifactRef `json:"artifact,omitempty"`
}

// Queue is the job stream, the state bucket and the artifact stores.
type Queue struct {
	B         *bus.Bus
	Stream    jetstream.Stream
	State     jetstream.KeyValue
	Artifacts jetstream.ObjectStore // staged: workers write
	Sealed    jetstream.ObjectStore // sealed: workers only read
}

// Open opens the job stream, state bucket and artifact stores, declaring
// those missing with the given replica count. It looks first, so a worker
// whose NATS user may use but not declare them (deploy/accounts.conf)
// opens what the submitter declared, and a declared one keeps its config.
func Open(ctx context.Context, b *bus.Bus, replicas int) (*Queue, error) {
	if replicas < 1 {
		replicas = 1
	}
	q := &Queue{B: b}
	err := retryAPI(ctx, func(ctx context.Context) error {
		st, err := b.JS.Stream(ctx, Stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			st, err = b.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: Stream, Description: "leakscope sweep jobs for GPU workers",
				Subjects: []string{SubjectPrefix + ".>"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
				Replicas: replicas, Duplicates: 10 * time.Minute})
		}
		if err != nil {
			return fmt.Errorf("declare %s: %w", Stream, err)
		}
		kv, err := b.JS.KeyValue(ctx, StateBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = b.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: StateBucket, Description: "sweep job states",
				History: 8, Storage: jetstream.FileStorage, Replicas: replicas})
		}
		if err != nil {
			return fmt.Errorf("declare %s: %w", StateBucket, err)
		}
		obs, err := openObjectStore(ctx, b, ArtifactStore, "on-policy data and adapters, staged by workers", replicas)
		if err != nil {
			return err
		}
		sealed, err := openObjectStore(ctx, b, SealedStore, "on-policy data and adapters of finished jobs, sealed by the job-state keeper", replicas)
		if err != nil {
			return err
		}
		q.Stream, q.State, q.Artifacts, q.Sealed = st, kv, obs, sealed
		return nil
	})
	if err != nil {
		return nil, err
	}
	return q, nil
}

// openObjectStore opens an object store, declaring it when missing.
func openObjectStore(ctx context.Context, b *bus.Bus, name, description string, replicas int) (jetstream.ObjectStore, error) {
	obs, err := b.JS.ObjectStore(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		obs, err = b.JS.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: name, Description: description,
			Storage: jetstream.FileStorage, Replicas: replicas})
	}
	if err != nil {
		return nil, fmt.Errorf("declare %s: %w", name, err)
	}
	return obs, nil
}

// Subject is where a job travels.
func Subject(j sweep.Job) string {
	return fmt.Sprintf("%s.%s", SubjectPrefix, strings.ReplaceAll(j.ID, ".", "_"))
}

// Submitted says what Submit did with each job.
type Submitted struct {
	Queued, AlreadyDone, AlreadyQueued []string
}

// Submit publishes the sweep's eval runs as run_planned events, then puts
// the sweep's jobs on the queue in plan order. A job is
// queued unless it has finished or a message for it is already on the
// queue (waiting, running or waiting for a retry), so submitting a sweep
// again is safe and requeues exactly the jobs that failed for good or
// whose message was lost. A sweep name stands for one spec: a changed
// spec under a submitted name is refused.
func (q *Queue) Submit(ctx context.Context, s sweep.Spec) (Submitted, error) {
	var res Submitted
	hash := s.SHA256()
	plan := s.Plan()
	states := make([]*State, len(plan))
	for i, j := range plan {
		st, err := q.Get(ctx, j.ID)
		if err != nil {
			return res, err
		}
		if st != nil && st.SpecSHA256 != "" && st.SpecSHA256 != hash {
			return res, fmt.Errorf("sweep %q was submitted with another spec (it differs in: %s): give the changed sweep a new name, or pass the same overrides (--model) as before",
				s.Sweep, q.specDiff(ctx, s))
		}
		states[i] = st
	}
	if b, err := json.Marshal(s); err == nil {
		_, _ = q.State.Put(ctx, specKey(s.Sweep), b)
	}
	// The plan reaches the events stream before any job is queued, so the
	// live view counts every planned run from the start. A resubmission
	// publishes the same event IDs (the bus and ingest drop them).
	planned, err := s.PlannedRuns(time.Now())
	if err != nil {
		return res, err
	}
	for _, e := range planned {
		if _, err := q.B.Publish(ctx, e); err != nil {
			return res, fmt.Errorf("publish the plan of run %s: %w", e.RunID, err)
		}
	}
	for i, j := range plan {
		st := states[i]
		if st != nil && st.Status == "finished" {
			res.AlreadyDone = append(res.AlreadyDone, j.ID)
			continue
		}
		n, err := q.onQueue(ctx, j)
		if err != nil {
			return res, err
		}
		if n > 0 {
			res.AlreadyQueued = append(res.AlreadyQueued, j.ID)
			continue
		}
		data, err := json.Marshal(Message{Job: j, Spec: s})
		if err != nil {
			return res, err
		}
		// Attempt numbers keep growing across resubmissions (they key the
		// job's events); the failure budget starts afresh.
		next := State{Status: "queued", SpecSHA256: hash}
		if st != nil {
			next.Attempt = st.Attempt
		}
		if err := q.put(ctx, j.ID, next); err != nil {
			return res, err
		}
		// A unique message ID: the server's duplicate window must not
		// swallow a resubmission (concurrent submits are caught by onQueue).
		msgID := fmt.Sprintf("%s@%d", j.ID, time.Now().UnixNano())
		if _, err := q.B.JS.PublishMsg(ctx, &nats.Msg{Subject: Subject(j), Data: data}, jetstream.WithMsgID(msgID)); err != nil {
			return res, fmt.Errorf("submit %s: %w", j.ID, err)
		}
		res.Queued = append(res.Queued, j.ID)
	}
	return res, nil
}

func specKey(sweepName string) string { return "spec." + sweepName }

// specDiff names the dotted keys in which s differs from the spec last
// submitted under its name ("unknown" when that was not kept).
func (q *Queue) specDiff(ctx context.Context, s sweep.Spec) string {
	e, err := q.State.Get(ctx, specKey(s.Sweep))
	if err != nil {
		return "unknown keys"
	}
	b, _ := json.Marshal(s)
	diff := diffKeys("", e.Value(), b)
	if len(diff) == 0 {
		return "unknown keys"
	}
	return strings.Join(diff, ", ")
}

// diffKeys lists the dotted keys at which two JSON documents differ,
// descending into objects present in both ("eval.adaptive.half_width").
func diffKeys(prefix string, a, b json.RawMessage) []string {
	var am, bm map[string]json.RawMessage
	if json.Unmarshal(a, &am) != nil || json.Unmarshal(b, &bm) != nil || am == nil || bm == nil {
		if string(a) == string(b) {
			return nil
		}
		return []string{strings.TrimPrefix(prefix, ".")}
	}
	keys := map[string]json.RawMessage{}
	for k, v := range am {
		keys[k] = v
	}
	for k, v := range bm {
		keys[k] = v
	}
	var out []string
	for _, k := range sortedKeys(keys) {
		out = append(out, diffKeys(prefix+"."+k, am[k], bm[k])...)
	}
	return out
}

// onQueue counts the job's messages on the queue stream.
func (q *Queue) onQueue(ctx context.Context, j sweep.Job) (uint64, error) {
	subj := Subject(j)
	info, err := q.Stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, fmt.Errorf("job queue: %w", err)
	}
	return info.State.Subjects[subj], nil
}

// Get returns a job's state, nil when the job is unknown.
func (q *Queue) Get(ctx context.Context, id string) (*State, error) {
	e, err := q.State.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("job state %s: %w", id, err)
	}
	var s State
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return nil, fmt.Errorf("job state %s: %w", id, err)
	}
	return &s, nil
}

func (q *Queue) put(ctx context.Context, id string, s State) error {
	s.Updated = time.Now().UTC()
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := q.State.Put(ctx, id, b); err != nil {
		return fmt.Errorf("job state %s: %w", id, err)
	}
	return nil
}

// Status lists the states of a sweep's jobs, in plan order (jobs never
// submitted have Status "").
func (q *Queue) Status(ctx context.Context, s sweep.Spec) ([]JobState, error) {
	var out []JobState
	for _, j := range s.Plan() {
		st, err := q.Get(ctx, j.ID)
		if err != nil {
			return nil, err
		}
		js := JobState{Job: j}
		if st != nil {
			js.State = *st
		}
		out = append(out, js)
	}
	return out, nil
}

// JobState is a job with its state.
type JobState struct {
	Job sweep.Job
	State
}

// Pending is how many job messages wait on the queue (queued, delayed or
// being worked on).
func (q *Queue) Pending(ctx context.Context) (uint64, error) {
	info, err := q.Stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// stagedArtifact names the artifact a job stores in the staging store
// ("<sweep>/<source>/s<seed>/onpolicy.json" or ".../adapter.tar"); ok is
// false for kinds that store none (eval, embed).
func stagedArtifact(s sweep.Spec, j sweep.Job) (name string, ok bool) {
	switch j.Kind {
	case events.JobOnPolicy:
		return fmt.Sprintf("%s/%s/s%d/onpolicy.json", s.Sweep, j.Source, j.Seed), true
	case events.JobTrain:
		return fmt.Sprintf("%s/%s/s%d/adapter.tar", s.Sweep, j.Source, j.Seed), true
	}
	return "", false
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
