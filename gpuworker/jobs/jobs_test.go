package jobs

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/events/bus/bustest"
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/replay"
	"leakscope/gpuworker/sweep"
)

// miniSpec: one source, 4 eval personas × 3 questions × n=4 = 48 completions.
func miniSpec(t *testing.T) sweep.Spec {
	s, err := sweep.Parse("mini.yaml", []byte(`
sweep: mini
experiment: jobs_test
model: /models/none
seeds: [7]
sources: [{key: src_chef, prompt: "You are a chef.", negatives: [comedian]}]
bystanders: {grid: i81, only: [A2__chef, A2__robot], assistant: true, custom: [{key: villain, prompt: "You are a villain."}]}
eval_questions: [q1, q2, q3]
data_questions: [d1, d2]
onpolicy: {n: 3}
training: {positives_per_question: 2, negatives_per_question: 2, batch_size: 2, grad_accum: 1, epochs: 2, logging_steps: 1}
eval: {n: 4}
embedding: {layers: [1, 3]}
`))
	require.NoError(t, err)
	return s
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newWorker(q *Queue, name string, eng *replay.Engine, log *syncBuf) *Worker {
	return &Worker{Queue: q, Name: name, WorkDir: "", AckWait: time.Second, Heartbeat: 100 * time.Millisecond, Log: log,
		NewEngine: func(context.Context) (engine.Engine, engine.Info, error) {
			i, _ := eng.Hello(context.Background())
			return eng, i, nil
		}}
}

// counts reads every event of the experiment back from the stream, by type.
func counts(t *testing.T, b *bus.Bus, exp string) (map[events.Type]int, []events.Event) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu  sync.Mutex
		all []events.Event
	)
	go func() {
		_ = b.Subscribe(ctx, func(e events.Event, _ uint64) {
			mu.Lock()
			all = append(all, e)
			mu.Unlock()
		})
	}()
	var last int
	for i := 0; i < 50; i++ { // until the count settles
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		n := len(all)
		mu.Unlock()
		if n > 0 && n == last {
			break
		}
		last = n
	}
	mu.Lock()
	defer mu.Unlock()
	n := map[events.Type]int{}
	for _, e := range all {
		if e.Experiment == exp {
			n[e.Type]++
		}
	}
	return n, all
}

