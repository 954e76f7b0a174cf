package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"leakscope/ingest/dataset"
)

// newCompactCmd is `leakscope compact`: merge a writer's small lake files
// now, with ingest stopped (a running ingest does it while idle).
func newCompactCmd(g *globals) *cobra.Command {
	var writer string
	opts := dataset.DefaultCompactOptions()
	var smallMiB, targetMiB int64
	cmd := &cobra.Command{
		Use:   "compact [--writer NAME]",
		Short: "Merge the lake's small Parquet files into larger ones (ingest stopped)",
		Long: `compact merges a writer's small committed Parquet files, per table and
experiment, into larger ones. Every ingest batch writes one file per table and
experiment, so hundreds of sweeps leave thousands of files of a few hundred kB,
and every query pays per file: at 100× the first leakage matrix of a process
read ~5,900 summary files. A merged file holds exactly the rows of the files it
replaces; it is committed to the writer's manifest naming them, then they are
deleted (details: ingest/dataset/FORMAT.md, "Compaction"). No number changes.

A running ingest (leakscope up, leakscope ingest, leakscope-ingest) compacts by
itself whenever the stream is idle; this command is for a lake whose ingest is
stopped, e.g. a cached benchmark lake or an archive. It takes the writer's lock,
so it refuses while that writer's ingest runs.

Examples:
  leakscope compact                          the one-machine lake (--data ./leakscope-data)
  leakscope --data /srv/ls compact --writer ingest-1
  leakscope compact --min-files 2            merge even a few small files`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := dataset.ValidWriter(writer); err != nil {
				return err
			}
			switch {
			case opts.MinFiles < 2:
				return fmt.Errorf("--min-files %d: want >= 2 (merging one file changes nothing)", opts.MinFiles)
			case smallMiB < 1:
				return fmt.Errorf("--small-mib %d: want >= 1", smallMiB)
			case targetMiB < 1:
				return fmt.Errorf("--target-mib %d: want >= 1", targetMiB)
			}
			opts.SmallBytes, opts.TargetBytes = smallMiB<<20, targetMiB<<20
			// Locking would create a lake or a writer's manifest: a typo
			// in --data or --writer must not.
			if _, err := os.Stat(filepath.Join(g.lake(), dataset.ManifestFile(writer))); err != nil {
				if writer != "" {
					return fmt.Errorf("no writer %q in the lake %s (no %s): give --writer the name its ingest runs with", writer, g.lake(), dataset.ManifestFile(writer))
				}
				return fmt.Errorf("no lake at %s (no %s): give --data the folder that holds lake/", g.lake(), dataset.ManifestName)
			}
			unlock, err := dataset.Lock(g.lake(), writer)
			if errors.Is(err, dataset.ErrLocked) {
				return fmt.Errorf("%w: its ingest is running and compacts by itself while the stream is idle; stop it to compact now", err)
			}
			if err != nil {
				return err
			}
			defer unlock()
			m, err := dataset.OpenManifest(g.lake(), writer)
			if err != nil {
				return err
			}
			defer m.Close()
			moved, err := dataset.Recover(g.lake(), m)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(moved) > 0 {
				fmt.Fprintf(out, "moved %d uncommitted files to %s/ (as ingest does when it starts)\n", len(moved), dataset.OrphanDir)
			}
			start := time.Now()
			before := len(m.Files(""))
			// Progress on one rewritten line, for a person at a terminal.
			tty := term.IsTerminal(int(os.Stderr.Fd())) && cmd.ErrOrStderr() == os.Stderr
			if tty {
				opts.Progress = func(r dataset.CompactResult) {
					fmt.Fprintf(os.Stderr, "\rmerged %d files into %d (%.1f → %.1f MiB), %s", r.FilesIn, r.FilesOut,
						float64(r.BytesIn)/(1<<20), float64(r.BytesOut)/(1<<20), time.Since(start).Round(time.Second))
				}
			}
			res, err := dataset.Compact(cmd.Context(), g.lake(), m, opts)
			if tty && res.Groups > 0 {
				fmt.Fprintln(os.Stderr)
			}
			if err != nil {
				if res.Groups > 0 {
					fmt.Fprintf(out, "compacted in part: %d files merged into %d; the rest is left as it was\n", res.FilesIn, res.FilesOut)
				}
				return err
			}
			if res.Groups == 0 {
				fmt.Fprintf(out, "nothing to merge: no table and experiment holds %d files under %d MiB (%d committed files)\n", opts.MinFiles, smallMiB, before)
				return nil
			}
			fmt.Fprintf(out, "compacted %s: %d committed files → %d (%d merged into %d), %.1f MiB → %.1f MiB, in %s\n",
				g.lake(), before, len(m.Files("")), res.FilesIn, res.FilesOut, float64(res.BytesIn)/(1<<20), float64(res.BytesOut)/(1<<20), time.Since(start).Round(time.Millisecond))
			if len(res.Left) > 0 {
				fmt.Fprintf(out, "%d merged files could not be deleted (the next ingest start deletes them): %v\n", len(res.Left), res.Left)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&writer, "writer", "", "the writer whose files to merge (named ingest replicas: --writer of leakscope-ingest); empty: the one-machine writer")
	cmd.Flags().IntVar(&opts.MinFiles, "min-files", opts.MinFiles, "merge a table's experiment once it holds this many small files")
	cmd.Flags().Int64Var(&smallMiB, "small-mib", opts.SmallBytes>>20, "files under this size (MiB, on disk) are small")
	cmd.Flags().Int64Var(&targetMiB, "target-mib", opts.TargetBytes>>20, "merge at most this much input (MiB) into one file")
	return cmd
}
