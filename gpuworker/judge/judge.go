package judge

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"leakscope/events"
)

// Item is one completion that may be judged.
type Item struct {
	Experiment, RunID string
	CompletionID      string
	Persona           string
	PersonaPrompt     string
	QuestionSet       string
	Question          string
	SampleIndex       int
	Text              string
	// Scored is true when this judge configuration already scored it;
	// Failures counts its failed calls so far.
	Scored   bool
	Failures int
}

// Select picks perCell completions of every (run, persona, question set,
// question) cell without replacement, with an RNG seeded from (seed, cell):
// a cell's choice does not depend on the other cells, and the seed is
// recorded in every event. perCell <= 0 selects everything.
func Select(items []Item, perCell int, seed uint64) []Item {
	type cellKey struct{ run, persona, qset, question string }
	cells := map[cellKey][]Item{}
	var order []cellKey
	for _, it := range items {
		k := cellKey{it.RunID, it.Persona, it.QuestionSet, it.Question}
		if _, ok := cells[k]; !ok {
			order = append(order, k)
		}
		cells[k] = append(cells[k], it)
	}
	var out []Item
	for _, k := range order {
		c := cells[k]
		sort.Slice(c, func(i, j int) bool { return c[i].SampleIndex < c[j].SampleIndex })
		if perCell <= 0 || perCell >= len(c) {
			out = append(out, c...)
			continue
		}
		h := fnv.New64a()
		fmt.Fprintf(h, "%d\x00%s\x00%s\x00%s\x00%s", seed, k.run, k.persona, k.qset, k.question)
		rng := rand.New(rand.NewPCG(h.Sum64(), seed))
		for _, i := range rng.Perm(len(c))[:perCell] {
			out = append(out, c[i])
		}
	}
	return out
}

// Config is one judge run's configuration.
type Config struct {
	Provider    Provider
	Prompt      Prompt
	Retry       Retry
	Concurrency int // calls in flight at once (>= 1)
	Seed        uint64
	Now         func() time.Time
}

// JudgeName identifies the judge configuration in events: prompt name,
// provider and model. Together with the prompt version it decides what
// counts as "already judged".
func (c Config) JudgeName() string { return c.Prompt.Name + "/" + c.Provider.Name() }

// Summary counts what a run did.
type Summary struct {
	Judged, Failed, Calls     int
	CallFailed                int // failures where no reply came back (not unparseable replies)
	InputTokens, OutputTokens int
	Skipped                   int // already scored by this configuration
}

// Run judges the items not yet scored, concurrently, and hands every
// outcome to publish as a coherence_score event: a score, or a failure
// with its reason and attempt number (so a later run retries it). It stops
// at the first publish error.
func Run(ctx context.Context, cfg Config, items []Item, publish func(context.Context, events.Event) error, progress func(done int)) (Summary, error) {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Retry.Attempts < 1 {
		cfg.Retry = DefaultRetry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var sum Summary
	var todo []Item
	for _, it := range items {
		if it.Scored {
			sum.Skipped++
			continue
		}
		todo = append(todo, it)
	}
	var (
		mu       sync.Mutex
		firstErr error
		done     int
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan Item)
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				ev, calls, err := judgeOne(ctx, cfg, it)
				if err == nil {
					err = publish(ctx, ev)
				}
				mu.Lock()
				sum.Calls += calls
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				if err == nil {
					s := ev.Payload.(*events.CoherenceScore)
					if s.Failed {
						sum.Failed++
						if strings.HasPrefix(s.Reason, "call failed") {
							sum.CallFailed++
						}
					} else {
						sum.Judged++
					}
					if s.InputTokens != nil {
						sum.InputTokens += *s.InputTokens
					}
					if s.OutputTokens != nil {
						sum.OutputTokens += *s.OutputTokens
					}
				}
				done++
				if progress != nil {
					progress(done)
				}
				mu.Unlock()
			}
		}()
	}
	for _, it := range todo {
		select {
		case work <- it:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return sum, firstErr
	}
	return sum, context.Cause(ctx)
}

// judgeOne calls the judge for one completion and builds its event. Only a
// cancelled context is an error: a failed call is an outcome.
func judgeOne(ctx context.Context, cfg Config, it Item) (events.Event, int, error) {
	user := cfg.Prompt.Render(it.PersonaPrompt, it.Question, it.Text)
	rep, calls, err := cfg.Retry.call(ctx, cfg.Provider, cfg.Prompt.System, user)
	if ctx.Err() != nil {
		return events.Event{}, calls, ctx.Err()
	}
	seed := cfg.Seed
	s := &events.CoherenceScore{Persona: it.Persona, Question: it.Question, QuestionSet: it.QuestionSet, SampleIndex: it.SampleIndex,
		CompletionID: it.CompletionID, Judge: cfg.JudgeName(), JudgeVersion: cfg.Prompt.Version, SelectionSeed: &seed,
		InputTokens: rep.InputTokens, OutputTokens: rep.OutputTokens, Reply: cut(rep.Text, 200)}
	if err == nil {
		score, perr := ParseScore(rep.Text)
		if perr == nil {
			s.Score = &score
		} else {
			err = fmt.Errorf("unparseable reply (%s): %w", ParseRule, perr)
		}
	} else {
		err = fmt.Errorf("call failed after %d attempt(s): %w", calls, err)
	}
	if err != nil {
		s.Failed, s.Reason, s.Attempt = true, cut(err.Error(), 500), it.Failures+1
	}
	ev, verr := events.New(it.Experiment, it.RunID, cfg.Now(), s)
	return ev, calls, verr
}