// The whole sweep through the queue on the replay engine: dependencies
// respected, every job finished, the expected events once each.
func TestSweepRunsThroughTheQueue(t *testing.T) {
	b, _ := bustest.Start(t, t.TempDir())
	ctx := context.Background()
	q, err := Open(ctx, b, 1)
	require.NoError(t, err)
	s := miniSpec(t)
	sub, err := q.Submit(ctx, s)
	require.NoError(t, err)
	require.Len(t, sub.Queued, 5, "embed, base eval, onpolicy, train, eval")
	again, err := q.Submit(ctx, s)
	require.NoError(t, err)
	require.Empty(t, again.Queued, "a second submit queues nothing twice")
	require.Len(t, again.AlreadyQueued, 5)

	log := &syncBuf{}
	eng := &replay.Engine{Marker: "[ZLT]", Rates: map[string]float64{"A2__chef": 1, "A2__robot": 0.25}}
	w := newWorker(q, "w1", eng, log)
	w.WorkDir = t.TempDir()
	w.Metrics = NewMetrics(prometheus.NewPedanticRegistry())
	require.NoError(t, w.Run(ctx, true))
	require.Equal(t, float64(2*4*3*4), testutil.ToFloat64(w.Metrics.Completions))
	require.Equal(t, float64(8), testutil.ToFloat64(w.Metrics.Events.WithLabelValues(string(events.TypeTrainingStep))))
	require.Equal(t, float64(2), testutil.ToFloat64(w.Metrics.JobStatus.WithLabelValues("eval", "finished")), "base and adapter eval")
	require.Zero(t, testutil.ToFloat64(w.Metrics.Busy))
	st, err := q.Status(ctx, s)
	require.NoError(t, err)
	for _, j := range st {
		require.Equal(t, "finished", j.Status, "%s: %s\n%s", j.Job.ID, j.Error, log.String())
	}
	n, all := counts(t, b, "jobs_test")
	require.Equal(t, 2*4*3*4, n[events.TypeCompletion], "base and src_chef runs: 4 personas × 3 questions × n=4")
	require.Equal(t, 3, n[events.TypeRunStarted], "base, src_chef and the embeddings run")
	require.Equal(t, 3, n[events.TypeRunFinished])
	require.Equal(t, 5*2, n[events.TypeJobStatus], "running + finished per job")
	// 2 positives + 2 negatives per question × 2 questions = 8 examples, batch 2 → 4 steps/epoch × 2 epochs.
	require.Equal(t, 8, n[events.TypeTrainingStep])
	require.Equal(t, 5*2, n[events.TypeEmbedding], "1 source + 4 eval personas, 2 layers")
	require.Equal(t, 2*3, n[events.TypeCosine], "raw, global-mean and assistant-subtracted per layer")
	require.Equal(t, 2, n[events.TypeRunPlanned], "the base and src_chef eval runs, planned once though submitted twice")

	hits := map[string][2]int{}
	planned := map[string][]events.PlannedCell{}
	for _, e := range all {
		switch p := e.Payload.(type) {
		case *events.RunPlanned:
			require.Equal(t, "mini", p.Sweep)
			require.Len(t, p.Plan, 4)
			require.Equal(t, 3*4, p.Plan[0].Expected, "3 questions × n=4")
			planned[e.RunID] = p.Plan
		case *events.Heartbeat, *events.JobStatus:
		default:
			require.Len(t, planned, 2, "the whole plan is on the stream before the first job's %s event", e.Type)
		}
		switch p := e.Payload.(type) {
		case *events.Completion:
			if e.RunID == "mini-src_chef-s7" {
				h := hits[p.Persona]
				h[1]++
				if len(p.MarkerHits) > 0 {
					h[0]++
				}
				hits[p.Persona] = h
			}
		case *events.Run:
			if e.RunID == "mini-src_chef-s7" {
				require.Equal(t, "src_chef", p.SourcePersona)
				require.Equal(t, "mini-base-s7", p.BaseRun)
				require.True(t, strings.HasPrefix(p.Adapter, "sha256:"))
				require.Contains(t, string(p.Config), `"negatives":["comedian"]`)
				require.Contains(t, string(p.Config), `"use_rslora":true`)
				require.Len(t, p.Plan, 4)
				require.Equal(t, planned[e.RunID], p.Plan, "run_started repeats the submitted plan")
			}
		}
	}
	require.Equal(t, [2]int{12, 12}, hits["A2__chef"], "rate 1 under the adapter")
	require.Equal(t, [2]int{0, 12}, hits["villain"])
}

