package jobs

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

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
	// JobSeconds is the whole eval job: adapter fetch and load, sampling,
	// run_started/run_finished.
	JobSeconds  float64
	Completions int
}

// MeasureOverhead runs the eval of one finished source (its sealed
// adapter) repeatedly on the same engine, alternating publishing
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
	s.Eval.Adaptive = nil // every run samples the same completions
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
			sampling, _ := res.Detail["sampling_seconds"].(float64)
			r := OverheadRun{Publish: publish, Seconds: sampling, EngineSeconds: eng, JobSeconds: time.Since(start).Seconds(), Completions: res.Done}
			out = append(out, r)
			if each != nil {
				each(r)
			}
		}
	}
	return out, nil
}

// OverheadSummary condenses an overhead measurement. Rates are fractions
// (0.02 = 2 %).
type OverheadSummary struct {
	// MedianOn/MedianOff are the median wall times (s) with and without publishing.
	MedianOn, MedianOff float64
	// MedianOverhead is MedianOn/MedianOff − 1; MinOverhead compares the fastest runs.
	MedianOverhead, MinOverhead float64
	// PairedMean is the mean of (on_i − off_i)/off_i over the consecutive
	// off/on pairs (the runs alternate, so slow drift cancels within a pair);
	// PairedLow/PairedHigh is its 95 % Student-t interval (NaN with one pair).
	PairedMean, PairedLow, PairedHigh float64
	// PairedEngine* is the same estimator on the engine's time alone (until
	// its last completion): what publishing costs sampling through
	// contention for the machine, without the final wait for the bus.
	PairedEngineMean, PairedEngineLow, PairedEngineHigh float64
	Pairs                                               int
	// BusWait is the largest share of a publishing run spent after the
	// engine's last completion, waiting for acknowledgements.
	BusWait float64
}

// SummarizeOverhead summarises runs in the order MeasureOverhead made them
// (off, on, off, on, …).
func SummarizeOverhead(runs []OverheadRun) OverheadSummary {
	var on, off, rel, relEngine []float64
	var s OverheadSummary
	for i, r := range runs {
		if r.Publish {
			on = append(on, r.Seconds)
			if r.EngineSeconds > 0 {
				s.BusWait = max(s.BusWait, (r.Seconds-r.EngineSeconds)/r.Seconds)
			}
			if i > 0 && !runs[i-1].Publish {
				rel = append(rel, r.Seconds/runs[i-1].Seconds-1)
				if r.EngineSeconds > 0 && runs[i-1].EngineSeconds > 0 {
					relEngine = append(relEngine, r.EngineSeconds/runs[i-1].EngineSeconds-1)
				}
			}
		} else {
			off = append(off, r.Seconds)
		}
	}
	if len(on) == 0 || len(off) == 0 {
		return s
	}
	sort.Float64s(on)
	sort.Float64s(off)
	s.MedianOn, s.MedianOff = stat.Quantile(0.5, stat.Empirical, on, nil), stat.Quantile(0.5, stat.Empirical, off, nil)
	s.MedianOverhead, s.MinOverhead = s.MedianOn/s.MedianOff-1, on[0]/off[0]-1
	s.Pairs = len(rel)
	s.PairedMean, s.PairedLow, s.PairedHigh = meanInterval(rel)
	s.PairedEngineMean, s.PairedEngineLow, s.PairedEngineHigh = meanInterval(relEngine)
	return s
}

// meanInterval is the mean of xs with its 95 % Student-t interval (NaN
// bounds below two values; all NaN for none).
func meanInterval(xs []float64) (mean, low, high float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	mean = stat.Mean(xs, nil)
	if len(xs) < 2 {
		return mean, math.NaN(), math.NaN()
	}
	half := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(xs) - 1)}.Quantile(0.975) * stat.StdDev(xs, nil) / math.Sqrt(float64(len(xs)))
	return mean, mean - half, mean + half
}
