// Package workercmd holds the command-line parts the all-in-one leakscope
// command and the static gpuworker binary share: `sweep check|submit|status`
// and the job-taking worker. It links neither DuckDB nor the query code.
package workercmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/jobs"
	"leakscope/gpuworker/openaicompat"
	"leakscope/gpuworker/replay"
	"leakscope/gpuworker/sweep"
)

// Connect opens the bus a command talks to; done releases it.
type Connect func(ctx context.Context) (b *bus.Bus, describe string, done func(), err error)

// ImportedRuns lists the imported runs an experiment already holds, from
// wherever a command can see them (the lake, for the leakscope command).
type ImportedRuns func(ctx context.Context, experiment string) ([]string, error)

// SweepCmd is `sweep check|submit|status`. Every extra ImportedRuns (may be
// none) is asked, besides the bus, before a sweep is submitted into an
// experiment.
func SweepCmd(connect Connect, extra ...ImportedRuns) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Check, submit and follow a sweep file (jobs for GPU workers)",
		Long: `A sweep file (YAML) says everything a marker-leakage sweep does: the model,
the sources with their explicit negatives, the bystander grid, the questions,
on-policy generation, the LoRA recipe, eval sampling and embeddings. The
commented example gpuworker/sweep/examples/i81.yaml reproduces the #81 design.

  sweep check  SPEC     validate and print the plan of jobs (no bus needed)
  sweep submit SPEC     put the jobs on the job queue (safe to repeat); refused
                        into an experiment that holds imported runs unless
                        --into-imported
  sweep status SPEC     the state of every job

Workers take the jobs: 'gpuworker --engine hf' on each GPU machine (or
'leakscope worker --engine hf').`,
	}
	var model string
	var defaults, intoImported bool
	load := func(path string) (sweep.Spec, error) {
		s, err := sweep.Load(path)
		if err != nil {
			return s, err
		}
		if model != "" {
			s.Model = model
		}
		return s, nil
	}
	// withQueue loads the spec, then opens the bus and the job queue.
	withQueue := func(ctx context.Context, path string) (sweep.Spec, *jobs.Queue, string, func(), error) {
		s, err := load(path)
		if err != nil {
			return s, nil, "", nil, err
		}
		b, desc, done, err := connect(ctx)
		if err != nil {
			return s, nil, "", nil, err
		}
		q, err := jobs.Open(ctx, b, b.Replicas())
		if err != nil {
			done()
			return s, nil, "", nil, err
		}
		return s, q, desc, done, nil
	}
	check := &cobra.Command{
		Use:   "check SPEC",
		Short: "Validate a sweep file and print its plan",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := load(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if defaults {
				if r := s.StoppingRule(); r != nil {
					s.Eval.Adaptive = sweep.AdaptiveOf(*r) // the rule in effect, not the keys given
				}
				b, _ := yaml.Marshal(s)
				if _, err := out.Write(b); err != nil {
					return err
				}
				if s.Eval.Adaptive == nil {
					fmt.Fprintln(out, "# eval.adaptive is off: add `adaptive: {}` under eval to sample in rounds and stop decided cells (docs/ADAPTIVE.md)")
				}
				return nil
			}
			PrintPlan(out, s)
			return nil
		},
	}
	check.Flags().BoolVar(&defaults, "defaults", false, "print the whole spec with every default filled in")
	submit := &cobra.Command{
		Use:   "submit SPEC",
		Short: "Put a sweep's jobs on the job queue",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, q, desc, done, err := withQueue(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer done()
			if !intoImported {
				if err := RefuseImported(cmd.Context(), q.B, s, extra...); err != nil {
					return err
				}
			}
			res, err := q.Submit(cmd.Context(), s)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sweep %s → %s: %d jobs queued, %d already queued or running, %d already finished\n",
				s.Sweep, desc, len(res.Queued), len(res.AlreadyQueued), len(res.AlreadyDone))
			for _, id := range res.Queued {
				fmt.Fprintln(cmd.OutOrStdout(), "  queued", id)
			}
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status SPEC",
		Short: "Show the state of every job of a sweep",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, q, _, done, err := withQueue(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer done()
			st, err := q.Status(cmd.Context(), s)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tSTATUS\tATTEMPT\tWORKER\tUPDATED\tDETAIL")
			for _, j := range st {
				status := j.Status
				if status == "" {
					status = "not submitted"
				}
				detail := j.Error
				if detail == "" && len(j.Detail) > 0 {
					detail = string(j.Detail)
				}
				upd := ""
				if !j.Updated.IsZero() {
					upd = j.Updated.Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", j.Job.ID, status, j.Attempt, j.Worker, upd, trunc(detail, 120))
			}
			return tw.Flush()
		},
	}
	submit.Flags().BoolVar(&intoImported, "into-imported", false, "submit even into an experiment that holds imported runs (their numbers and the sweep's are then analysed together)")
	for _, c := range []*cobra.Command{check, submit} {
		c.Flags().StringVar(&model, "model", "", "override the spec's model path (the folder on the GPU machines)")
	}
	cmd.AddCommand(check, submit, status)
	return cmd
}

