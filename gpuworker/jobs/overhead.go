package jobs

import (
	"context"
	"fmt"
	"time"

	"leakscope/events"
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/sweep"
)

// OverheadRun is one timed eval of the overhead measurement.
type OverheadRun struct {
	Publish bool
	// Seconds is the wall time of eval sampling: from the first generate
	// request until every completion is sampled and (when publishing)
	// acknowledged by the bus.
	Seconds float64
	// EngineSeconds is when the engine returned its last completion; the
	// rest of Seconds is the wait for the bus to acknowledge the queue.
	EngineSeconds float64
	Completions   int
}

// MeasureOverhead runs the eval of one finished source (its adapter from
// the artifact store) repeatedly on the same engine, alternating publishing
// off and on, after one unmeasured warm-up: the cost of publishing every
// completion as it is sampled; each (may be nil) sees every measured run
// as it ends. Publishing runs write to the experiment
// "<experiment>_overhead" under fresh run IDs so nothing is resumed.
func (w *Worker) MeasureOverhead(ctx context.Context, s sweep.Spec, source string, seed int64, repeats int, each func(OverheadRun)) ([]OverheadRun, error) {
	w.defaults()
	defer func() {
		if e := w.current(); e != nil {
			_ = e.Close()
			w.setEngine(nil, engine.Info{})
		}
	}()
	if _, ok := s.Source(source); !ok {
		return nil, fmt.Errorf("source %q is not in the sweep", source)
	}
	s.Experiment += "_overhead"
	s.Eval.BaseModel = false
	stamp := time.Now().UTC().Format("150405")
	var out []OverheadRun
	for i := -1; i < 2*repeats; i++ {
		publish := i >= 0 && i%2 == 1
		j := sweep.Job{ID: sweep.JobID(s.Sweep, source, seed, events.JobEval), Kind: events.JobEval, Source: source, Seed: seed,
			RunID: fmt.Sprintf("%s-overhead-%s-%d", s.RunID(source, seed), stamp, i+1)}
		w.NoPublish = !publish
		start := time.Now()
		res, err := w.eval(ctx, Message{Job: j, Spec: s}, 1)
		if err != nil {
			return out, err
		}
		if i >= 0 { // i = -1 warms up CUDA kernels and caches
			eng, _ := res.Detail["engine_seconds"].(float64)
			r := OverheadRun{Publish: publish, Seconds: time.Since(start).Seconds(), EngineSeconds: eng, Completions: res.Done}
			out = append(out, r)
			if each != nil {
				each(r)
			}
		}
	}
	return out, nil
}
