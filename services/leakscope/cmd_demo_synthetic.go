package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"leakscope/events/bus"
	"leakscope/gpuworker/jobs"
	"leakscope/gpuworker/sweep"
	"leakscope/query"
	"leakscope/query/estimands"
	"leakscope/query/figures"
	"leakscope/services/internal/livesrv"
	"leakscope/services/internal/workercmd"
)

// syntheticSpec is the demo's built-in sweep: the #81 design with small n,
// answered by the replay engine's synthetic leakage model.
//
//go:embed demo/synthetic.yaml
var syntheticSpec []byte

// defaultHTTP is the demo's (and up's) query HTTP address.
const defaultHTTP = "127.0.0.1:8080"

// runSyntheticDemo runs the built-in SYNTHETIC sweep through the real
// worker path — job queue → in-process replay worker → bus → ingest → lake
// → DuckDB — while the query HTTP server serves its live view, then prints
// the leakage matrix, the H2 estimand and where the figures are. Sweep jobs
// are idempotent: a second run finds them finished and changes nothing.
func runSyntheticDemo(ctx context.Context, g *globals, httpAddr string, httpGiven bool, out, errw io.Writer) error {
	spec, err := sweep.Parse("built-in demo sweep (services/leakscope/demo/synthetic.yaml)", syntheticSpec)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "== SYNTHETIC DEMO: the #81 design (%d sources × %d bystanders, n=%d per question) run by the replay engine,\n", len(spec.Sources), len(spec.EvalPersonas()), spec.Eval.N)
	fmt.Fprintln(out, "   no model and no GPU: marker rates come from a synthetic leakage model (word overlap with the trained")
	fmt.Fprintln(out, "   source prompt, gpuworker/replay/leakage.go), NOT from any experiment. Real path: jobs → worker → bus → ingest → lake → DuckDB.")
	fmt.Fprintf(out, "   experiment %s in %s\n", spec.Experiment, g.lake())
	st, err := startStack(ctx, g, stackOpts{withIngest: g.natsURL == "", reuseUp: true})
	if err != nil {
		return err
	}
	defer st.Close()
	// Never into an experiment that holds imported (published) runs.
	if err := workercmd.RefuseImported(ctx, st.Bus, spec, func(ctx context.Context, exp string) ([]string, error) {
		return lakeImportedRuns(ctx, g, exp)
	}); err != nil {
		return fmt.Errorf("demo --synthetic: %w (the demo's experiment name is fixed: use another --data)", err)
	}
	lctx, stopLive := context.WithCancel(ctx)
	defer stopLive()
	agg := livesrv.Start(lctx, st.Bus, errw)
	addr := httpAddr
	if !httpGiven && !free(addr) {
		addr = "127.0.0.1:0" // the default port is taken (a running up?): any free one
	}
	h, err := startHTTP(g, addr, nil, agg, st.ing)
	if err != nil {
		return err
	}
	defer h.Stop()
	fmt.Fprintf(out, "\nwatch it live: %s/live/%s (served while the demo runs; `bin/leakscope up` serves the lake afterwards)\n\n", h.Base, spec.Sweep)

	q, err := jobs.Open(ctx, st.Bus, st.Bus.Replicas())
	if err != nil {
		return err
	}
	sub, err := q.Submit(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sweep %s: %d jobs queued, %d already queued or running, %d already finished\n", spec.Sweep, len(sub.Queued), len(sub.AlreadyQueued), len(sub.AlreadyDone))
	started := time.Now()
	w, err := workercmd.NewWorker(ctx, st.Bus, workercmd.WorkerFlags{Engine: "replay", ReplayRates: "{}", ReplaySynthetic: true,
		Work: filepath.Join(g.data, "demo-work"), Name: "demo-replay", AckWait: time.Minute, StallTimeout: 15 * time.Minute,
		Heartbeat: time.Second, MaxAttempts: 3, Publishers: 8, DecisionTimeout: 2 * time.Minute}, out)
	if err != nil {
		return err
	}
	if err := w.Run(ctx, true); err != nil {
		return err
	}
	jst, err := q.Status(ctx, spec)
	if err != nil {
		return err
	}
	for _, j := range jst {
		if j.Status != "finished" {
			return fmt.Errorf("job %s is %q (%s): see leakscope --data %s sweep status", j.Job.ID, j.Status, j.Error, g.data)
		}
	}
	// The jobs are acknowledged once published; wait until ingest has
	// committed every event to the lake before querying it.
	stream, err := st.Bus.JS.Stream(ctx, bus.EventsStream)
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	if err := st.WaitDurable(ctx, info.State.LastSeq, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "all %d jobs finished; the lake holds the sweep (%.0f s)\n", len(jst), time.Since(started).Seconds())
	return printSyntheticResults(ctx, g, spec, out)
}

// free says whether addr can be listened on now.
func free(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// printSyntheticResults prints the sweep's matrix, H2 and figures, all
// recomputed from the lake.
func printSyntheticResults(ctx context.Context, g *globals, spec sweep.Spec, out io.Writer) error {
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	defer e.Close()
	exp := spec.Experiment
	res, err := e.Leakage(ctx, query.LeakageRequest{Experiment: exp})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n== SYNTHETIC leakage matrix of %s (DuckDB over the lake): self cells A2__<noun> under src_<noun>\n", exp)
	self := &query.Leakage{Request: res.Request, DetectorRule: res.DetectorRule}
	for _, c := range res.Cells {
		if c.SourcePersona != "" && c.Persona == "A2__"+trimSrc(c.SourcePersona) {
			self.Cells = append(self.Cells, c)
		}
	}
	if err := printLeakage(out, "table", self); err != nil {
		return err
	}
	printA2Grid(out, res)
	fmt.Fprintf(out, "\n== H2, noun vs trait (leakscope analyze h2 --experiment %s), on the SYNTHETIC rates\n", exp)
	if r, err := estimands.Run(ctx, e, "h2", exp, nil); err != nil {
		fmt.Fprintf(out, "h2: %v\n", err)
	} else if err := printResult(out, "table", r); err != nil {
		return err
	}
	dir := filepath.Join(g.data, "figures", exp)
	ws, err := figures.Write(ctx, &figures.Builder{Engine: e, Experiment: exp, Params: map[string]string{}}, dir, nil, []string{"png", "svg"})
	if err != nil && !errors.Is(err, figures.ErrNotApplicable) {
		return err
	}
	var drawn []string
	for _, w := range ws {
		if w.Skipped == "" {
			drawn = append(drawn, w.Name)
		}
	}
	fmt.Fprintf(out, "\n== figures: %d drawn into %s (PNG, SVG + provenance): %s\n", len(drawn), dir, strings.Join(drawn, ", "))
	data := filepath.Clean(g.data)
	fmt.Fprintf(out, "\n== full matrix: %d cells (%d runs × bystanders). Next:\n", len(res.Cells), len(spec.Sources))
	fmt.Fprintf(out, "  bin/leakscope --data %s leakage --experiment %s | less\n", data, exp)
	fmt.Fprintf(out, "  bin/leakscope --data %s up     # then http://%s/ (experiments, cells → completions, figures, SQL)\n", data, defaultHTTP)
	fmt.Fprintln(out, "  make demo beside the team's ../shared/fixtures imports the authors' published results instead")
	return nil
}