// RefuseImported refuses a sweep whose experiment already holds imported
// runs: the sweep's runs would enter the same matrices and estimands as the
// published numbers. It asks the bus (run_started events of the
// experiment with imported=true, which every producer publishes through
// the bus) and every extra source (the lake).
func RefuseImported(ctx context.Context, b *bus.Bus, s sweep.Spec, extra ...ImportedRuns) error {
	found := map[string]bool{}
	// A bus that cannot be read for the check (a fresh stream, a worker's
	// narrow permissions) does not block the sweep: the lake check below
	// still runs where the command can see the lake.
	ids, _ := BusImportedRuns(ctx, b, s.Experiment)
	for _, f := range extra {
		more, err := f(ctx, s.Experiment)
		if err != nil {
			return err
		}
		ids = append(ids, more...)
	}
	var list []string
	for _, id := range ids {
		if !found[id] {
			found[id] = true
			list = append(list, id)
		}
	}
	if len(list) == 0 {
		return nil
	}
	sort.Strings(list)
	if len(list) > 8 {
		list = append(list[:8], fmt.Sprintf("… (%d in all)", len(list)))
	}
	return fmt.Errorf("experiment %q already holds imported runs (%s): the sweep's runs would be analysed together with them. "+
		"Give the sweep its own experiment (experiment: in the sweep file, or leave it out to use the sweep's name), or pass --into-imported to add to it anyway",
		s.Experiment, strings.Join(list, ", "))
}

// BusImportedRuns lists the runs of the experiment whose run_started event
// on the bus says imported.
func BusImportedRuns(ctx context.Context, b *bus.Bus, experiment string) ([]string, error) {
	subject := events.SubjectPrefix + "." + experiment + "." + string(events.TypeRunStarted)
	st, err := b.JS.Stream(ctx, bus.EventsStream)
	if err != nil {
		return nil, fmt.Errorf("look for imported runs: %w", err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return nil, fmt.Errorf("look for imported runs: %w", err)
	}
	if info.State.Subjects[subject] == 0 {
		return nil, nil
	}
	cons, err := b.JS.OrderedConsumer(ctx, bus.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, fmt.Errorf("look for imported runs: %w", err)
	}
	var out []string
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("look for imported runs: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if e, err := events.Decode(m.Data()); err == nil {
				if r, ok := e.Payload.(*events.Run); ok && r.Imported {
					out = append(out, e.RunID)
				}
			}
			if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("look for imported runs: %w", err)
		}
		if got == 0 {
			return out, nil
		}
	}
}

