// Command gpuworker is the GPU worker as one static binary (CGO_ENABLED=0,
// no DuckDB, no query code): copy it and the gpuworker/engine folder onto a
// GPU machine and it takes sweep jobs from the bus, drives the Python
// engine (torch, transformers, peft) and publishes every completion.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"leakscope/events/bus"
	"leakscope/gpuworker/jobs"
	"leakscope/services/internal/ops"
	"leakscope/services/internal/workercmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "gpuworker:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var url, opsAddr string
	var replicas int
	f := workercmd.WorkerFlags{}
	connect := func(ctx context.Context) (*bus.Bus, string, func(), error) {
		cfg := bus.DefaultConfig()
		cfg.Replicas = max(replicas, 1)
		b, err := bus.Connect(ctx, url, cfg)
		if err != nil {
			return nil, "", nil, err
		}
		return b, "NATS at " + bus.Redact(url), b.Close, nil
	}
	root := &cobra.Command{
		Use:   "gpuworker [--nats-url URL] --engine hf | --engine openai --base-url URL --model NAME",
		Short: "Take sweep jobs from the bus and run them on this machine's GPU",
		Long: `gpuworker takes jobs of submitted sweeps (on-policy generation, marker-LoRA
training, eval sampling, persona embeddings) from the job queue on NATS
JetStream and runs them with the Python engine (gpuworker/engine: torch,
transformers, peft; found beside this binary or given with --engine-dir).
Every completion is published as it is sampled; training loss, progress and
failures too. Run as many workers as you have GPUs, on any machines: each
job goes to one worker; a killed worker's job goes to another after
--ack-wait, which samples only what is missing.

Install on a GPU machine: copy this binary and the engine folder. Start a bus
and lake somewhere (the static leakscope-ingest binary, or leakscope up), then:

  gpuworker sweep submit --model /models/Qwen2.5-7B-Instruct gpuworker/sweep/examples/i81.yaml
  gpuworker --engine hf                      # one per GPU (CUDA_VISIBLE_DEVICES)
  gpuworker sweep status gpuworker/sweep/examples/i81.yaml

--engine openai sends on-policy and eval sampling to a running OpenAI-compatible
server (vLLM, SGLang, TGI) instead: n completions per chat request, at most
--concurrency requests in flight, retries with backoff on 429/5xx. It declines
training and embeddings (they go back to the queue for an hf worker); an eval
of a trained source copies the adapter into --adapter-dir and has vLLM load it
by name (start vLLM with --enable-lora, VLLM_ALLOW_RUNTIME_LORA_UPDATING=True):

  vllm serve /models/Qwen2.5-7B-Instruct --served-model-name qwen --enable-lora --max-lora-rank 32
  gpuworker --engine openai --base-url http://127.0.0.1:8000/v1 --model qwen \
      --adapter-dir /shared/adapters --concurrency 64   # key: $LEAKSCOPE_OPENAI_API_KEY
  gpuworker --engine hf --kinds train,embed          # the training beside it

--ops serves /healthz, /readyz (503 while the bus is unreachable) and
/metrics (leakscope_worker_completions_total: rate() is samples/s; events
published by type; job status transitions; busy).

` + ops.EnvHelp,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return ops.BindEnv(cmd) },
		SilenceUsage:      true,
		SilenceErrors:     true,
		Args:              cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, _, done, err := connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			f.SetAckWait = cmd.Flag("ack-wait").Changed
			if opsAddr != "" {
				ln, err := ops.Listen(opsAddr, "--ops")
				if err != nil {
					return err
				}
				reg := ops.NewRegistry()
				f.Metrics = jobs.NewMetrics(reg)
				mux := http.NewServeMux()
				ops.Register(mux, reg, ops.BusReady(b))
				go func() { _ = ops.Serve(cmd.Context(), ln, mux) }()
				fmt.Fprintf(cmd.ErrOrStderr(), "gpuworker: ops on http://%s (/healthz /readyz /metrics)\n", ln.Addr())
			}
			return workercmd.RunJobs(cmd.Context(), b, f, cmd.ErrOrStderr())
		},
	}
	root.PersistentFlags().StringVar(&url, "nats-url", "nats://127.0.0.1:4222", "NATS server with JetStream (the bus)")
	root.Flags().StringVar(&f.Engine, "engine", "hf", "hf (the Python engine on a GPU), openai (sampling on an OpenAI-compatible server: --base-url, --model) or replay (no GPU: synthetic answers, for trying the job system)")
	workercmd.AddWorkerFlags(root, &f, true)
	workercmd.AddServerFlags(root, &f)
	root.Flags().StringVar(&opsAddr, "ops", "127.0.0.1:0", "address of /healthz, /readyz and /metrics (port 0: a free one, printed at start, so one worker per GPU on a machine never collide; empty: none)")
	root.PersistentFlags().IntVar(&replicas, "replicas", 1, "replicas of the streams, job states and artifacts this process declares when missing (3 on a three-node cluster)")
	root.AddCommand(workercmd.SweepCmd(connect), workercmd.OverheadCmd(connect, &f))
	return root
}
