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
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"leakscope/events/bus"
	"leakscope/ingest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "leakscope-ingest:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var data, url, listen, sync string
	var verbose bool
	var maxIDs int
	root := &cobra.Command{
		Use:   "leakscope-ingest [--data DIR] [--listen HOST:PORT | --nats-url URL]",
		Short: "Write the event stream into the Parquet lake (with an embedded bus by default)",
		Long: `leakscope-ingest consumes the leakscope events stream and writes it to the
Parquet lake under DIR/lake (atomic files, manifest, dead letters), exactly as
'leakscope up' does, without the query service.

Without --nats-url it serves an embedded NATS JetStream server (store under
DIR/jetstream) on --listen, so GPU workers on this or other machines publish to
nats://HOST:PORT. Query the lake with 'leakscope --data DIR leakage …' here or
after copying DIR/lake elsewhere. Stops on SIGINT/SIGTERM after committing
what it has.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			var b *bus.Bus
			var err error
			if url != "" {
				b, err = bus.Connect(ctx, url, bus.DefaultConfig())
			} else {
				emb, eerr := bus.StartEmbedded(filepath.Join(data, "jetstream"), listen, bus.WithSync(sync))
				if eerr != nil {
					return eerr
				}
				defer emb.Shutdown()
				b, err = bus.Connect(ctx, "", bus.DefaultConfig(), emb.ConnectOption())
				url = emb.ClientURL()
			}
			if err != nil {
				return err
			}
			defer b.Close()
			cfg := ingest.DefaultConfig(filepath.Join(data, "lake"))
			cfg.MaxIndexedIDs = maxIDs
			ing, err := ingest.Open(cfg, log)
			if err != nil {
				return fmt.Errorf("open lake: %w", err)
			}
			defer ing.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "leakscope-ingest: bus %s, lake %s\n", url, filepath.Join(data, "lake"))
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
	root.Flags().IntVar(&maxIDs, "max-indexed-ids", ingest.DefaultConfig("").MaxIndexedIDs, "event IDs of the newest batches kept in memory to drop re-publications (~100 bytes each; bounds ingest's memory whatever the lake's size)")
	return root
}
