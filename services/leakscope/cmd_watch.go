package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"leakscope/events/bus"
	"leakscope/query/live"
)

func newWatchCmd(g *globals) *cobra.Command {
	var sweep string
	var every time.Duration
	var once bool
	var top int
	cmd := &cobra.Command{
		Use:   "watch --sweep SWEEP|PREFIX",
		Short: "Watch a sweep in the terminal: progress per run, leading cells with CIs, stalled workers",
		Long: `watch follows a sweep from the bus (the event log from its start, then live):
progress bars per run, completions/s and ETA, the cells with the highest marker
rate with their 95 % intervals (Wilson; for adaptive runs the confidence sequence
and why a cell stopped), and workers whose heartbeats stopped. On a
terminal it redraws in place; otherwise it prints one line per refresh. It ends
when every run of the sweep has finished (or on Ctrl-C). Progress and ETA
count every run the sweep planned when it was submitted. --sweep may name
the start of one sweep's name (lg81 for lg81-sweep001).

It connects to a running 'leakscope up' on the same --data, or to --nats-url.

Examples:
  leakscope watch --sweep demo
  leakscope watch --sweep demo --once --top 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if g.natsURL == "" {
				if _, ok := runningUp(g); !ok {
					return errors.New("no running `leakscope up` on this --data to watch: start one, or pass --nats-url")
				}
			}
			st, err := startStack(ctx, g, stackOpts{reuseUp: true})
			if err != nil {
				return err
			}
			defer st.Close()
			agg := live.New()
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() { _ = agg.Run(sctx, st.Bus) }()
			out := cmd.OutOrStdout()
			tty := false
			if f, ok := out.(*os.File); ok {
				tty = term.IsTerminal(int(f.Fd()))
			}
			t := time.NewTicker(every)
			defer t.Stop()
			// Catch up with the log before the first frame, so a finished sweep
			// is not shown half-read (with stale heartbeats).
			if info, err := st.Bus.JS.Stream(ctx, bus.EventsStream); err == nil {
				last := info.CachedInfo().State.LastSeq
				deadline := time.Now().Add(time.Minute)
				for agg.Seq() < last && time.Now().Before(deadline) && ctx.Err() == nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
			// A name stands for the sweep of exactly that name, else for the
			// one sweep it begins (lg81 → lg81-sweep001).
			name, said := sweep, false
			for {
				m := agg.Resolve(name)
				if len(m) == 1 {
					sweep = m[0]
					break
				}
				switch {
				case len(m) > 1:
					return fmt.Errorf("%q begins several sweeps: %s; name one", name, strings.Join(m, ", "))
				case once:
					return fmt.Errorf("no sweep named %q or beginning so in the event log (sweeps: %v); a sweep appears once it is submitted or its first run starts", name, agg.Sweeps())
				case !said:
					fmt.Fprintf(cmd.ErrOrStderr(), "no sweep %q yet (sweeps so far: %v): waiting for one named so or beginning so\n", name, agg.Sweeps())
					said = true
				}
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
			for {
				snap := agg.Snapshot(sweep)
				if tty {
					fmt.Fprint(out, "\033[H\033[2J")
					printWatchFrame(out, snap, top)
				} else if once {
					printWatchFrame(out, snap, top)
				} else {
					fmt.Fprintln(out, watchLine(snap))
				}
				if once || (snap.Known && snap.Finished) {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
		},
	}
	cmd.Flags().StringVar(&sweep, "sweep", "", "sweep to watch")
	cmd.Flags().DurationVar(&every, "every", time.Second, "refresh interval")
	cmd.Flags().BoolVar(&once, "once", false, "print one full frame and exit")
	cmd.Flags().IntVar(&top, "top", 10, "how many leading cells to show")
	_ = cmd.MarkFlagRequired("sweep")
	return cmd
}

func watchLine(s live.Snapshot) string {
	if !s.Known {
		return fmt.Sprintf("%s sweep %s: not started yet", s.Time.Format("15:04:05"), s.Sweep)
	}
	var stalled []string
	for _, w := range s.Workers {
		if w.Stalled {
			stalled = append(stalled, w.Worker)
		}
	}
	line := fmt.Sprintf("%s sweep %s: %d/%d completions (%.0f%%), %.1f/s, ETA %s", s.Time.Format("15:04:05"), s.Sweep,
		s.Done, s.Expected, pct(s.Done, s.Expected), s.PerSecond, eta(s.ETASeconds))
	if len(stalled) > 0 {
		line += " · STALLED: " + strings.Join(stalled, ", ")
	}
	if s.Finished {
		line += " · finished"
	}
	return line
}

func printWatchFrame(w io.Writer, s live.Snapshot, top int) {
	fmt.Fprintln(w, watchLine(s))
	if !s.Known {
		return
	}
	fmt.Fprintln(w)
	for _, r := range s.Runs {
		const width = 30
		fill := 0
		if r.Expected > 0 {
			fill = min(width, width*r.Done/r.Expected)
		}
		fmt.Fprintf(w, "%-28s [%s%s] %d/%d %s\n", r.Experiment+"/"+r.RunID, strings.Repeat("#", fill), strings.Repeat(".", width-fill), r.Done, r.Expected, r.Status)
	}
	cells := append([]live.Cell(nil), s.Cells...)
	rate := func(c live.Cell) float64 {
		if c.Rate == nil {
			return -1 // undefined (n = 0): last
		}
		return *c.Rate
	}
	sort.SliceStable(cells, func(i, j int) bool { return rate(cells[i]) > rate(cells[j]) })
	fmt.Fprintf(w, "\nhighest marker rates (fraction, 95%% interval: Wilson, or for adaptive runs the confidence sequence):\n")
	for i, c := range cells {
		if i == top || c.N == 0 {
			break
		}
		stop := ""
		if c.Stopped != "" {
			stop = "  stopped: " + c.Stopped
		}
		fmt.Fprintf(w, "  %-28s %-34s %.3f [%.3f, %.3f]  n %d/%d%s\n", c.RunID, c.Persona, *c.Rate, *c.CILow, *c.CIHigh, c.N, c.Expected, stop)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "\nnote: %s\n", n)
	}
	for _, wk := range s.Workers {
		if wk.Stalled {
			fmt.Fprintf(w, "\n⚠ worker %s (run %s) stalled: no heartbeat for %.1f s (interval %d ms)\n", wk.Worker, wk.RunID, wk.LastBeatAgoS, wk.IntervalMS)
		}
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func eta(s *float64) string {
	if s == nil {
		return "—"
	}
	return (time.Duration(*s) * time.Second).String()
}
