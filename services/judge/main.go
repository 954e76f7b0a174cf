// Command leakscope-judge is the coherence judge as a service of its own:
// it selects completions of an experiment from the lake, scores them with
// an LLM judge and publishes every score and failure on an external bus,
// serving /healthz, /readyz and /metrics while it runs.
package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/spf13/cobra"

	"leakscope/events/bus"
	"leakscope/services/internal/judgecmd"
	"leakscope/services/internal/ops"
)

func main() { ops.Main("leakscope-judge", newRoot()) }

func newRoot() *cobra.Command {
	var lake, url, opsAddr string
	reg := ops.NewRegistry()
	var (
		mu sync.Mutex
		b  *bus.Bus
	)
	root := judgecmd.Cmd("leakscope-judge --lake DIR --nats-url URL", judgecmd.Env{
		Lake: func() string { return lake },
		// The bus is reached only once the flags, the candidates and the
		// provider are known good: a mistake costs no connection wait.
		Open: func(ctx context.Context) (judgecmd.Bus, func(), error) {
			if url == "" {
				return nil, nil, fmt.Errorf("--nats-url is required (the bus the scores are published on)")
			}
			c, err := bus.Connect(ctx, url, bus.DefaultConfig())
			if err != nil {
				return nil, nil, err
			}
			mu.Lock()
			b = c
			mu.Unlock()
			return c, c.Close, nil
		},
		Metrics: judgecmd.NewMetrics(reg),
	})
	root.Long += `

As a service: --lake is the lake to read candidates from (the query service's),
--nats-url the bus to publish on (ingest writes the scores to the lake), and
--ops serves /healthz, /readyz (503 until the bus is connected, and while it
is unreachable) and /metrics (leakscope_judge_outcomes_total{outcome="scored"|"failed"}).

` + ops.EnvHelp
	root.SilenceUsage, root.SilenceErrors = true, true
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := ops.BindEnv(cmd); err != nil {
			return err
		}
		if dry, _ := cmd.Flags().GetBool("dry-run"); dry || opsAddr == "" {
			return nil
		}
		ln, err := ops.Listen(opsAddr, "--ops")
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		ops.Register(mux, reg, func(ctx context.Context) error {
			mu.Lock()
			c := b
			mu.Unlock()
			if c == nil {
				return fmt.Errorf("selecting completions; not connected to the bus yet")
			}
			return ops.BusReady(c)(ctx)
		})
		go func() { _ = ops.Serve(cmd.Context(), ln, mux) }()
		return nil
	}
	root.Flags().StringVar(&lake, "lake", "./leakscope-data/lake", "the Parquet lake whose completions to judge")
	root.Flags().StringVar(&url, "nats-url", "", "NATS server to publish the scores on")
	root.Flags().StringVar(&opsAddr, "ops", "127.0.0.1:8083", "address of /healthz, /readyz and /metrics (empty: none)")
	return root
}
