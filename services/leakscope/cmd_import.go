package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/gpuworker/importer"
	"leakscope/ingest/dataset"
	"leakscope/query"
	"leakscope/services/internal/mapimport"
)

type importFlags struct {
	root        string
	marker      string
	dryRun      bool
	skipUnknown bool
	factors     []string
	design      string
	mapping     string
	suggest     string
}

func newImportCmd(g *globals) *cobra.Command {
	f := &importFlags{}
	cmd := &cobra.Command{
		Use:   "import PATH...",
		Short: "Import published result files as events, through the bus into the lake",
		Long: `Import reads result files (per-completion lists with marker_present, raw
{persona: {question: [texts]}} files, marker_eval.json in all its variants, the
i81 per-cell CSV, cosine matrices and pair lists), detected by content, turns
them into events and publishes them on the bus, exactly as a GPU worker would.
It returns once ingest has committed every event to the lake.

Naming: experiment = the first folder under the directory given (or --root);
run = the rest of the folder path (the file stem for files directly in the
experiment folder), plus /<source> for files that hold several sources.

Every file is parsed and validated before anything is published: one bad
file stops the import with an error naming the file and the position, and
nothing is written. Importing the same files again changes nothing.

Without --nats-url it uses a running 'leakscope up' on the same --data, or
starts the embedded server and ingest for the duration of the command.

Examples:
  leakscope import ../shared/fixtures
  leakscope import --dry-run --skip-unknown ~/explore-persona-space/eval_results
  leakscope import --root ../shared/fixtures ../shared/fixtures/leakage_i81
  leakscope import --marker '[PROX]' results/proximity_transfer/expA_completions.json
  leakscope import --factor model_family=qwen --design design.json ../shared/fixtures-rates-only

Design factors: --factor key=value (repeatable) adds or overrides a run factor
of every run imported; --design FILE.json adds or overrides run factors per
run ID and bystander factors per persona:
  {"runs": {"<run_id>": {"factor": "value"}}, "personas": {"<persona>": {"factor": "value"}}}
The design file wins over --factor, which wins over the file's own factors.
A run's "source_persona" (in --design runs or --factor) sets its source
persona — for files that name none — rather than a factor.

Any other shape: --map FILE.yaml declares how its files become cells or
completions, as a DuckDB query over each matched file ({file}); the rows go
through the same validation, event IDs and publishing as the shapes above.
--suggest FILE proposes a starting mapping from a file's structure. Shipped
mappings: --map run-result-leakage, run-result-sweep, marker-eval-strict,
completion-list.
  leakscope import --suggest runs/my_sweep/lr_1e-4/seed_1/results.json > sweep.yaml
  leakscope import --map sweep.yaml --root runs runs/my_sweep

When a file's recorded marker flags and detection with the run's marker
disagree grossly, import names the bracketed token the flags follow and the
--marker to re-import with; --marker still decides.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.suggest != "" {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.MinimumNArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.suggest != "" {
				text, err := mapimport.Suggest(cmd.Context(), f.suggest)
				if err != nil {
					return err
				}
				_, err = io.WriteString(cmd.OutOrStdout(), text)
				return err
			}
			return runImport(cmd.Context(), g, f, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&f.root, "root", "", "directory experiments are named from (default: the directory given, or a file's grandparent)")
	cmd.Flags().StringVar(&f.marker, "marker", "", "marker string for every imported run (default: from each file's config, else [ZLT])")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "list what would be imported and publish nothing")
	cmd.Flags().StringArrayVar(&f.factors, "factor", nil, "run factor key=value for every imported run (repeatable; overrides the file's)")
	cmd.Flags().StringVar(&f.design, "design", "", `design file {"runs": {run_id: {factor: value}}, "personas": {persona: {factor: value}}} adding or overriding run and persona factors`)
	cmd.Flags().StringVar(&f.mapping, "map", "", "mapping FILE.yaml (or a shipped mapping's name) declaring how files of another shape become cells or completions")
	cmd.Flags().StringVar(&f.suggest, "suggest", "", "print a starting mapping for files shaped like this FILE, and import nothing")
	cmd.Flags().BoolVar(&f.skipUnknown, "skip-unknown", false, "list files of no known shape (JSON, CSV, JSON Lines; also files that merely resemble a known format, and empty ones) as skipped, with the reason, instead of failing; a file of a known shape that is malformed still stops the import")
	return cmd
}

func runImport(ctx context.Context, g *globals, f *importFlags, paths []string, out, errw io.Writer) error {
	root := f.root
	if root == "" && len(paths) == 1 {
		if st, err := os.Stat(paths[0]); err == nil && st.IsDir() {
			root = paths[0]
		}
	}
	factors, err := importer.ParseFactorFlags(f.factors)
	if err != nil {
		return err
	}
	var design *importer.Design
	if f.design != "" {
		if design, err = importer.LoadDesign(f.design); err != nil {
			return err
		}
	}
	opt := importer.Options{Marker: f.marker, Now: time.Now(), SkipUnknown: f.skipUnknown, Factors: factors, Design: design}
	var plan importer.Plan
	if f.mapping != "" {
		m, err := mapimport.Load(f.mapping)
		if err != nil {
			return err
		}
		plan, err = mapimport.Run(ctx, m, root, paths, opt)
		if err != nil {
			return err
		}
	} else if plan, err = importer.Parse(root, paths, opt); err != nil {
		return err
	}
	printPlan(out, plan)
	if countImported(plan) == 0 {
		return fmt.Errorf("no result files to import under %v (%d files skipped, listed above)", paths, len(plan.Files))
	}
	completing, err := checkUnchangedOrigins(ctx, g, plan)
	if err != nil {
		return err
	}
	for _, c := range completing {
		fmt.Fprintf(out, "note: %s\n", c)
	}
	if f.dryRun {
		fmt.Fprintf(out, "dry run: %d events would be published; nothing was written\n", len(plan.Events))
		return nil
	}
	// With --nats-url the ingest of that deployment writes the lake; a second
	// ingest here would split the stream between two lakes.
	st, err := startStack(ctx, g, stackOpts{withIngest: g.natsURL == "", reuseUp: true})
	if err != nil {
		return err
	}
	defer st.Close()
	// Every event must fit the bus before the first is published: a file
	// must never be stored in part.
	if err := plan.CheckSize(st.Bus.MaxPayload(), bus.MessageSize); err != nil {
		return err
	}
	fmt.Fprintf(errw, "publishing %d events to %s\n", len(plan.Events), st.Describe)
	bar := newBar(errw, len(plan.Events), "publish")
	// The runs' run_finished (the import ledger) go last, once every other
	// event is acknowledged: a failed import leaves its runs unfinished.
	body, finish := plan.Finishing()
	res, err := st.Bus.PublishAll(ctx, body, func(n int) { bar.set(n) })
	if err == nil {
		var fin bus.PublishResult
		fin, err = st.Bus.PublishAll(ctx, finish, func(n int) { bar.set(len(body) + n) })
		res.Published, res.Duplicates, res.LastSeq = res.Published+fin.Published, res.Duplicates+fin.Duplicates, max(res.LastSeq, fin.LastSeq)
	}
	bar.done()
	if err != nil {
		return fmt.Errorf("%w\nthe runs of this import are left unfinished (no run_finished): import the files again to complete them", err)
	}
	bar = newBar(errw, int(res.LastSeq), "ingest ")
	if err := st.WaitDurable(ctx, res.LastSeq, func(floor uint64) { bar.set(int(floor)) }); err != nil {
		return err
	}
	bar.done()
	where := filepath.Clean(g.lake())
	if g.natsURL != "" {
		where = "the lake of the ingest consuming " + g.natsURL
	}
	fmt.Fprintf(out, "imported: %d events sent, %d new on the bus (%d were already there); all are committed to %s\n",
		res.Published, res.Published-res.Duplicates, res.Duplicates, where)
	return nil
}

func countImported(plan importer.Plan) int {
	n := 0
	for _, f := range plan.Files {
		if f.Skipped == "" && f.Format != "" {
			n++
		}
	}
	return n
}

// checkUnchangedOrigins refuses to re-import a run whose origin file has
// changed since it was imported: events are identified by their natural
// key, so the new numbers would be dropped as duplicates without a word.
// A run whose import failed part-way (no run_finished, the ledger entry)
// may be completed from a changed file; the returned notes say which, and
// that its events already stored keep their stored values.
func checkUnchangedOrigins(ctx context.Context, g *globals, plan importer.Plan) (completing []string, err error) {
	if _, err := os.Stat(filepath.Join(g.lake(), dataset.TableRuns)); err != nil {
		return nil, nil // nothing imported yet
	}
	e, err := query.Open(g.lake())
	if err != nil {
		return nil, err
	}
	defer e.Close()
	stored, err := e.Runs(ctx, "")
	if err != nil {
		return nil, err
	}
	type key struct{ exp, run string }
	sha := map[key]query.RunSummary{}
	for _, r := range stored {
		sha[key{r.Experiment, r.RunID}] = r
	}
	var changed []string
	for _, ev := range plan.Events {
		r, ok := ev.Payload.(*events.Run)
		if !ok || !r.Imported {
			continue
		}
		old, ok := sha[key{ev.Experiment, ev.RunID}]
		if !ok || old.OriginSHA256 == "" || old.OriginSHA256 == r.OriginSHA256 {
			continue
		}
		if !old.Finished {
			completing = append(completing, fmt.Sprintf("%s/%s: completing an import that failed part-way (%s had SHA-256 %.12s…, now %.12s…); its %d completions and %d cells already stored keep their stored values, the rest comes from the file now",
				ev.Experiment, ev.RunID, r.OriginFile, old.OriginSHA256, r.OriginSHA256, old.Completions, old.Cells))
			continue
		}
		changed = append(changed, fmt.Sprintf("%s/%s: %s was imported with SHA-256 %.12s…, the file now has %.12s…", ev.Experiment, ev.RunID, r.OriginFile, old.OriginSHA256, r.OriginSHA256))
	}
	if len(changed) > 0 {
		return nil, fmt.Errorf("these runs were imported before from files that have changed since:\n  %s\nevents are identified by run, persona, question and sample, so re-importing would keep the old numbers. Import the new version into another --data directory, or under another folder name (the run is named after the path)", strings.Join(changed, "\n  "))
	}
	return completing, nil
}

func printPlan(out io.Writer, plan importer.Plan) {
	for _, fr := range plan.Files {
		if fr.Skipped != "" {
			fmt.Fprintf(out, "skip    %s: %s\n", fr.Path, fr.Skipped)
			continue
		}
		fmt.Fprintf(out, "import  %s [%s] → %s, runs %v, %d events\n", fr.Path, fr.Format, fr.Experiment, fr.Runs, fr.Events)
		for _, n := range fr.Notes {
			fmt.Fprintf(out, "        note: %s\n", n)
		}
		if g := fr.MarkerGuess; g != nil && g.Mismatch {
			fmt.Fprintf(out, "        warning: run marker %q: %s\n", g.RunMarker, g.Message)
		}
	}
	for _, n := range plan.Notes {
		fmt.Fprintf(out, "note: %s\n", n)
	}
}

// bar is a progress bar on a terminal and silence elsewhere (logs and CI).
type bar struct{ pb *progressbar.ProgressBar }

func newBar(w io.Writer, max int, what string) *bar {
	if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return &bar{}
	}
	return &bar{pb: progressbar.NewOptions(max, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())}
}

func (b *bar) set(n int) {
	if b.pb != nil {
		_ = b.pb.Set(n)
	}
}

func (b *bar) done() {
	if b.pb != nil {
		_ = b.pb.Finish()
	}
}