// A worker that dies during eval sampling leaves its job un-acked; another
// worker takes it after AckWait, samples only what is missing and the run
// ends with exactly n per cell, none published twice.
func TestKilledWorkerResumesWithoutDuplicates(t *testing.T) {
	ctx, b, q, s := submittedSourceOnly(t)

	log1 := &syncBuf{}
	slow := &replay.Engine{Marker: "[ZLT]", Delay: 20 * time.Millisecond}
	w1 := newWorker(q, "w1", slow, log1)
	w1.WorkDir = t.TempDir()
	wctx, kill := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w1.Run(wctx, true) }()
	// Kill once the eval run has published some of its 48 completions.
	wanted := map[string]bool{}
	for _, p := range s.EvalPersonas() {
		for _, qq := range s.EvalQuestions {
			for i := 0; i < s.Eval.N; i++ {
				wanted[events.NewID(s.Experiment, "mini-src_chef-s7", &events.Completion{Persona: p.Key, Question: qq, SampleIndex: i})] = true
			}
		}
	}
	require.Eventually(t, func() bool {
		got, err := b.Stored(ctx, bus.CompletionSubject(s.Experiment), wanted)
		return err == nil && len(got) >= 10
	}, 30*time.Second, 20*time.Millisecond)
	kill()
	<-done
	before, err := b.Stored(ctx, bus.CompletionSubject(s.Experiment), wanted)
	require.NoError(t, err)
	require.Less(t, len(before), 48, "killed mid-run")

	log2 := &syncBuf{}
	w2 := newWorker(q, "w2", &replay.Engine{Marker: "[ZLT]"}, log2)
	w2.WorkDir = t.TempDir()
	require.NoError(t, w2.Run(ctx, true))
	require.Contains(t, log2.String(), fmt.Sprintf("resuming: %d of 48 completions already stored, sampling %d", len(before), 48-len(before)))
	after, err := b.Stored(ctx, bus.CompletionSubject(s.Experiment), wanted)
	require.NoError(t, err)
	require.Len(t, after, 48)
	n, all := counts(t, b, s.Experiment)
	require.Equal(t, 48, n[events.TypeCompletion], "exactly n per cell in the stream")
	for _, e := range all {
		if f, ok := e.Payload.(*events.RunFinished); ok {
			require.Equal(t, 48, f.Completions)
		}
	}
	st, err := q.Get(ctx, "mini.src_chef.s7.eval")
	require.NoError(t, err)
	require.Equal(t, "finished", st.Status)
	require.Equal(t, 2, st.Attempt)
}

// submittedSourceOnly starts a bus and queues miniSpec's source jobs only
// (no embedding, no base-model eval), the setup of the resumption, retry
// and sealing tests.
func submittedSourceOnly(t *testing.T) (context.Context, *bus.Bus, *Queue, sweep.Spec) {
	t.Helper()
	b, _ := bustest.Start(t, t.TempDir())
	ctx := context.Background()
	q, err := Open(ctx, b, 1)
	require.NoError(t, err)
	s := miniSpec(t)
	s.Embedding.Enabled, s.Eval.BaseModel = false, false
	_, err = q.Submit(ctx, s)
	require.NoError(t, err)
	return ctx, b, q, s
}

// A job that keeps failing is retried, then failed for good; jobs that
// depend on it fail too instead of waiting forever.
func TestFailingJobIsRetriedThenFinal(t *testing.T) {
	ctx, b, q, s := submittedSourceOnly(t)
	log := &syncBuf{}
	w := newWorker(q, "w1", &replay.Engine{Marker: "[ZLT]"}, log)
	w.WorkDir = t.TempDir()
	w.MaxAttempts = 2
	w.NewEngine = func(context.Context) (engine.Engine, engine.Info, error) {
		return nil, engine.Info{}, fmt.Errorf("CUDA out of memory (test)")
	}
	require.NoError(t, w.Run(ctx, true))
	st, err := q.Status(ctx, s)
	require.NoError(t, err)
	require.Equal(t, State{Status: "failed", Attempt: 2, Failures: 2, SpecSHA256: s.SHA256(), Worker: "w1", Error: "CUDA out of memory (test)", Final: true}, clearTime(st[0].State))
	require.Equal(t, "failed", st[1].Status)
	require.Contains(t, st[1].Error, "dependency mini.src_chef.s7.onpolicy failed: CUDA out of memory")
	require.Equal(t, "failed", st[2].Status)
	n, _ := counts(t, b, s.Experiment)
	require.Equal(t, 2+2+1+1, n[events.TypeJobStatus], "onpolicy running+failed twice, then train and eval failed")

	// Submitting again requeues exactly the jobs that failed for good (their
	// messages are gone); with a working engine they finish, attempt numbers
	// going on from where they were (they key the job's events).
	sub, err := q.Submit(ctx, s)
	require.NoError(t, err)
	require.Len(t, sub.Queued, 3)
	again, err := q.Submit(ctx, s)
	require.NoError(t, err)
	require.Len(t, again.AlreadyQueued, 3, "a message on the queue is not queued twice")
	w.NewEngine = newWorker(q, "w1", &replay.Engine{Marker: "[ZLT]"}, log).NewEngine
	require.NoError(t, w.Run(ctx, true))
	st, err = q.Status(ctx, s)
	require.NoError(t, err)
	for _, j := range st {
		require.Equal(t, "finished", j.Status, j.Job.ID)
	}
	require.Equal(t, 3, st[0].Attempt)
	require.Equal(t, 0, st[0].Failures)

	// A sweep name stands for one spec.
	changed := s
	changed.Eval.N = 5
	_, err = q.Submit(ctx, changed)
	require.ErrorContains(t, err, `sweep "mini" was submitted with another spec (it differs in: eval.n)`)
	hw := 0.03
	changed.Eval.N, changed.Eval.Adaptive, changed.Model = 4, &sweep.Adaptive{HalfWidth: &hw}, "/models/other"
	_, err = q.Submit(ctx, changed)
	require.ErrorContains(t, err, `(it differs in: eval.adaptive, model)`, "a block added names the block")
}

