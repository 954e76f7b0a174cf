// Package replay is the replay engine: it re-publishes a recorded run
// completion by completion, at a chosen rate, through the same runner a
// GPU worker uses — to demo and test the live path without a GPU, and to
// load the system in benchmarks.
package replay

import (
	"context"
	"math/rand/v2"
	"sort"
	"time"

	"leakscope/events"
	"leakscope/gpuworker/runner"
)

// Plan counts the completions per persona: the run's declared cells.
func Plan(comps []events.Completion) []events.PlannedCell {
	n := map[string]int{}
	for _, c := range comps {
		n[c.Persona]++
	}
	out := make([]events.PlannedCell, 0, len(n))
	for p, k := range n {
		out = append(out, events.PlannedCell{Persona: p, Expected: k})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Persona < out[j].Persona })
	return out
}

// Options pace the replay.
type Options struct {
	// Rate is completions per second (0: as fast as the bus takes them).
	Rate float64
	// Jitter spreads the gaps uniformly over [0.5, 1.5] × 1/Rate.
	Jitter bool
	Seed   uint64
}

// Run publishes comps through r at the chosen pace and returns how many it
// published; it stops early, with ctx's error, when ctx ends.
func Run(ctx context.Context, r *runner.Runner, comps []events.Completion, opt Options) (int, error) {
	rng := rand.New(rand.NewPCG(opt.Seed, 0x7265706c6179))
	next := time.Now()
	for i, c := range comps {
		if opt.Rate > 0 {
			gap := time.Duration(float64(time.Second) / opt.Rate)
			if opt.Jitter {
				gap = time.Duration(float64(gap) * (0.5 + rng.Float64()))
			}
			next = next.Add(gap)
			select {
			case <-ctx.Done():
				return i, ctx.Err()
			case <-time.After(time.Until(next)):
			}
		}
		if err := r.Completion(ctx, c); err != nil {
			return i, err
		}
	}
	return len(comps), nil
}
