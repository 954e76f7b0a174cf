// Package judgecmd is the coherence judge's command, shared by
// "leakscope judge" (the one-machine stack) and the leakscope-judge service
// (an external bus): it selects completions from the lake, calls the
// judge, and publishes every score and failure as an event.
package judgecmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"leakscope/events"
	"leakscope/gpuworker/judge"
	"leakscope/query"
)

// Bus is where scores go: publish, then wait until ingest committed them.
type Bus interface {
	Publish(ctx context.Context, e events.Event) (*jetstream.PubAck, error)
	WaitDurable(ctx context.Context, seq uint64, progress func(uint64)) error
}

// Env is what the hosting command provides.
type Env struct {
	// Lake is the lake directory the candidates are read from.
	Lake func() string
	// Open connects to the bus (and, on one machine, starts ingest);
	// close releases it.
	Open func(ctx context.Context) (b Bus, close func(), err error)
	// Progress shows progress on a run of total calls (nil: none).
	Progress func(w io.Writer, total int) (set func(done int), done func())
	// Metrics counts outcomes (nil: none).
	Metrics *Metrics
}

type judgeFlags struct {
	experiment, run      string
	provider, model      string
	baseURL, apiKeyEnv   string
	promptFile           string
	personaPrompts       string
	perCell, concurrency int
	retries              int
	seed                 uint64
	timeout              time.Duration
	dryRun               bool
}