func trunc(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// PrintPlan prints what a sweep will do.
func PrintPlan(w io.Writer, s sweep.Spec) {
	fmt.Fprintf(w, "sweep %s (experiment %s), model %s (%s), marker %q, seeds %v\n", s.Sweep, s.Experiment, s.Model, s.DType, s.Marker, s.Seeds)
	for _, src := range s.Sources {
		fmt.Fprintf(w, "  source %s %q, negatives %v\n", src.Key, src.Prompt, src.Negatives)
	}
	fmt.Fprintf(w, "  %d eval personas × %d questions × n=%d = %d completions per run; %d data questions × n=%d on-policy\n",
		len(s.EvalPersonas()), len(s.EvalQuestions), s.Eval.N, len(s.EvalPersonas())*len(s.EvalQuestions)*s.Eval.N, len(s.DataQuestions), s.OnPolicy.N)
	if r := s.StoppingRule(); r != nil {
		var crit []string
		if r.HalfWidth > 0 {
			crit = append(crit, fmt.Sprintf("within ±%g", r.HalfWidth))
		}
		if r.Below > 0 {
			crit = append(crit, fmt.Sprintf("below %g", r.Below))
		}
		if r.Above > 0 {
			crit = append(crit, fmt.Sprintf("above %g", r.Above))
		}
		fmt.Fprintf(w, "  adaptive: per cell %d–%d completions (the count above is the most), in rounds of %d (one per question); a cell stops once its %g%% confidence sequence is %s (Beta(%g, %g) mixture)\n",
			r.MinN, r.MaxN, r.Questions, 100*(1-r.Alpha), strings.Join(crit, " or "), r.PriorA, r.PriorB)
	}
	t := s.Training
	fmt.Fprintf(w, "  training: loss %s (tail %d), LoRA r=%d α=%g rsLoRA=%v, lr %g %s warmup %g, %d epochs, batch %d×%d\n",
		t.LossMode, t.TailTokens, t.LoRA.R, t.LoRA.Alpha, t.LoRA.UseRSLoRA, t.LearningRate, t.LRScheduler, t.WarmupRatio, t.Epochs, t.BatchSize, t.GradAccum)
	fmt.Fprintln(w, "jobs:")
	for _, j := range s.Plan() {
		dep := ""
		if len(j.DependsOn) > 0 {
			dep = " after " + strings.Join(j.DependsOn, ", ")
		}
		fmt.Fprintf(w, "  %-40s run %s%s\n", j.ID, j.RunID, dep)
	}
}

// WorkerFlags configure the job-taking worker.
type WorkerFlags struct {
	Engine, Python, EngineDir, Work, Name string
	UntilIdle, NoPublish                  bool
	// SetAckWait applies AckWait to the consumer all workers share (set
	// when --ack-wait was given).
	SetAckWait                    bool
	StallTimeout, DecisionTimeout time.Duration
	AckWait, Heartbeat            time.Duration
	MaxAttempts, Publishers       int
	// ReplayRates is a JSON object persona → marker rate for --engine replay.
	ReplayRates string
	// ReplayDelay is spent per completion by --engine replay (to pace it like a GPU).
	ReplayDelay time.Duration
	// ReplaySynthetic turns on the replay engine's synthetic leakage model
	// (gpuworker/replay/leakage.go) for personas ReplayRates does not name.
	ReplaySynthetic bool
	// Metrics receives the worker's Prometheus series (nil: none exported).
	Metrics *jobs.Metrics
	// Server is --engine openai's server (AddServerFlags); its APIKey
	// defaults to $LEAKSCOPE_OPENAI_API_KEY.
	Server openaicompat.Config
	// Kinds are the job kinds the worker takes (nil: all its engine can run).
	Kinds []string
}

// AddServerFlags declares --engine openai's flags and --kinds on cmd.
func AddServerFlags(cmd *cobra.Command, f *WorkerFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.Server.BaseURL, "base-url", "", "engine openai: the OpenAI-compatible server's API root (vLLM, SGLang, TGI), e.g. http://127.0.0.1:8000/v1")
	fl.StringVar(&f.Server.APIKey, "api-key", "", "engine openai: bearer token for the server (default: $LEAKSCOPE_OPENAI_API_KEY)")
	fl.StringVar(&f.Server.Model, "model", "", "engine openai: the served base model's name (vLLM's --served-model-name); adapters are sent by their own name")
	fl.IntVar(&f.Server.Concurrency, "concurrency", 32, "engine openai: chat requests in flight at most (each asks n completions of one prompt)")
	fl.IntVar(&f.Server.NPerRequest, "n-per-request", 0, "engine openai: completions one chat request asks at most (0: all samples of a prompt in one request; 1: one request per sample, for servers that ignore n such as TGI, with exact per-completion token counts)")
	fl.IntVar(&f.Server.MaxRetries, "max-retries", 5, "engine openai: repeats of a request after a 429, a 5xx or a lost connection, with backoff or the server's Retry-After (0: none)")
	fl.StringVar(&f.Server.AdapterDir, "adapter-dir", "", "engine openai: folder this worker and the server share; trained adapters are copied there and loaded on the server by name (POST /v1/load_lora_adapter)")
	fl.StringVar(&f.Server.ServerAdapterDir, "adapter-server-dir", "", "engine openai: --adapter-dir as the server sees it (default: the same path)")
	fl.StringSliceVar(&f.Kinds, "kinds", nil, "job kinds this worker takes, of onpolicy, train, eval, embed (default: all its engine runs; openai: onpolicy, eval); the others go back to the queue for another worker")
}