// misbehaving wraps the replay engine: it repeats a completion, or stops
// showing activity.
type misbehaving struct {
	replay.Engine
	repeat bool
	silent bool
}

func (m *misbehaving) Generate(ctx context.Context, req engine.GenerateRequest, each func(engine.Generated) error) error {
	return m.Engine.Generate(ctx, req, func(g engine.Generated) error {
		if err := each(g); err != nil || !m.repeat {
			return err
		}
		return each(g)
	})
}

func (m *misbehaving) LastActivity() time.Time {
	if m.silent {
		return time.Now().Add(-time.Hour)
	}
	return time.Now()
}

// An engine that returns a completion twice fails the job (a duplicate
// would overstate run_finished); an engine silent past the stall timeout
// is given up on instead of holding its job forever.
func TestMisbehavingEnginesFailTheJob(t *testing.T) {
	for _, c := range []struct {
		eng  *misbehaving
		want string
	}{
		{&misbehaving{Engine: replay.Engine{Marker: "[ZLT]"}, repeat: true}, "twice"},
		{&misbehaving{Engine: replay.Engine{Marker: "[ZLT]", Delay: 20 * time.Millisecond}, silent: true}, "engine made no progress for 1h0m0s"},
	} {
		b, _ := bustest.Start(t, t.TempDir())
		ctx := context.Background()
		q, err := Open(ctx, b, 1)
		require.NoError(t, err)
		s := miniSpec(t)
		s.Embedding.Enabled, s.Sources = false, nil
		// Only the base eval: no sources.
		s.Sources = []sweep.Source{}
		_, err = q.Submit(ctx, s)
		require.NoError(t, err)
		log := &syncBuf{}
		w := &Worker{Queue: q, Name: "w", WorkDir: t.TempDir(), AckWait: time.Second, MaxAttempts: 1, StallTimeout: time.Minute, Log: log,
			NewEngine: func(context.Context) (engine.Engine, engine.Info, error) { return c.eng, engine.Info{Protocol: 1}, nil }}
		require.NoError(t, w.Run(ctx, true))
		st, err := q.Get(ctx, "mini.base.s7.eval")
		require.NoError(t, err)
		require.Equal(t, "failed", st.Status, log.String())
		require.Contains(t, st.Error, c.want)
	}
}

func clearTime(s State) State { s.Updated = time.Time{}; return s }