// Cmd is the judge command ("judge" or the service's root).
func Cmd(use string, env Env) *cobra.Command {
	f := &judgeFlags{}
	name := strings.Fields(use)[0] // "judge" under leakscope, "leakscope-judge" alone
	if name == "judge" {
		name = "leakscope judge"
	}
	cmd := &cobra.Command{
		Use:   use + " --experiment E --provider anthropic|openai --model M",
		Short: "Score completions with an LLM judge; every score and every failure becomes an event",
		Long: `judge selects completions of an experiment from the lake (by default 3 of the
samples of every persona × question cell, chosen by a seeded RNG whose seed is
recorded in every event), sends each with the judge prompt (EXPERIMENT.md §4,
verbatim; the reply rates how in-character the response is), parses the reply by
the rule "first unsigned number, clamped to [0,1]" and publishes a
coherence_score event — or a failure event with the reason. Calls are retried on
429, 5xx and timeouts with backoff, honouring Retry-After. Completions this judge
configuration (prompt name and version, provider, model) already scored are
skipped, so an interrupted run is resumed by running it again.

Providers: anthropic (Messages API; key from $ANTHROPIC_API_KEY) or openai (any
OpenAI-compatible chat-completions endpoint, e.g. a self-hosted judge behind
vLLM; key from $OPENAI_API_KEY when it needs one).

Examples:
  leakscope judge --experiment issue_205 --provider anthropic --model claude-sonnet-4-5-20250929 --dry-run
  leakscope judge --experiment E --provider openai --base-url http://127.0.0.1:8000 --model qwen-judge
  leakscope analyze judge-summary --experiment E`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runJudge(cmd.Context(), env, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Long = strings.ReplaceAll(cmd.Long, "leakscope judge ", name+" ")
	fl := cmd.Flags()
	fl.StringVar(&f.experiment, "experiment", "", "experiment whose completions to judge")
	fl.StringVar(&f.run, "run", "", "only this run")
	fl.StringVar(&f.provider, "provider", "anthropic", "anthropic or openai (any OpenAI-compatible endpoint)")
	fl.StringVar(&f.model, "model", "", "judge model name")
	fl.StringVar(&f.baseURL, "base-url", "", "API base URL (default: the provider's public API)")
	fl.StringVar(&f.apiKeyEnv, "api-key-env", "", "environment variable holding the API key (default ANTHROPIC_API_KEY or OPENAI_API_KEY)")
	fl.StringVar(&f.promptFile, "prompt", "", "judge prompt file (JSON: name, version, system, user, max_response_chars); default the authors' in-character prompt v1")
	fl.StringVar(&f.personaPrompts, "persona-prompts", "", "JSON file {persona: system prompt} for completions stored without their system prompt (most imported results)")
	fl.IntVar(&f.perCell, "per-cell", 3, "completions judged per persona × question cell (0 = all)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the per-cell selection")
	fl.IntVar(&f.concurrency, "concurrency", 8, "calls in flight at once")
	fl.IntVar(&f.retries, "retries", 5, "attempts per call on 429, 5xx and timeouts")
	fl.DurationVar(&f.timeout, "timeout", 60*time.Second, "timeout of one call")
	fl.BoolVar(&f.dryRun, "dry-run", false, "say what would be judged and call nothing")
	_ = cmd.MarkFlagRequired("experiment")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

func (f *judgeFlags) provider_() (judge.Provider, error) {
	env, base := f.apiKeyEnv, f.baseURL
	switch f.provider {
	case "anthropic":
		env, base = or(env, "ANTHROPIC_API_KEY"), or(base, "https://api.anthropic.com")
	case "openai":
		env, base = or(env, "OPENAI_API_KEY"), or(base, "https://api.openai.com")
	default:
		return nil, fmt.Errorf("--provider %q: want anthropic or openai", f.provider)
	}
	hc := judge.HTTPConfig{BaseURL: base, APIKey: os.Getenv(env), Model: f.model, Timeout: f.timeout}
	if f.provider == "anthropic" {
		if hc.APIKey == "" && !f.dryRun {
			return nil, fmt.Errorf("no API key: set $%s (or name another variable with --api-key-env)", env)
		}
		return judge.Anthropic{HTTPConfig: hc}, nil
	}
	return judge.OpenAI{HTTPConfig: hc}, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func runJudge(ctx context.Context, env Env, f *judgeFlags, out, errw io.Writer) error {
	switch {
	case f.model == "":
		return errors.New("--model is empty")
	case f.concurrency < 1:
		return fmt.Errorf("--concurrency %d: want at least 1", f.concurrency)
	case f.perCell < 0:
		return fmt.Errorf("--per-cell %d: want 0 (all) or more", f.perCell)
	case f.timeout <= 0:
		return fmt.Errorf("--timeout %s: want a positive duration", f.timeout)
	}
	prov, err := f.provider_()
	if err != nil {
		return err
	}
	prompt := judge.InCharacterV1
	if f.promptFile != "" {
		if prompt, err = judge.LoadPrompt(f.promptFile); err != nil {
			return err
		}
	}
	cfg := judge.Config{Provider: prov, Prompt: prompt, Concurrency: f.concurrency, Seed: f.seed,
		Retry: judge.Retry{Attempts: max(1, f.retries), Base: time.Second, Max: 30 * time.Second}}
	items, noPrompt, err := judgeCandidates(ctx, env.Lake(), f, cfg)
	if err != nil {
		return err
	}
	todo := 0
	for _, it := range items {
		if !it.Scored {
			todo++
		}
	}
	fmt.Fprintf(out, "judge %s v%d: %d completions selected (%d per cell, seed %d), %d already scored, %d to judge\n",
		cfg.JudgeName(), prompt.Version, len(items), f.perCell, f.seed, len(items)-todo, todo)
	if noPrompt > 0 {
		fmt.Fprintf(out, "skipped %d completions whose system prompt was never recorded: the judge prompt needs it (give them with --persona-prompts FILE.json)\n", noPrompt)
	}
	if f.dryRun || todo == 0 {
		return nil
	}
	st, closeBus, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer closeBus()
	var mu sync.Mutex
	var lastSeq uint64
	set, done := func(int) {}, func() {}
	if env.Progress != nil {
		set, done = env.Progress(errw, todo)
	}
	sum, err := judge.Run(ctx, cfg, items, func(ctx context.Context, e events.Event) error {
		ack, err := st.Publish(ctx, e)
		if err != nil {
			return err
		}
		env.Metrics.count(e)
		mu.Lock()
		lastSeq = max(lastSeq, ack.Sequence)
		mu.Unlock()
		return nil
	}, set)
	done()
	if lastSeq > 0 {
		if werr := st.WaitDurable(ctx, lastSeq, nil); werr != nil && err == nil {
			err = werr
		}
	}
	fmt.Fprintf(out, "judged %d, failed %d (%d calls, %d input + %d output tokens); every outcome is an event\n",
		sum.Judged, sum.Failed, sum.Calls, sum.InputTokens, sum.OutputTokens)
	if n := sum.Judged + sum.Failed; n > 0 && float64(sum.Failed)/float64(n) > 0.10 {
		fmt.Fprintf(out, "warning: %.0f%% of calls failed (above 10%%): run again to retry them, and check the judge\n", 100*float64(sum.Failed)/float64(n))
	}
	if err == nil && sum.Judged == 0 && sum.CallFailed > 0 && sum.CallFailed == sum.Failed {
		err = fmt.Errorf("every call failed (%d, no reply came back): check the provider, the model name and the key; run again to retry", sum.Failed)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: %d outcomes are stored; run the same command again to finish", sum.Judged+sum.Failed)
	}
	return err
}

// judgeCandidates lists the experiment's completions with what this judge
// configuration already did to each, and applies the per-cell selection.
func judgeCandidates(ctx context.Context, lake string, f *judgeFlags, cfg judge.Config) ([]judge.Item, int, error) {
	e, err := query.Open(lake)
	if err != nil {
		return nil, 0, err
	}
	defer e.Close()
	res, err := e.SQL(ctx, `
WITH done AS (
  SELECT run_id, persona, question_set, question, sample_index,
         bool_or(NOT failed) AS scored, count(*) FILTER (WHERE failed) AS failures
  FROM coherence WHERE experiment = $1 AND judge = $3 AND judge_version = $4 GROUP BY ALL)
SELECT c.run_id, c.event_id, c.persona, c.persona_prompt, c.question_set, c.question, c.sample_index, c.text,
       coalesce(d.scored, false), coalesce(d.failures, 0)
FROM completions c LEFT JOIN done d USING (run_id, persona, question_set, question, sample_index)
WHERE c.experiment = $1 AND ($2 = '' OR c.run_id = $2)
ORDER BY c.run_id, c.persona, c.question_set, c.question, c.sample_index`, f.experiment, f.run, cfg.JudgeName(), cfg.Prompt.Version)
	if err != nil {
		return nil, 0, err
	}
	if len(res.Rows) == 0 {
		return nil, 0, fmt.Errorf("experiment %q%s has no completions in the lake at %s (judge reads completions, not imported aggregates)", f.experiment, runClause(f.run), lake)
	}
	prompts := map[string]string{}
	if f.personaPrompts != "" {
		b, err := os.ReadFile(f.personaPrompts)
		if err != nil {
			return nil, 0, fmt.Errorf("--persona-prompts: %w", err)
		}
		if err := json.Unmarshal(b, &prompts); err != nil {
			return nil, 0, fmt.Errorf("--persona-prompts %s: want a JSON object {persona: prompt}: %w", f.personaPrompts, err)
		}
	}
	var items []judge.Item
	noPrompt := 0
	for _, r := range res.Rows {
		it := judge.Item{Experiment: f.experiment, RunID: r[0].(string), CompletionID: r[1].(string), Persona: r[2].(string),
			PersonaPrompt: r[3].(string), QuestionSet: r[4].(string), Question: r[5].(string), SampleIndex: int(r[6].(int64)),
			Text: r[7].(string), Scored: r[8] == true, Failures: int(r[9].(int64))}
		if it.PersonaPrompt == "" {
			it.PersonaPrompt = prompts[it.Persona]
		}
		if it.PersonaPrompt == "" {
			noPrompt++
			continue
		}
		items = append(items, it)
	}
	return judge.Select(items, f.perCell, f.seed), noPrompt, nil
}

func runClause(run string) string {
	if run == "" {
		return ""
	}
	return " run " + run
}