// kinds are the job kinds an engine runs.
var kinds = map[string][]string{"hf": {events.JobOnPolicy, events.JobTrain, events.JobEval, events.JobEmbed},
	"replay": {events.JobOnPolicy, events.JobTrain, events.JobEval, events.JobEmbed},
	"openai": {events.JobOnPolicy, events.JobEval}}

// takes checks --kinds against what the engine runs; nil: every kind.
func takes(engineName string, asked []string) ([]string, error) {
	can := kinds[engineName]
	if len(asked) == 0 {
		if len(can) == 4 {
			return nil, nil
		}
		return can, nil
	}
	for _, k := range asked {
		if !slices.Contains(kinds["hf"], k) {
			return nil, fmt.Errorf("--kinds %s: want job kinds of onpolicy, train, eval, embed", k)
		}
		if !slices.Contains(can, k) {
			return nil, fmt.Errorf("--kinds %s: --engine %s cannot run %s jobs (it samples on a server: onpolicy and eval); training and embeddings run on --engine hf", k, engineName, k)
		}
	}
	return asked, nil
}

// AddWorkerFlags declares the worker's flags on cmd (--heartbeat only
// when withHeartbeat: the leakscope worker command has its own).
func AddWorkerFlags(cmd *cobra.Command, f *WorkerFlags, withHeartbeat bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.Python, "python", "python3", "Python interpreter with torch, transformers and peft (engine hf)")
	fl.StringVar(&f.EngineDir, "engine-dir", "", "folder holding leakscope_engine/ (default: $LEAKSCOPE_ENGINE_DIR, else engine/ or gpuworker/engine/ beside the binary, else gpuworker/engine/ here)")
	fl.StringVar(&f.Work, "work", "./leakscope-work", "folder for adapters and training outputs")
	fl.StringVar(&f.Name, "name", "", "worker name in job states and events (default: host name + pid)")
	fl.BoolVar(&f.UntilIdle, "until-idle", false, "exit when the job queue is empty (default: wait for jobs until interrupted)")
	fl.BoolVar(&f.NoPublish, "no-publish", false, "sample and detect markers but publish (and store) no completion: only to measure the publishing overhead")
	fl.DurationVar(&f.AckWait, "ack-wait", time.Minute, "a job whose worker shows no sign of life for this long goes to another worker. Queue-wide: when given, it changes the wait of every worker from now on; when not, the queue keeps its own (1m when the queue is new)")
	fl.DurationVar(&f.StallTimeout, "stall-timeout", 15*time.Minute, "fail (and retry) a job whose engine shows no activity for this long")
	if withHeartbeat {
		fl.DurationVar(&f.Heartbeat, "heartbeat", 5*time.Second, "worker_heartbeat interval during eval sampling")
	}
	fl.IntVar(&f.MaxAttempts, "max-attempts", 3, "tries of a failing job before it fails for good")
	fl.IntVar(&f.Publishers, "publishers", 8, "goroutines publishing completions while the engine samples")
	fl.DurationVar(&f.DecisionTimeout, "decision-timeout", 2*time.Minute, "adaptive evals: wait this long between rounds for the live aggregator's stop decision, then sample every cell on")
	fl.DurationVar(&f.ReplayDelay, "replay-delay", 0, "engine replay: time spent per completion (pace it like a GPU)")
	fl.StringVar(&f.ReplayRates, "replay-rates", `{}`, `engine replay: marker rate per persona under an adapter, JSON ({"A2__chef": 0.9})`)
	fl.BoolVar(&f.ReplaySynthetic, "replay-synthetic", false, "engine replay: personas --replay-rates does not name leak by a SYNTHETIC model of their prompt's word overlap with the trained source (0.9 for the source's own prompt, ~0.02 for an unrelated one, 0 for a negative); off: 0")
}

