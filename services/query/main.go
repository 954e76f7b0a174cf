// Command leakscope-query is the query service alone: the HTTP API, SQL,
// figures and (with --nats-url) the live view and stop decisions over a
// lake it only reads — the query service of compose.yaml, several of which
// may serve one lake.
package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"leakscope/events/bus"
	"leakscope/query"
	"leakscope/query/api"
	"leakscope/query/live"
	"leakscope/services/internal/livesrv"
	"leakscope/services/internal/ops"
	"leakscope/services/internal/querysrv"
)

func main() { ops.Main("leakscope-query", newRoot()) }

func newRoot() *cobra.Command {
	var lake, url, addr string
	var allowedHosts []string
	root := &cobra.Command{
		Use:   "leakscope-query --lake DIR [--nats-url URL] [--http HOST:PORT]",
		Short: "Serve the query API, SQL, figures and the live view over a Parquet lake",
		Long: `leakscope-query serves the web app (/: experiments, runs, cells and their
samples, the SQL console at /sql), /api/leakage, /api/runs, /api/samples,
/api/analyze, /api/sql and /figures/ over the lake at --lake (read-only;
each request at most 60 s), recomputing every number from the Parquet files with DuckDB. With --nats-url
it also follows the events stream: /live/SWEEP, and the stop decisions of
adaptive runs (run one such per bus; more are harmless duplicates), and
serves the sealed artifacts (adapters, on-policy data) that the lake's
finished jobs recorded at /artifacts/NAME, linked from run pages, each
checked against its recorded SHA-256.

/healthz answers while the process serves; /readyz is 503 while the lake
cannot be read or (with --nats-url) the bus is unreachable; /metrics has
leakscope_http_request_seconds per route and the Go/process series.

The lake may be shared storage written by other machines' ingest (see
docs/SCALING.md "Lake on shared storage").

Example:
  leakscope-query --lake /data/lake --nats-url nats://query:PASSWORD@nats-1:4222 --http 0.0.0.0:8080

` + ops.EnvHelp,
		Args:              cobra.NoArgs,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return ops.BindEnv(cmd) },
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			e, err := query.Open(lake)
			if err != nil {
				return err
			}
			defer e.Close()
			checks := []ops.Check{ops.DirReady("lake", lake), func(ctx context.Context) error {
				_, err := e.SQL(ctx, "SELECT count(*) FROM runs")
				return err
			}}
			var agg *live.Aggregator
			var opts []querysrv.Option
			if url != "" {
				b, err := bus.Connect(ctx, url, bus.DefaultConfig())
				if err != nil {
					return err
				}
				defer b.Close()
				agg = livesrv.Start(ctx, b, cmd.ErrOrStderr())
				opts = append(opts, querysrv.WithArtifacts(querysrv.SealedArtifacts(b)))
				checks = append(checks, ops.BusReady(b))
			}
			ln, err := ops.Listen(addr, "--http")
			if err != nil {
				return err
			}
			reg := ops.NewRegistry()
			mux := querysrv.Mux(e, agg, opts...)
			ops.Register(mux, reg, checks...)
			follows := "no bus (no live view, no stop decisions, no artifact downloads: give --nats-url)"
			if url != "" {
				follows = "following " + bus.Redact(url) + " (live view, stop decisions, sealed artifacts at /artifacts/)"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "leakscope-query: lake %s, %s, serving http://%s/ (/api/…, /figures/, /live/, /healthz, /readyz, /metrics)\n", lake, follows, ln.Addr())
			return ops.Serve(ctx, ln, api.Guard(ops.InstrumentHTTP(reg, mux, querysrv.Routes...), addr, allowedHosts))
		},
	}
	root.Flags().StringVar(&lake, "lake", "./leakscope-data/lake", "the Parquet lake (DATA/lake of the ingest that writes it)")
	root.Flags().StringVar(&url, "nats-url", "", "NATS server whose events stream feeds the live view and stop decisions and whose sealed artifact store run pages link (user:password@ in the URL; empty: none of these)")
	root.Flags().StringVar(&addr, "http", "127.0.0.1:8080", "listen address")
	root.Flags().StringSliceVar(&allowedHosts, "allowed-hosts", nil, "host names the HTTP server answers to besides IP addresses, localhost and the --http host (others are refused: DNS rebinding)")
	return root
}