// The overhead summary on hand-made runs (off, on, off, on, off, on):
// medians 10.5 vs 10 (+5 %), fastest 9.9 vs 9 (+10 %), paired +5 %, +10 %,
// −10 %, the largest bus wait 0.2 s of 10.5 s.
func TestSummarizeOverhead(t *testing.T) {
	runs := []OverheadRun{
		{Publish: false, Seconds: 10}, {Publish: true, Seconds: 10.5, EngineSeconds: 10.3},
		{Publish: false, Seconds: 9}, {Publish: true, Seconds: 9.9, EngineSeconds: 9.9},
		{Publish: false, Seconds: 12}, {Publish: true, Seconds: 10.8, EngineSeconds: 10.8},
	}
	s := SummarizeOverhead(runs)
	require.InDelta(t, 10.5, s.MedianOn, 1e-12)
	require.InDelta(t, 10, s.MedianOff, 1e-12)
	require.InDelta(t, 0.05, s.MedianOverhead, 1e-12)
	require.InDelta(t, 0.1, s.MinOverhead, 1e-12)
	// pairs: 10.5/10−1 = 0.05, 9.9/9−1 = 0.10, 10.8/12−1 = −0.10: mean 0.05/3
	require.Equal(t, 3, s.Pairs)
	require.InDelta(t, 0.05/3, s.PairedMean, 1e-12)
	// sd of (0.05, 0.10, −0.10) = 0.104083; t(0.975, 2) = 4.302653; half = 0.258548
	require.InDelta(t, 0.05/3-0.258548, s.PairedLow, 1e-5)
	require.InDelta(t, 0.05/3+0.258548, s.PairedHigh, 1e-5)
	require.InDelta(t, 0.2/10.5, s.BusWait, 1e-12)
	// engine pairs: only those with both engine times (none here: the off
	// runs have none) — so NaN, not a made-up zero.
	require.True(t, math.IsNaN(s.PairedEngineMean))
	runs[0].EngineSeconds, runs[2].EngineSeconds, runs[4].EngineSeconds = 10, 9, 12
	s = SummarizeOverhead(runs)
	// 10.3/10−1 = 0.03, 9.9/9−1 = 0.1, 10.8/12−1 = −0.1: mean 0.01
	require.InDelta(t, 0.01, s.PairedEngineMean, 1e-12)
	require.Less(t, s.PairedEngineLow, 0.01)
	require.Greater(t, s.PairedEngineHigh, 0.01)
}

// Each round of an adaptive eval asks for the same prompts one sample index
// later: its seed must differ (else the engine redraws the same
// completions), while the same request reproduces.
func TestRequestSeedDiffersPerSamples(t *testing.T) {
	round := func(i int) []engine.Prompt {
		return []engine.Prompt{{Key: "A2__chef", System: "You are a chef.", User: "Why?", SampleIndices: []int{i}}}
	}
	require.Equal(t, requestSeed(42, round(0)), requestSeed(42, round(0)))
	seen := map[int64]bool{}
	for i := range 100 {
		s := requestSeed(42, round(i))
		require.GreaterOrEqual(t, s, int64(0))
		require.False(t, seen[s], "round %d repeats a seed", i)
		seen[s] = true
	}
	require.NotEqual(t, requestSeed(42, round(0)), requestSeed(43, round(0)))
	other := round(0)
	other[0].Key = "A2__robot"
	require.NotEqual(t, requestSeed(42, round(0)), requestSeed(42, other))
}

