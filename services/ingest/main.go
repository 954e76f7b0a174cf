// Command leakscope-ingest is ingest as one static binary (CGO_ENABLED=0,
// no DuckDB): it writes the events stream into the Parquet lake, either
// from an external NATS server (--nats-url) or from an embedded one it
// serves itself (--listen), so a GPU machine can host a one-box bus and
// lake whose Parquet files are queried elsewhere (leakscope --data, DuckDB,
// pandas).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"leakscope/events/bus"
	"leakscope/gpuworker/jobs"
	"leakscope/ingest"
	"leakscope/ingest/dataset"
	"leakscope/services/internal/ops"
)

func main() { ops.Main("leakscope-ingest", newRoot()) }

func newRoot() *cobra.Command {
	var data, url, listen, sync, writer, opsAddr string
	var verbose bool
	var maxIDs, replicas int
	var compactEvery time.Duration
	root := &cobra.Command{
		Use:   "leakscope-ingest [--data DIR] [--listen HOST:PORT | --nats-url URL] [--writer NAME --replicas 3]",
		Short: "Write the event stream into the Parquet lake (with an embedded bus by default)",
		Long: `leakscope-ingest consumes the leakscope events stream and writes it to the
Parquet lake under DIR/lake (atomic files, manifest, dead letters), exactly as
'leakscope up' does, without the query service.

Without --nats-url it serves an embedded NATS JetStream server (store under
DIR/jetstream) on --listen, so GPU workers on this or other machines publish to
nats://HOST:PORT. Query the lake with 'leakscope --data DIR leakage …' here or
after copying DIR/lake elsewhere. Stops on SIGINT/SIGTERM after committing
what it has.

On a cluster (compose.yaml), run several with one durable consumer: give
each its own --writer name (its lock, manifest and files in the shared lake)
and --replicas 3 (streams declared with three replicas).

--ops serves /healthz, /readyz (503 while the bus is unreachable or commits
fail) and /metrics (Prometheus: leakscope_ingest_* series, lag).

It also records the job states that GPU workers report (a worker may not
write them itself under deploy/accounts.conf).

` + ops.EnvHelp,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return ops.BindEnv(cmd) },
		Args:              cobra.NoArgs,
		SilenceUsage:      true,
		SilenceErrors:     true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			if err := dataset.ValidWriter(writer); err != nil { // before any connection or recovery
				return err
			}
			var opsLn net.Listener
			if opsAddr != "" { // a busy port is an error before anything else happens
				var err error
				if opsLn, err = ops.Listen(opsAddr, "--ops"); err != nil {
					return err
				}
				defer opsLn.Close()
			}
			var b *bus.Bus
			var err error
			bcfg := bus.DefaultConfig()
			bcfg.Replicas, bcfg.SharedIngest = replicas, writer != ""
			if url != "" {
				b, err = bus.Connect(ctx, url, bcfg)
			} else {
				emb, eerr := bus.StartEmbedded(filepath.Join(data, "jetstream"), listen, bus.WithSync(sync))
				if eerr != nil {
					return eerr
				}
				defer emb.Shutdown()
				b, err = bus.Connect(ctx, "", bcfg, emb.ConnectOption())
				url = emb.ClientURL()
			}
			if err != nil {
				return err
			}
			defer b.Close()
			reg := ops.NewRegistry()
			cfg := ingest.DefaultConfig(filepath.Join(data, "lake"))
			cfg.MaxIndexedIDs, cfg.Writer, cfg.Metrics = maxIDs, writer, reg
			if cfg.CompactEvery = compactEvery; compactEvery <= 0 {
				cfg.CompactEvery = -1 // off
			}
			if replicas > 1 {
				cfg.MaxBatchBytes = 0 // see ingest.Config: byte-bounded pulls stall on clusters
			}
			ing, err := ingest.Open(cfg, log)
			if err != nil {
				return fmt.Errorf("open lake: %w", err)
			}
			defer ing.Close()
			if opsLn != nil {
				reg.MustRegister(ops.IngestLag(b))
				mux := http.NewServeMux()
				ops.Register(mux, reg, ops.BusReady(b), func(context.Context) error {
					if h := ing.Health(); !h.OK {
						return fmt.Errorf("ingest failing since %s: %s", h.Since.Format(time.RFC3339), h.Err)
					}
					return nil
				})
				go func() { _ = ops.Serve(ctx, opsLn, mux) }()
				fmt.Fprintf(cmd.ErrOrStderr(), "leakscope-ingest: ops on http://%s (/healthz /readyz /metrics)\n", opsLn.Addr())
			}
			who := ""
			if writer != "" {
				who = ", writer " + writer
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "leakscope-ingest: bus %s, lake %s%s\n", bus.Redact(url), filepath.Join(data, "lake"), who)
			if _, err := b.IngestConsumer(ctx); err != nil { // fail fast: a server that refuses, or ingest modes that would mix
				return err
			}
			// Workers may not write job states themselves (deploy/accounts.conf).
			if err := jobs.KeepStates(ctx, b); err != nil {
				return err
			}
			if err := ing.Run(ctx, b, b); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			st := ing.Stats()
			fmt.Fprintf(cmd.ErrOrStderr(), "leakscope-ingest: stopped; %d events committed in %d batches (%d duplicates dropped, %d dead letters)\n",
				st.Events, st.Batches, st.Duplicates, st.DeadLetters)
			return nil
		},
	}
	root.Flags().StringVar(&data, "data", "./leakscope-data", "data directory: jetstream/ (embedded bus store) and lake/ (Parquet)")
	root.Flags().StringVar(&url, "nats-url", "", "consume from this NATS server instead of serving an embedded one")
	root.Flags().StringVar(&listen, "listen", "127.0.0.1:4222", "address the embedded server listens on")
	root.Flags().StringVar(&sync, "sync", "always", "embedded server's fsync: always (survives power loss) or interval (faster)")
	root.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every batch")
	root.Flags().StringVar(&writer, "writer", "", "name of this ingest among several sharing the lake and the consumer (e.g. ingest-1; a-z 0-9 _ -); empty: the only one")
	root.Flags().IntVar(&replicas, "replicas", 1, "replicas of the streams this process declares (3 on a three-node cluster)")
	root.Flags().StringVar(&opsAddr, "ops", "127.0.0.1:8081", "address of /healthz, /readyz and /metrics (empty: none)")
	root.Flags().DurationVar(&compactEvery, "compact-every", ingest.DefaultConfig("").CompactEvery, "while the stream is idle, merge this writer's small files (see leakscope compact --help); after a look that found nothing, wait this long before the next (0: never compact)")
	root.Flags().IntVar(&maxIDs, "max-indexed-ids", ingest.DefaultConfig("").MaxIndexedIDs, "event IDs of the newest batches kept in memory to drop re-publications (~100 bytes each; bounds ingest's memory whatever the lake's size)")
	return root
}
