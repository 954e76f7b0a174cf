package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"leakscope/events"
	"leakscope/events/marker"
)

// Source is one file an import reads, named as Parse names files.
type Source struct {
	Path string // as given or walked
	Abs  string // absolute path
	Rel  string // slash-separated path relative to the root (Run.OriginFile)
	// Experiment and Run are Parse's naming of the file (walk.go); both are
	// "" for a file directly in the root.
	Experiment, Run string
}

// Sources lists the regular files under paths (files or folders) as Parse
// walks them: sorted by path, without duplicates, each named relative to
// root (root "": as Parse). Symbolic links inside folders are not followed
// and come back in links; a path that is itself a link, or a file outside
// root, is a *FileError.
func Sources(root string, paths []string) (files []Source, links []string, err error) {
	locs, links, err := collect(root, paths)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range locs {
		files = append(files, Source{Path: l.Path, Abs: l.Abs, Rel: l.Rel, Experiment: l.Experiment, Run: l.Run})
	}
	return files, links, nil
}

// RunFields are the run-level values a mapped row may carry; "" and nil
// mean "not given". Experiment and Run default to the file's naming
// (Source); Marker defaults to the marker Parse infers for the file
// (Options.Marker still decides); Factors are the run's design factors.
// Every row of one run in a file must agree on what it gives.
type RunFields struct {
	Experiment, Run             string
	Model                       string
	SourcePersona, SourcePrompt string
	Marker                      string
	Seed                        *int64
	Factors                     events.Factors
}

// CellRow is one mapped cell aggregate (a CellAggregate before its event):
// found and total (rate, when given, must equal found/total within 1e-6);
// or rate and total, where found = rate × total when that is an integer
// within 1e-6 and the cell is rate-only otherwise (TotalOrigin is then
// dropped with the total); or a rate alone (rate-only: no count, no
// interval). Rates and interval bounds are fractions in [0,1]. Detector ""
// is "strict". Pos names the row in errors ("row 3").
type CellRow struct {
	Pos string
	RunFields
	Persona, Detector, Slice, Question, Category, TotalOrigin string
	Found, Total                                              *int
	Rate, CILow, CIHigh                                       *float64
}

// CompletionRow is one mapped completion: Text as stored, RecordedMarker
// the origin's flag when it has one. SampleIndex nil is the row's ordinal
// among the file's rows of the same (persona, question set, question).
// MarkerHits are detected on Text with the run's marker, as for every
// imported completion. Pos names the row in errors.
type CompletionRow struct {
	Pos string
	RunFields
	Persona, PersonaPrompt, Question, QuestionSet, Text string
	SampleIndex                                         *int
	RecordedMarker                                      *bool
}

// MappedFile is what a declared mapping made of one file: canonical rows
// (cells or completions, in the order the mapping gave them) plus what
// the run keeps of the file itself.
type MappedFile struct {
	Source
	// Format is shown as FileReport.Format (e.g. "map:run-result-sweep").
	Format string
	// Config names top-level members of the file (a JSON object) kept
	// verbatim, compacted, as the run's Config: one name keeps that member
	// itself, several an object of them (absent ones left out).
	Config      []string
	Cells       []CellRow
	Completions []CompletionRow
}

// ParseMapped turns mapped rows into a Plan exactly as Parse turns the
// files it recognises: the same run_started (origin file, its SHA-256,
// marker inference), event IDs, validation, --factor/--design merging,
// run_finished ledger and ordering (files sorted by path). A file with no
// rows is listed as skipped. Errors are *FileError naming the file and the
// row (CellRow.Pos, CompletionRow.Pos).
func ParseMapped(rootDir string, files []MappedFile, opt Options) (Plan, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.Marker != "" {
		if err := events.CheckMarker(opt.Marker); err != nil {
			return Plan{}, fmt.Errorf("import: --marker %v", err)
		}
	}
	if err := opt.Factors.Validate("factors"); err != nil {
		return Plan{}, fmt.Errorf("import: --factor: %s", reason(err))
	}
	resolver := newMarkerResolver(opt.Marker)
	var ctxs []*fileCtx
	for _, f := range files {
		c, err := parseMappedFile(rootDir, f, opt, resolver)
		if err != nil {
			return Plan{}, fileErr(f.Path, err)
		}
		ctxs = append(ctxs, c)
	}
	return designedPlan(ctxs, opt)
}