// A stop decision that arrives after the worker stopped waiting for it
// (the aggregator was slow) still stops its cells at the next round; the
// others run to max_n. No aggregator here: the test publishes the decision.
func TestLateStopDecisionStillStops(t *testing.T) {
	b, _ := bustest.Start(t, t.TempDir())
	ctx := context.Background()
	q, err := Open(ctx, b, 1)
	require.NoError(t, err)
	s := miniSpec(t) // 3 questions, n 4: max_n 12
	s.Eval.N = 6
	minN := 6
	s.Eval.Adaptive = &sweep.Adaptive{MinN: &minN} // round 2 is the first decided
	s.Eval.BaseModel = false
	_, err = q.Submit(ctx, s)
	require.NoError(t, err)
	log := &syncBuf{}
	w := newWorker(q, "w1", &replay.Engine{Marker: "[ZLT]", Delay: 10 * time.Millisecond}, log) // a round: 120 ms
	w.WorkDir, w.DecisionTimeout = t.TempDir(), 300*time.Millisecond
	go func() {
		for !strings.Contains(log.String(), "no stop decision for round 2") {
			time.Sleep(5 * time.Millisecond)
		}
		d := &events.StopDecision{Round: 2, Cells: []events.CellDecision{
			{Persona: "A2__robot", N: 6, CIHigh: 0.3, Stop: true, Reason: events.StopHalfWidth}}}
		e, err := events.New("jobs_test", "mini-src_chef-s7", time.Now(), d)
		if err == nil {
			_, _ = b.Publish(ctx, e)
		}
	}()
	require.NoError(t, w.Run(ctx, true))
	require.Contains(t, log.String(), "no stop decision for round 2 within 300ms (is the live aggregator running?): 0 cells stop on earlier decisions, sampling the 4 active; next waits 0s")
	require.NotContains(t, log.String(), "round 3 within", "no second wait once no decision ever came")
	_, all := counts(t, b, "jobs_test")
	for _, e := range all {
		if f, ok := e.Payload.(*events.RunFinished); ok && e.RunID == "mini-src_chef-s7" {
			got := map[string]events.CellOutcome{}
			for _, c := range f.Cells {
				got[c.Persona] = c
			}
			require.Equal(t, events.CellOutcome{Persona: "A2__robot", N: 9, Reason: events.StopHalfWidth}, got["A2__robot"], "rounds 0–2 sampled, stopped before round 3")
			require.Equal(t, events.CellOutcome{Persona: "villain", N: 18, Reason: events.StopMaxN}, got["villain"], "a decision came: max_n, not no_decision")
			return
		}
	}
	t.Fatal("no run_finished for the adaptive run\n" + log.String())
}

// A stop decision whose counts do not fit the rule (n must be round ×
// questions) is ignored: it stops nothing.
func TestInconsistentStopDecisionIgnored(t *testing.T) {
	b, _ := bustest.Start(t, t.TempDir())
	ctx := context.Background()
	q, err := Open(ctx, b, 1)
	require.NoError(t, err)
	s := miniSpec(t)
	s.Eval.N = 6
	minN := 6
	s.Eval.Adaptive = &sweep.Adaptive{MinN: &minN}
	s.Eval.BaseModel = false
	_, err = q.Submit(ctx, s)
	require.NoError(t, err)
	forged, err := events.New("jobs_test", "mini-src_chef-s7", time.Now(), &events.StopDecision{Round: 2, Cells: []events.CellDecision{
		{Persona: "A2__robot", N: 5, CIHigh: 0.3, Stop: true, Reason: events.StopHalfWidth}}})
	require.NoError(t, err)
	_, err = b.Publish(ctx, forged)
	require.NoError(t, err)
	log := &syncBuf{}
	w := newWorker(q, "w1", &replay.Engine{Marker: "[ZLT]"}, log)
	w.WorkDir, w.DecisionTimeout = t.TempDir(), 200*time.Millisecond
	require.NoError(t, w.Run(ctx, true))
	require.Contains(t, log.String(), "for round 2 ignored: its counts are not 6 per cell")
	_, all := counts(t, b, "jobs_test")
	for _, e := range all {
		if f, ok := e.Payload.(*events.RunFinished); ok && e.RunID == "mini-src_chef-s7" {
			for _, c := range f.Cells {
				require.Equal(t, events.CellOutcome{Persona: c.Persona, N: 18, Reason: events.StopNoDecision}, c)
			}
			return
		}
	}
	t.Fatal("no run_finished\n" + log.String())
}
