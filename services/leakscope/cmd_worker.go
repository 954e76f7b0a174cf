package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"leakscope/events"
	"leakscope/gpuworker/importer"
	"leakscope/gpuworker/replay"
	"leakscope/gpuworker/runner"
	"leakscope/query"
	"leakscope/services/internal/workercmd"
)

type workerFlags struct {
	jobs                     workercmd.WorkerFlags
	ackWaitSet               bool
	engine, from, fromRun    string
	asRun, experiment, sweep string
	worker                   string
	rate                     float64
	jitter                   bool
	heartbeat                time.Duration
}

func newWorkerCmd(g *globals) *cobra.Command {
	f := &workerFlags{}
	cmd := &cobra.Command{
		Use:   "worker --engine hf | --engine openai --base-url URL --model NAME | --engine replay [--from SOURCE --as-run NAME]",
		Short: "Take sweep jobs (engine hf: the GPU), or re-publish a recorded run live (replay)",
		Long: `Without --from, worker takes the jobs of submitted sweeps ('leakscope sweep
submit SPEC') from the job queue and runs them: --engine hf drives the Python
engine (torch, transformers, peft) on this machine's GPU; --engine openai
sends on-policy and eval sampling to a running OpenAI-compatible server
(vLLM, SGLang, TGI: --base-url, --model, --adapter-dir; it declines training
and embeddings, which go back to the queue for an hf worker); --engine replay
answers without a GPU (synthetic text, marker rates from --replay-rates and,
with --replay-synthetic, a synthetic leakage model for the others) to
try the job system. On GPU machines the static 'gpuworker' binary does the
same without DuckDB.

With --from, worker runs one engine over one run, publishing through the same path a GPU
worker uses: run_started (with the sweep and the plan of cells), every completion
with the marker hits of every detector, a heartbeat every --heartbeat, and
run_finished.

The replay engine re-publishes a recorded run completion by completion at --rate
per second — to watch the live view without a GPU, and to load the system. SOURCE
is a results file (e.g. a per-completion list or raw completions file; --from-run
picks a run when it holds several) or lake:EXPERIMENT/RUN for a run already in the
lake. Restarting with the same --as-run completes the run without double counting.

Without --nats-url it publishes to a running 'leakscope up' on the same --data,
else to an embedded server with ingest of its own.

Examples:
  leakscope worker --engine openai --base-url http://127.0.0.1:8000/v1 --model qwen --adapter-dir /shared/adapters
  leakscope worker --engine replay --from ../shared/fixtures/directed_trait_transfer/asst_near_marker/arm_a_completions.json \
      --experiment demo --sweep demo --as-run asst_near --rate 200
  leakscope worker --engine replay --from lake:issue_205/E0_assistant --as-run e0-again --rate 50 --jitter`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.ackWaitSet = cmd.Flag("ack-wait").Changed
			return runWorker(cmd.Context(), g, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.engine, "engine", "replay", "engine: hf (Python engine on a GPU, takes jobs), openai (sampling jobs on an OpenAI-compatible server) or replay (no GPU)")
	workercmd.AddWorkerFlags(cmd, &f.jobs, false)
	workercmd.AddServerFlags(cmd, &f.jobs)
	fl.StringVar(&f.from, "from", "", "replay source: a results file, or lake:EXPERIMENT/RUN")
	fl.StringVar(&f.fromRun, "from-run", "", "run of the source file to replay (when it holds several)")
	fl.StringVar(&f.asRun, "as-run", "", "run ID of the new run")
	fl.StringVar(&f.experiment, "experiment", "live", "experiment of the new run")
	fl.StringVar(&f.sweep, "sweep", "", "sweep of the new run (default: the experiment)")
	fl.StringVar(&f.worker, "worker", "", "worker ID in heartbeats (default replay-<as-run>)")
	fl.Float64Var(&f.rate, "rate", 0, "completions per second (0: as fast as possible)")
	fl.BoolVar(&f.jitter, "jitter", false, "randomise the gaps between completions (0.5–1.5 × 1/rate)")
	fl.DurationVar(&f.heartbeat, "heartbeat", time.Second, "heartbeat interval")
	return cmd
}

func runWorker(ctx context.Context, g *globals, f *workerFlags, out, errw io.Writer) error {
	if f.from == "" {
		// Job mode: take sweep jobs from the queue.
		f.jobs.Engine, f.jobs.Heartbeat = f.engine, f.heartbeat
		f.jobs.SetAckWait = f.ackWaitSet
		if f.jobs.Name == "" {
			f.jobs.Name = f.worker
		}
		st, err := startStack(ctx, g, stackOpts{withIngest: g.natsURL == "", reuseUp: true})
		if err != nil {
			return err
		}
		defer st.Close()
		if err := workercmd.RunJobs(ctx, st.Bus, f.jobs, errw); err != nil && ctx.Err() == nil {
			return err
		}
		return nil // interrupted: a job in progress goes to another worker after the ack wait
	}
	if f.engine != "replay" {
		return fmt.Errorf("--engine %q with --from: only the replay engine re-publishes a recorded run", f.engine)
	}
	if f.asRun == "" {
		return errors.New("--from needs --as-run NAME: the run ID of the new run")
	}
	switch {
	case !(f.rate >= 0) || math.IsInf(f.rate, 0):
		return fmt.Errorf("--rate %v: want completions per second ≥ 0 (0: as fast as possible)", f.rate)
	case f.heartbeat <= 0:
		return fmt.Errorf("--heartbeat %s: want a positive interval", f.heartbeat)
	}
	if f.sweep == "" {
		f.sweep = f.experiment
	}
	if f.worker == "" {
		f.worker = "replay-" + f.asRun
	}
	comps, marker, source, err := replaySource(ctx, g, f)
	if err != nil {
		return err
	}
	if err := sameRunSource(ctx, g, f); err != nil {
		return err
	}
	st, err := startStack(ctx, g, stackOpts{withIngest: g.natsURL == "", reuseUp: true})
	if err != nil {
		return err
	}
	defer st.Close()
	run := &events.Run{SourcePersona: source, Marker: marker, MarkerOrigin: "replayed from " + f.from, Sweep: f.sweep,
		Plan: replay.Plan(comps), Config: []byte(fmt.Sprintf(`{"engine":"replay","from":%q,"rate":%g}`, f.from, f.rate))}
	r, err := runner.Start(ctx, runner.Config{Experiment: f.experiment, RunID: f.asRun, Worker: f.worker, Heartbeat: f.heartbeat}, runner.BusPublisher{Bus: st.Bus}, run)
	if err != nil {
		return err
	}
	fmt.Fprintf(errw, "replaying %d completions as %s/%s (sweep %s) to %s\n", len(comps), f.experiment, f.asRun, f.sweep, st.Describe)
	n, err := replay.Run(ctx, r, comps, replay.Options{Rate: f.rate, Jitter: f.jitter})
	// Finishing may wait for ingest: after a server restart, deliveries it
	// lost come again only after the consumer's AckWait (30 s).
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if errors.Is(err, context.Canceled) {
		// Interrupted: leave the run open; the same command completes it.
		return fmt.Errorf("interrupted after %d of %d completions: run the same command to complete the run", n, len(comps))
	}
	if ferr := r.Finish(fctx, err); ferr != nil && err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	if werr := st.WaitDurable(fctx, r.LastSeq(), nil); werr != nil {
		return werr
	}
	fmt.Fprintf(out, "replayed %d completions as %s/%s\n", n, f.experiment, f.asRun)
	return nil
}

// sameRunSource refuses to resume a run (same experiment and --as-run) from
// another source: its completions would be counted under the first run's
// marker and plan. It can check only runs in the local lake.
func sameRunSource(ctx context.Context, g *globals, f *workerFlags) error {
	if _, err := os.Stat(filepath.Join(g.lake(), "runs")); err != nil {
		return nil
	}
	e, err := query.Open(g.lake())
	if err != nil {
		return err
	}
	defer e.Close()
	res, err := e.SQL(ctx, `SELECT config_json FROM runs WHERE experiment = $1 AND run_id = $2`, f.experiment, f.asRun)
	if err != nil || len(res.Rows) == 0 {
		return err
	}
	var cfg struct{ From string }
	if json.Unmarshal([]byte(res.Rows[0][0].(string)), &cfg) == nil && cfg.From != "" && cfg.From != f.from {
		return fmt.Errorf("run %s/%s was started from %s; resuming it from %s would mix two sources: choose another --as-run", f.experiment, f.asRun, cfg.From, f.from)
	}
	return nil
}

// replaySource loads the completions to replay, with the source run's
// marker and source persona.
func replaySource(ctx context.Context, g *globals, f *workerFlags) ([]events.Completion, string, string, error) {
	if spec, ok := strings.CutPrefix(f.from, "lake:"); ok {
		exp, run, ok := strings.Cut(spec, "/")
		if !ok {
			return nil, "", "", fmt.Errorf("--from %q: want lake:EXPERIMENT/RUN", f.from)
		}
		return lakeCompletions(ctx, g, exp, run)
	}
	if _, err := os.Stat(f.from); err != nil {
		return nil, "", "", fmt.Errorf("--from: %w", err)
	}
	plan, err := importer.Parse("", []string{f.from}, importer.Options{Now: time.Now()})
	if err != nil {
		return nil, "", "", err
	}
	byRun := map[string][]events.Completion{}
	markers, sources := map[string]string{}, map[string]string{}
	for _, e := range plan.Events {
		switch p := e.Payload.(type) {
		case *events.Completion:
			byRun[e.RunID] = append(byRun[e.RunID], *p)
		case *events.Run:
			markers[e.RunID], sources[e.RunID] = p.Marker, p.SourcePersona
		}
	}
	run := f.fromRun
	if run == "" {
		if len(byRun) != 1 {
			var names []string
			for r := range byRun {
				names = append(names, r)
			}
			if len(byRun) == 0 {
				return nil, "", "", fmt.Errorf("--from %s holds no completions (aggregates cannot be replayed)", f.from)
			}
			return nil, "", "", fmt.Errorf("--from %s holds %d runs with completions (%v): pick one with --from-run", f.from, len(byRun), names)
		}
		for r := range byRun {
			run = r
		}
	}
	comps := byRun[run]
	if len(comps) == 0 {
		return nil, "", "", fmt.Errorf("--from %s has no completions for run %q", f.from, run)
	}
	return comps, markers[run], sources[run], nil
}

func lakeCompletions(ctx context.Context, g *globals, exp, run string) ([]events.Completion, string, string, error) {
	e, err := query.Open(g.lake())
	if err != nil {
		return nil, "", "", err
	}
	defer e.Close()
	meta, err := e.SQL(ctx, `SELECT marker, source_persona FROM runs WHERE experiment = $1 AND run_id = $2`, exp, run)
	if err != nil {
		return nil, "", "", err
	}
	if len(meta.Rows) == 0 {
		return nil, "", "", fmt.Errorf("no run %s/%s in the lake at %s", exp, run, g.lake())
	}
	res, err := e.SQL(ctx, `SELECT persona, persona_prompt, question_set, question, sample_index, text, recorded_marker
FROM completions WHERE experiment = $1 AND run_id = $2 ORDER BY stream_seq`, exp, run)
	if err != nil {
		return nil, "", "", err
	}
	comps := make([]events.Completion, 0, len(res.Rows))
	for _, r := range res.Rows {
		c := events.Completion{Persona: r[0].(string), PersonaPrompt: r[1].(string), QuestionSet: r[2].(string), Question: r[3].(string),
			SampleIndex: int(r[4].(int64)), Text: r[5].(string)}
		if b, ok := r[6].(bool); ok {
			c.RecordedMarker = &b
		}
		comps = append(comps, c)
	}
	if len(comps) == 0 {
		return nil, "", "", fmt.Errorf("run %s/%s has no completions (imported aggregates cannot be replayed)", exp, run)
	}
	return comps, meta.Rows[0][0].(string), meta.Rows[0][1].(string), nil
}
