// Command leakscope-live is the live aggregator as one static binary
// (CGO_ENABLED=0, no DuckDB): it follows the events stream of a NATS server,
// serves the live view of sweeps in progress, and publishes the stop
// decisions of adaptive runs (issue 11) — the piece a GPU machine with a
// one-box bus (leakscope-ingest) needs for adaptive sweeps.
package main

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"leakscope/events/bus"
	"leakscope/query/live"
	"leakscope/query/webui"
	"leakscope/services/internal/livesrv"
	"leakscope/services/internal/ops"
)

func main() { ops.Main("leakscope-live", newRoot()) }

func newRoot() *cobra.Command {
	var url, addr string
	root := &cobra.Command{
		Use:   "leakscope-live --nats-url URL [--http HOST:PORT]",
		Short: "Live view of sweeps and stop decisions of adaptive runs, from the event stream",
		Long: `leakscope-live reads the events stream of the NATS server at --nats-url from
its start, keeps per-cell counts of every sweep (over its whole plan, declared
at submission), serves them on --http (/live/ the sweeps, /live/SWEEP page —
or the one sweep whose name begins SWEEP —, /live/SWEEP/state JSON,
/live/SWEEP/events SSE), and for
adaptive runs (a sweep with eval.adaptive) publishes a stop decision at the
end of each round, which the GPU workers wait for between rounds. Run one per
bus: decisions are deterministic, so a second or restarted one publishes
duplicates the bus drops, never different ones.

Example (a GPU machine with a one-box bus):
  leakscope-ingest --data /data --listen 127.0.0.1:4222 &
  leakscope-live --nats-url nats://127.0.0.1:4222 &
  gpuworker --nats-url nats://127.0.0.1:4222 --engine hf

` + ops.EnvHelp,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return ops.BindEnv(cmd) },
		Args:              cobra.NoArgs,
		SilenceUsage:      true,
		SilenceErrors:     true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if url == "" {
				return errors.New("--nats-url is required (the bus whose events stream to follow)")
			}
			b, err := bus.Connect(ctx, url, bus.DefaultConfig())
			if err != nil {
				return err
			}
			defer b.Close()
			agg := livesrv.Start(ctx, b, cmd.ErrOrStderr())
			ln, err := ops.Listen(addr, "--http")
			if err != nil {
				return err
			}
			reg := ops.NewRegistry()
			mux := http.NewServeMux()
			mux.Handle("/live/", live.Handler(agg))
			mux.Handle(webui.AssetsPrefix, webui.Assets()) // the pages' shared look
			ops.Register(mux, reg, ops.BusReady(b))
			fmt.Fprintf(cmd.ErrOrStderr(), "live: following %s, serving http://%s/live/ (and /healthz /readyz /metrics)\n", bus.Redact(url), ln.Addr())
			return ops.Serve(ctx, ln, ops.InstrumentHTTP(reg, mux, "/live/"))
		},
	}
	root.Flags().StringVar(&url, "nats-url", "", "NATS server whose events stream to follow")
	root.Flags().StringVar(&addr, "http", "127.0.0.1:8090", "address of the live view")
	return root
}