func parseMappedFile(rootDir string, f MappedFile, opt Options, resolver *markerResolver) (*fileCtx, error) {
	loc, err := locate(rootOf(rootDir, f.Path), f.Path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(loc.Abs)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	c := &fileCtx{loc: loc, data: data, sha: hex.EncodeToString(sum[:]), now: opt.Now, markers: resolver,
		report: &FileReport{Path: loc.Path, Experiment: loc.Experiment, Format: f.Format}}
	if len(f.Cells) == 0 && len(f.Completions) == 0 {
		c.report.Skipped = "the mapping gives no rows for this file"
		return c, nil
	}
	first := RunFields{}
	if len(f.Cells) > 0 {
		first = f.Cells[0].RunFields
	} else {
		first = f.Completions[0].RunFields
	}
	if first.Experiment != "" {
		c.loc.Experiment, c.report.Experiment = first.Experiment, first.Experiment
		if c.loc.Run == "" {
			c.loc.Run = loc.Stem
		}
	}
	if err := c.loc.checkNamed(); err != nil {
		return nil, err
	}
	top := root(nil)
	if v, err := decodeJSON(data); err == nil {
		top = root(v)
	}
	if c.marker, c.markerOrigin, err = resolver.resolve(loc, top); err != nil {
		return nil, err
	}
	m := &mapper{c: c, f: f, given: map[string]runGiven{}, ordinal: map[[3]string]int{}}
	for _, r := range f.Cells {
		if err := m.cell(r); err != nil {
			return nil, wrapAt(r.Pos, err)
		}
	}
	for _, r := range f.Completions {
		if err := m.completion(r); err != nil {
			return nil, wrapAt(r.Pos, err)
		}
	}
	for _, s := range c.segs {
		c.report.Runs = append(c.report.Runs, s.run)
		c.note("marker %q: %s", s.meta.Marker, s.meta.MarkerOrigin)
	}
	switch {
	case len(f.Cells) > 0 && len(m.rateOnly) > 0:
		c.note("%d cells from the mapping, %d rate-only (no count or interval): %s", len(f.Cells), len(m.rateOnly), keyList(m.rateOnly, 10))
	case len(f.Cells) > 0:
		c.note("%d cells from the mapping", len(f.Cells))
	default:
		c.note("%d completions from the mapping (marker hits detected on the text)", len(f.Completions))
	}
	return c, nil
}

// rootOf is the root Parse would name path from.
func rootOf(root, path string) string {
	if root != "" {
		return root
	}
	info, err := os.Stat(path)
	return defaultRoot(path, err == nil && info.IsDir())
}

// mapper builds one mapped file's events through the same fileCtx as the
// format parsers.
type mapper struct {
	c        *fileCtx
	f        MappedFile
	given    map[string]runGiven // per run: what its first row gave
	ordinal  map[[3]string]int
	rateOnly []string
}

type runGiven struct {
	pos string
	RunFields
}

// run returns the segment of the row's run, filling its run_started from
// the row's run fields (the first row of a run) or checking that the row
// agrees with them.
func (m *mapper) run(rf RunFields, pos string) (*segment, error) {
	c := m.c
	if rf.Experiment != "" && rf.Experiment != c.loc.Experiment {
		return nil, fmt.Errorf("experiment %q differs from %q of the file's first row: one file feeds one experiment", rf.Experiment, c.loc.Experiment)
	}
	run := rf.Run
	if run == "" {
		run = c.loc.Run
	}
	if g, ok := m.given[run]; ok {
		return c.byRun[run], g.agrees(rf)
	}
	m.given[run] = runGiven{pos: pos, RunFields: rf}
	s := c.seg(run)
	s.meta.Model, s.meta.SourcePersona, s.meta.SourcePrompt, s.meta.Seed = rf.Model, rf.SourcePersona, rf.SourcePrompt, rf.Seed
	if rf.Marker != "" && !strings.HasPrefix(c.markerOrigin, "Options.Marker") {
		if err := events.CheckMarker(rf.Marker); err != nil {
			return nil, fmt.Errorf("marker %v", err)
		}
		s.meta.Marker, s.meta.MarkerOrigin = rf.Marker, "marker column of mapping "+m.f.Format
	}
	if len(rf.Factors) > 0 {
		if err := rf.Factors.Validate("factors"); err != nil {
			return nil, fmt.Errorf("factors: %s", reason(err))
		}
		s.meta.Factors = rf.Factors
	}
	switch len(m.f.Config) {
	case 0:
	case 1:
		s.meta.Config = rawMember(c.data, m.f.Config[0])
	default:
		s.meta.Config = rawMembers(c.data, m.f.Config...)
	}
	return s, nil
}

// agrees checks that a later row of a run repeats its run fields.
func (g runGiven) agrees(rf RunFields) error {
	for _, f := range []struct{ name, first, now string }{
		{"model", g.Model, rf.Model}, {"source_persona", g.SourcePersona, rf.SourcePersona},
		{"source_prompt", g.SourcePrompt, rf.SourcePrompt}, {"marker", g.Marker, rf.Marker},
		{"seed", seedText(g.Seed), seedText(rf.Seed)}, {"factors", factorList(g.Factors), factorList(rf.Factors)},
	} {
		if f.first != f.now {
			return fmt.Errorf("%s %q of run %s disagrees with %q given by %s: a run-level column must be the same on every row of the run", f.name, f.now, g.runName(), f.first, g.pos)
		}
	}
	return nil
}

func (g runGiven) runName() string {
	if g.Run == "" {
		return "(the file's run)"
	}
	return g.Run
}

func seedText(s *int64) string {
	if s == nil {
		return ""
	}
	return fmt.Sprint(*s)
}

func (m *mapper) cell(r CellRow) error {
	s, err := m.run(r.RunFields, r.Pos)
	if err != nil {
		return err
	}
	det := r.Detector
	if det == "" {
		det = marker.Strict
	}
	ev := &events.CellAggregate{Persona: r.Persona, Detector: det, Slice: r.Slice, Question: r.Question, Category: r.Category,
		Rate: r.Rate, CILow: r.CILow, CIHigh: r.CIHigh, Imported: true, OriginFile: m.c.loc.Rel}
	switch {
	case r.Found != nil && r.Total == nil:
		return fmt.Errorf("found %d without a total", *r.Found)
	case r.Found != nil:
		if *r.Found < 0 {
			return fmt.Errorf("found %d is negative", *r.Found)
		}
		if r.Rate != nil {
			if err := checkRate(r.Pos, *r.Rate, *r.Found, *r.Total); err != nil {
				return err
			}
		}
		ev.Found, ev.Total, ev.TotalOrigin = r.Found, r.Total, r.TotalOrigin
	case r.Rate == nil:
		return fmt.Errorf("gives neither found and total nor a rate")
	case r.Total != nil:
		if found, ok := integerCount(*r.Rate, *r.Total); ok {
			ev.Found, ev.Total, ev.TotalOrigin = ptr(found), r.Total, r.TotalOrigin
			break
		}
		ev.RateOnly = true
		m.rateOnly = append(m.rateOnly, fmt.Sprintf("%s (%v × %d = %v)", r.Persona, *r.Rate, *r.Total, *r.Rate*float64(*r.Total)))
	default:
		ev.RateOnly = true
	}
	if ev.RateOnly && r.Total == nil {
		m.rateOnly = append(m.rateOnly, r.Persona)
	}
	return m.c.add(s, r.Pos, ev)
}

func (m *mapper) completion(r CompletionRow) error {
	s, err := m.run(r.RunFields, r.Pos)
	if err != nil {
		return err
	}
	k := [3]string{r.Persona, r.QuestionSet, r.Question}
	idx := m.ordinal[k]
	m.ordinal[k]++
	if r.SampleIndex != nil {
		idx = *r.SampleIndex
	}
	p := &events.Completion{Persona: r.Persona, PersonaPrompt: r.PersonaPrompt, Question: r.Question, QuestionSet: r.QuestionSet,
		SampleIndex: idx, Text: r.Text, RecordedMarker: r.RecordedMarker,
		MarkerHits: detectAll(s.meta.Marker, r.Text), Imported: true}
	return m.c.add(s, r.Pos, p)
}
