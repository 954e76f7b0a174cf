package importer

import (
	"fmt"
	"time"

	"leakscope/events"
)

// fileCtx is what a format parser gets: the file, its naming, the run
// marker inferred for it, and the output it fills.
type fileCtx struct {
	loc          location
	data         []byte
	sha          string
	now          time.Time
	marker       string // marker inferred for this file's runs
	markerOrigin string
	markers      *markerResolver
	report       *FileReport
	skipUnknown  bool
	segs         []*segment
	byRun        map[string]*segment
}

// segment is one run's share of one file: the run_started payload this file
// proposes for it and the events it contributes, with their positions.
type segment struct {
	run    string
	meta   events.Run
	events []events.Event
	pos    []string
}

// seg returns the file's segment for run, creating it (with the common
// run_started fields filled in) on first use.
func (c *fileCtx) seg(run string) *segment {
	if s, ok := c.byRun[run]; ok {
		return s
	}
	s := &segment{run: run, meta: events.Run{
		Marker: c.marker, MarkerOrigin: c.markerOrigin,
		Imported: true, OriginFile: c.loc.Rel, OriginSHA256: c.sha,
	}}
	if c.byRun == nil {
		c.byRun = map[string]*segment{}
	}
	c.byRun[run] = s
	c.segs = append(c.segs, s)
	return s
}

// add builds the event with events.New; validation errors are located at pos.
func (c *fileCtx) add(s *segment, pos string, p events.Payload) error {
	e, err := events.New(c.loc.Experiment, s.run, c.now, p)
	if err != nil {
		return wrapAt(pos, err)
	}
	s.events = append(s.events, e)
	s.pos = append(s.pos, pos)
	return nil
}

func (c *fileCtx) note(format string, args ...any) {
	c.report.Notes = append(c.report.Notes, fmt.Sprintf(format, args...))
}

// assemble orders the parsed files into the plan. Per file, in file order:
// the run_started of every run seen for the first time (first file in
// sorted order wins; later files of the same run are listed in Notes), the
// file's events, then the run_finished of every run whose last file this is.
// FileReport.Events counts every event placed while handling the file, so
// the reports sum to len(Plan.Events). Event IDs must be unique.
func assemble(files []*fileCtx) (Plan, error) {
	type runAcc struct {
		first       *segment
		firstFile   string
		firstIdx    int
		last        int
		completions int
	}
	key := func(c *fileCtx, s *segment) string { return c.loc.Experiment + "\x00" + s.run }
	runs := map[string]*runAcc{}
	for i, c := range files {
		for _, s := range c.segs {
			k := key(c, s)
			acc, ok := runs[k]
			if !ok {
				acc = &runAcc{first: s, firstFile: c.loc.Rel, firstIdx: i}
				runs[k] = acc
			} else {
				if s.meta.Marker != acc.first.meta.Marker {
					return Plan{}, &FileError{Path: c.loc.Path, Err: fmt.Errorf("run %s: marker %q (%s) disagrees with %q from %s", s.run, s.meta.Marker, s.meta.MarkerOrigin, acc.first.meta.Marker, acc.firstFile)}
				}
				if acc.firstIdx != i {
					c.note("run %s: its run_started comes from %s (first file of the run in sorted order); this file adds %d events to it", s.run, acc.firstFile, len(s.events))
					files[acc.firstIdx].note("run %s: also gets events from %s", s.run, c.loc.Rel)
				}
			}
			acc.last = i
			for _, e := range s.events {
				if e.Type == events.TypeCompletion {
					acc.completions++
				}
			}
		}
	}
	var plan Plan
	seen := map[string]string{}
	started := map[string]bool{}
	for i, c := range files {
		before := len(plan.Events)
		for _, s := range c.segs {
			k := key(c, s)
			if !started[k] {
				started[k] = true
				e, err := events.New(c.loc.Experiment, s.run, c.now, &s.meta)
				if err != nil {
					return Plan{}, &FileError{Path: c.loc.Path, Err: fmt.Errorf("run %s: %w", s.run, err)}
				}
				plan.Events = append(plan.Events, e)
				plan.Origins = append(plan.Origins, Origin{Path: c.loc.Path})
			}
			for j, e := range s.events {
				where := c.loc.Path + ": " + s.pos[j]
				if prev, dup := seen[e.ID]; dup {
					return Plan{}, &FileError{Path: c.loc.Path, Pos: s.pos[j], Err: fmt.Errorf("duplicate %s event in run %s: same natural key as %s", e.Type, s.run, prev)}
				}
				seen[e.ID] = where
				plan.Events = append(plan.Events, e)
				plan.Origins = append(plan.Origins, Origin{Path: c.loc.Path, Pos: s.pos[j]})
			}
		}
		for _, s := range c.segs {
			k := key(c, s)
			acc := runs[k]
			if acc.last != i || acc.first == nil {
				continue
			}
			// The ledger entry: published only once every other event of the
			// import is acknowledged (Plan.Finishing).
			fin := &events.RunFinished{Status: "finished", Completions: acc.completions, OriginSHA256: acc.first.meta.OriginSHA256}
			e, err := events.New(c.loc.Experiment, s.run, c.now, fin)
			if err != nil {
				return Plan{}, &FileError{Path: c.loc.Path, Err: err}
			}
			plan.Events = append(plan.Events, e)
			plan.Origins = append(plan.Origins, Origin{Path: c.loc.Path})
			acc.first = nil // finished once
		}
		c.report.Events = len(plan.Events) - before
		plan.Files = append(plan.Files, *c.report)
	}
	return plan, nil
}

// setSeed records the run's seed when the origin gives one.
func (s *segment) setSeed(n jv) error {
	if !n.present() {
		return nil
	}
	v, err := n.integer()
	if err != nil {
		return err
	}
	s.meta.Seed = ptr(int64(v))
	return nil
}