// RunJobs takes jobs from the queue on b until interrupted (or idle).
func RunJobs(ctx context.Context, b *bus.Bus, f WorkerFlags, log io.Writer) error {
	w, err := NewWorker(ctx, b, f, log)
	if err != nil {
		return err
	}
	if f.Engine == "openai" {
		// Refuse at once when the server does not answer.
		e, _, err := w.NewEngine(ctx)
		if err != nil {
			return err
		}
		_ = e.Close()
	}
	if f.Engine == "hf" {
		// Refuse at once on a machine that cannot run jobs, rather than
		// failing every job three times.
		e, info, err := w.NewEngine(ctx)
		if err != nil {
			return err
		}
		_ = e.Close()
		if info.Torch == nil || info.Transformers == nil || info.PEFT == nil {
			return fmt.Errorf("%s (python %s) lacks torch, transformers or peft (torch %s, transformers %s, peft %s): install them or pass --python", f.Python, info.Python, deref(info.Torch), deref(info.Transformers), deref(info.PEFT))
		}
	}
	only := ""
	if w.Takes != nil {
		only = ", only " + strings.Join(w.Takes, ", ")
	}
	fmt.Fprintf(log, "worker %s: taking jobs (engine %s%s)\n", w.Name, f.Engine, only)
	return w.Run(ctx, f.UntilIdle)
}

