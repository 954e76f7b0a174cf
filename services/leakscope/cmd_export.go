package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"leakscope/events"
	"leakscope/ingest/dataset"
	"leakscope/query/duck"
)

// newExportCmd is `leakscope export`: the lake's tables, de-duplicated by
// row key, from one snapshot of the manifests, as one Parquet file each,
// for readers outside leakscope.
func newExportCmd(g *globals) *cobra.Command {
	var out, experiment string
	cmd := &cobra.Command{
		Use:   "export --out DIR [--experiment E]",
		Short: "Write each lake table, de-duplicated and consistent, as one Parquet file for outside readers",
		Long: `export writes every table of the lake (or of one experiment) into DIR as
DIR/<table>.parquet, with the query service's rows exactly: one row per row key
(the first by stream_seq), the experiment as a column. DIR/export.json lists the
tables, their row keys and row counts. DuckDB, pandas or polars then read DIR
with no further care.

Reading the lake folders directly needs care that export takes for you:
  - a row key is not always event_id: cosines (event_id, pair_index),
    marker_hits (event_id, hit_index), stop_decisions (event_id, persona);
    see ingest/dataset/FORMAT.md. An event re-published after ingest forgot
    its ID, or stored by two ingest replicas, is in two files: keep one row
    per (experiment, key).
  - while ingest compacts, a merged file sits beside the files it replaces
    for a moment (no rename of many files is atomic), and a replaced file
    may vanish while a query reads it: a plain count(*) over the folders can
    double or fail then.
export links the files committed in one reading of the manifests into
DIR/.export-<pid>/ (hard links on one filesystem, copies otherwise; read
again if a compaction replaced one meanwhile), reads them with the query
service's views and writes with DuckDB's COPY … (FORMAT parquet). It never
writes to the lake, and it runs beside a running ingest. cell_counts (ingest's
per-file summaries of the lake's files) is left out: count from completions.

Examples:
  leakscope export --out ./export
  leakscope export --out ./i81 --experiment leakage_i81
  duckdb -c "SELECT persona, count(*) FROM './i81/completions.parquet' GROUP BY 1"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exportLake(cmd.Context(), g.lake(), out, experiment, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "folder to write (created; must be empty or absent, outside the lake)")
	cmd.Flags().StringVar(&experiment, "experiment", "", "export only this experiment (default: every one)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// exportTable is one table's line in export.json.
type exportTable struct {
	Name string   `json:"name"`
	File string   `json:"file"`
	Key  []string `json:"key"`
	Rows int64    `json:"rows"`
}

// exportManifest is DIR/export.json.
type exportManifest struct {
	FormatVersion string        `json:"format_version"`
	ExportedAt    time.Time     `json:"exported_at"`
	Experiment    string        `json:"experiment,omitempty"`
	LakeFiles     int           `json:"lake_files"`
	Tables        []exportTable `json:"tables"`
	Note          string        `json:"note"`
}

// exportName is the export's manifest in DIR.
const exportName = "export.json"

func exportLake(ctx context.Context, lake, out, experiment string, w io.Writer) error {
	if experiment != "" && !events.ValidExperiment(experiment) {
		return fmt.Errorf("--experiment %q: not an experiment name (letters, digits, _ and -)", experiment)
	}
	if m, _ := filepath.Glob(filepath.Join(lake, "_manifest*.jsonl")); len(m) == 0 {
		return fmt.Errorf("no lake at %s (no %s): give --data the folder that holds lake/", lake, dataset.ManifestName)
	}
	if strings.TrimSpace(out) == "" {
		return errors.New("--out is empty: name the folder to write")
	}
	absLake, err := realPath(lake)
	if err != nil {
		return err
	}
	absOut, err := realPath(out)
	if err != nil {
		return err
	}
	if within(absOut, absLake) {
		return fmt.Errorf("--out %s is inside the lake %s: export writes outside it", out, lake)
	}
	if store := filepath.Join(filepath.Dir(absLake), "jetstream"); within(absOut, store) {
		return fmt.Errorf("--out %s is inside the JetStream store %s: export writes outside it", out, store)
	}
	created := false
	switch entries, err := os.ReadDir(absOut); {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(absOut, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		created = true
	case err != nil:
		return fmt.Errorf("--out: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("--out %s is not empty: export writes into a new or empty folder", out)
	}
	var written []string
	work := filepath.Join(absOut, fmt.Sprintf(".export-%d", os.Getpid()))
	fail := func(err error) error { // nothing half-written stays
		os.RemoveAll(work)
		for _, p := range written {
			os.Remove(p)
		}
		if created {
			os.Remove(absOut)
		}
		return err
	}
	snap, err := dataset.TakeSnapshot(absLake, filepath.Join(work, "lake"), experiment)
	if err != nil {
		return fail(err)
	}
	if experiment != "" && len(snap.Files) == 0 {
		return fail(fmt.Errorf("no experiment %q in the lake %s: %s", experiment, lake, experimentList(absLake)))
	}
	tables, err := copyTables(ctx, snap.Dir)
	if err != nil {
		return fail(err)
	}
	for _, t := range tables {
		dst := filepath.Join(absOut, t.File)
		if err := os.Rename(filepath.Join(snap.Dir, exportTmp, t.File), dst); err != nil {
			return fail(fmt.Errorf("export %s: %w", t.Name, err))
		}
		written = append(written, dst)
	}
	man := exportManifest{FormatVersion: dataset.FormatVersion, ExportedAt: time.Now().UTC(), Experiment: experiment,
		LakeFiles: len(snap.Files), Tables: tables,
		Note: "one row per (experiment, key), the first by stream_seq, as leakscope's views; from one snapshot of the lake's manifests"}
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(absOut, exportName), append(b, '\n'), 0o644); err != nil {
		return fail(fmt.Errorf("export: %w", err))
	}
	if err := os.RemoveAll(work); err != nil {
		return fmt.Errorf("export written; its snapshot folder %s could not be removed: %w", work, err)
	}
	var counts []string
	for _, t := range tables {
		if t.Rows > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", t.Name, t.Rows))
		}
	}
	if len(counts) == 0 {
		counts = []string{"every table empty"}
	}
	fmt.Fprintf(w, "exported %d tables from %d committed lake files to %s (%s): %s\n", len(tables), len(snap.Files), out, exportName, strings.Join(counts, ", "))
	return nil
}

// exportTmp is where DuckDB writes inside the snapshot (the only folder
// its connection may write to) before the files move to DIR.
const exportTmp = "_export"

// copyTables writes each table's de-duplicated view over the snapshot lake
// to snap/_export/<table>.parquet, and counts its rows.
func copyTables(ctx context.Context, snap string) ([]exportTable, error) {
	if err := os.MkdirAll(filepath.Join(snap, exportTmp), 0o755); err != nil {
		return nil, err
	}
	db, err := duck.Open(snap)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	var tables []exportTable
	for _, t := range dataset.Tables {
		if t.Name == dataset.TableCellCounts {
			continue // summaries of lake files, not data: count from completions
		}
		file := t.Name + ".parquet"
		view := `"` + t.Name + `"`
		res, err := db.SQL.ExecContext(ctx, fmt.Sprintf("COPY (SELECT * FROM %s) TO %s (FORMAT parquet, COMPRESSION zstd)",
			view, duck.Quote(filepath.Join(snap, exportTmp, file))))
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", t.Name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("export %s: rows written: %w", t.Name, err)
		}
		tables = append(tables, exportTable{Name: t.Name, File: file, Key: append([]string{dataset.PartitionColumn}, t.Key...), Rows: n})
	}
	return tables, nil
}

// experimentList names the lake's experiments for an error message.
func experimentList(lake string) string {
	files, err := dataset.CommittedFiles(lake, "")
	if err != nil {
		return err.Error()
	}
	var names []string
	for _, fe := range files {
		if !slices.Contains(names, fe.Experiment) {
			names = append(names, fe.Experiment)
		}
	}
	if len(names) == 0 {
		return "it holds none yet"
	}
	slices.Sort(names)
	if len(names) > 10 {
		return fmt.Sprintf("it holds %s and %d more", strings.Join(names[:10], ", "), len(names)-10)
	}
	return "it holds " + strings.Join(names, ", ")
}

// realPath is p absolute with the symbolic links of its longest existing
// prefix resolved, so a link cannot hide that p lies in the lake.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	for dir := abs; ; dir = filepath.Dir(dir) {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(real, rest), nil
		}
		if filepath.Dir(dir) == dir {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
}

// within says whether p is dir or lies under it (both real paths).
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+string(filepath.Separator))
}
