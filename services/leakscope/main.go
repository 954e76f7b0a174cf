// Command leakscope is the all-in-one leakscope process: the embedded NATS
// JetStream server, ingest, the query HTTP server, the importer and the
// query commands, over one data directory.
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

	"leakscope/query/duck"
	"leakscope/services/internal/ops"
)

// globals are the flags every subcommand shares.
type globals struct {
	data    string
	natsURL string
	sync    string
	verbose bool
}

func (g *globals) lake() string      { return filepath.Join(g.data, "lake") }
func (g *globals) jetstream() string { return filepath.Join(g.data, "jetstream") }
func (g *globals) urlFile() string   { return filepath.Join(g.data, "nats.url") }

func (g *globals) logger() *slog.Logger {
	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "leakscope:", err)
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		os.Exit(1)
	}
}

// exitCode lets a command choose its exit status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "leakscope",
		Short: "Record and analyse persona-marker leakage experiments",
		Long: `leakscope records persona-marker leakage experiments as events on NATS JetStream,
writes them to a Parquet lake and recomputes every number from it with DuckDB.

Start here:
  leakscope demo                                  import ../shared/fixtures and print the i81 matrix
  leakscope import RESULTS_DIR                    import published result files (through the bus)
  leakscope runs                                  list experiments and runs
  leakscope leakage --experiment leakage_i81      the source × bystander leakage matrix
  leakscope sql "SELECT count(*) FROM completions"
  leakscope up                                    serve: embedded NATS + ingest + HTTP API

Everything lives under --data (default ./leakscope-data): jetstream/ (the event
log) and lake/ (Parquet, see README "Lake layout").

` + ops.EnvHelp + `
(LEAKSCOPE_NATS_URL makes every command use that bus, LEAKSCOPE_DATA that data
directory.)`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return ops.BindEnv(cmd) },
	}
	root.PersistentFlags().StringVar(&g.data, "data", "./leakscope-data", "data directory holding the JetStream store (jetstream/) and the Parquet lake (lake/)")
	root.PersistentFlags().StringVar(&g.natsURL, "nats-url", "", "use this external NATS server (e.g. nats://host:4222) instead of the embedded one")
	root.PersistentFlags().StringVar(&g.sync, "sync", "always", "embedded server's fsync: always (an acknowledged event survives power loss; ~4,900 events/s here) or interval (every 2 min; ~11× faster; a power loss may lose up to 2 min of acknowledged events)")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log ingest batches and server events")
	root.PersistentFlags().StringVar(&duck.MemoryLimit, "sql-memory-limit", duck.MemoryLimit, "DuckDB's memory limit for queries (a size: 512MiB, 4GB); a statement that needs more fails, and the process's peak memory grows by at most 2 × this + 512 MiB (README \"Hostile input\")")
	root.AddCommand(newUpCmd(g), newIngestCmd(g), newServeCmd(g), newImportCmd(g), newLeakageCmd(g), newSQLCmd(g), newRunsCmd(g), newDemoCmd(g), newAnalyzeCmd(g), newJudgeCmd(g), newWorkerCmd(g), newSweepCmd(g), newLoadgenCmd(g), newAdaptiveCmd(), newCompactCmd(g), newExportCmd(g), newWatchCmd(g), newFiguresCmd(g), newNotebookCmd(g), newSidecarCmd(g))
	return root
}