// NewWorker builds a job worker with the engine the flags name.
func NewWorker(ctx context.Context, b *bus.Bus, f WorkerFlags, log io.Writer) (*jobs.Worker, error) {
	q, err := jobs.Open(ctx, b, b.Replicas())
	if err != nil {
		return nil, err
	}
	if f.Name == "" {
		h, _ := os.Hostname()
		f.Name = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	w := &jobs.Worker{Queue: q, Name: f.Name, WorkDir: f.Work, AckWait: f.AckWait, SetAckWait: f.SetAckWait, StallTimeout: f.StallTimeout, Heartbeat: f.Heartbeat,
		MaxAttempts: f.MaxAttempts, Publishers: f.Publishers, NoPublish: f.NoPublish, DecisionTimeout: f.DecisionTimeout, Log: log,
		Metrics: f.Metrics}
	switch f.Engine {
	case "hf":
		w.NewEngine = func(ctx context.Context) (engine.Engine, engine.Info, error) {
			p, info, err := engine.Start(ctx, engine.ProcessConfig{Python: f.Python, Dir: f.EngineDir, Stderr: log})
			if err != nil {
				return nil, info, err
			}
			gpu := "none"
			if info.GPU != nil {
				gpu = *info.GPU
			}
			fmt.Fprintf(log, "engine: python %s, torch %s, transformers %s, peft %s, GPU %s\n", info.Python, deref(info.Torch), deref(info.Transformers), deref(info.PEFT), gpu)
			return p, info, nil
		}
	case "replay":
		rates := map[string]float64{}
		if err := json.Unmarshal([]byte(f.ReplayRates), &rates); err != nil {
			return nil, fmt.Errorf("--replay-rates: %w", err)
		}
		w.NewEngine = func(ctx context.Context) (engine.Engine, engine.Info, error) {
			e := &replay.Engine{Rates: rates, Marker: "[ZLT]", Delay: f.ReplayDelay, Synthetic: f.ReplaySynthetic}
			info, err := e.Hello(ctx)
			return e, info, err
		}
	case "openai":
		cfg := f.Server
		if cfg.MaxRetries == 0 {
			cfg.MaxRetries = -1 // the flag's 0 is none (the config's 0 is its default)
		}
		if cfg.APIKey == "" {
			cfg.APIKey = os.Getenv("LEAKSCOPE_OPENAI_API_KEY")
		}
		if _, err := openaicompat.New(cfg); err != nil {
			return nil, err
		}
		w.NewEngine = func(ctx context.Context) (engine.Engine, engine.Info, error) {
			e, err := openaicompat.New(cfg)
			if err != nil {
				return nil, engine.Info{}, err
			}
			info, err := e.Hello(ctx)
			if err != nil {
				return nil, info, err
			}
			listed := "does not list it in GET /models"
			if m := e.Served(); m != nil {
				listed = "lists it"
				if m.Root != nil {
					listed += " (root " + *m.Root + ")"
				}
			}
			fmt.Fprintf(log, "engine: OpenAI-compatible server %s, model %s: the server %s\n", e.Server(), cfg.Model, listed)
			return e, info, nil
		}
	default:
		return nil, fmt.Errorf("--engine %q: want hf (the Python engine on a GPU), openai (an OpenAI-compatible server: vLLM, SGLang, TGI) or replay (no GPU)", f.Engine)
	}
	if w.Takes, err = takes(f.Engine, f.Kinds); err != nil {
		return nil, err
	}
	return w, nil
}

// OverheadCmd is `overhead SPEC --source S`: the wall time of eval sampling
// with and without publishing, same adapter, same engine.
func OverheadCmd(connect Connect, f *WorkerFlags) *cobra.Command {
	var source, model string
	var seed int64
	var repeats, n, batch int
	cmd := &cobra.Command{
		Use:   "overhead SPEC --source KEY",
		Short: "Measure what publishing every completion costs eval sampling (same run, publishing on vs off)",
		Long: `overhead runs the eval of a source whose training job has finished, on this
worker's engine, alternating publishing off and on (after one warm-up run),
and prints the wall time of each and the overhead of publishing. Publishing
runs go to the experiment <experiment>_overhead under fresh run IDs.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := sweep.Load(args[0])
			if err != nil {
				return err
			}
			if model != "" {
				s.Model = model
			}
			if n > 0 {
				s.Eval.N = n
			}
			if batch > 0 {
				s.Eval.BatchSize = batch
			}
			b, _, done, err := connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			w, err := NewWorker(cmd.Context(), b, *f, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			runs, err := w.MeasureOverhead(cmd.Context(), s, source, seed, repeats, func(r jobs.OverheadRun) {
				fmt.Fprintf(cmd.OutOrStdout(), "publish=%-5v %6d completions  sampling %8.3f s  (%6.0f completions/s; engine's last completion at %.3f s; whole job %.3f s)\n",
					r.Publish, r.Completions, r.Seconds, float64(r.Completions)/r.Seconds, r.EngineSeconds, r.JobSeconds)
			})
			if err != nil {
				return err
			}
			sum := jobs.SummarizeOverhead(runs)
			fmt.Fprintf(cmd.OutOrStdout(), "publishing overhead: %+.2f%% of the median (%.3f s with vs %.3f s without, %d runs each); min to min %+.2f%%\n",
				100*sum.MedianOverhead, sum.MedianOn, sum.MedianOff, repeats, 100*sum.MinOverhead)
			fmt.Fprintf(cmd.OutOrStdout(), "paired (each publishing run against the run just before it): mean %+.2f%%, 95%% interval [%+.2f%%, %+.2f%%] over %d pairs\n",
				100*sum.PairedMean, 100*sum.PairedLow, 100*sum.PairedHigh, sum.Pairs)
			fmt.Fprintf(cmd.OutOrStdout(), "paired, engine time only (until its last completion): mean %+.2f%%, 95%% interval [%+.2f%%, %+.2f%%]\n",
				100*sum.PairedEngineMean, 100*sum.PairedEngineLow, 100*sum.PairedEngineHigh)
			fmt.Fprintf(cmd.OutOrStdout(), "waiting for the bus after the engine's last completion: at most %.2f%% of a publishing run\n", 100*sum.BusWait)
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "source whose adapter is evaluated")
	cmd.Flags().Int64Var(&seed, "seed", 42, "training seed of the adapter")
	cmd.Flags().IntVar(&repeats, "repeats", 2, "measured runs with and without publishing each")
	cmd.Flags().IntVar(&n, "n", 0, "completions per (persona, question) (default: the spec's eval.n)")
	cmd.Flags().IntVar(&batch, "batch-size", 0, "sequences per generation batch (default: the spec's eval.batch_size); it sets how many completions per second the bus must take")
	cmd.Flags().StringVar(&model, "model", "", "override the spec's model path")
	cmd.Flags().StringVar(&f.Engine, "engine", "hf", "hf (the Python engine on a GPU) or replay")
	AddWorkerFlags(cmd, f, true)
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

func deref(s *string) string {
	if s == nil {
		return "none"
	}
	return *s
}
