// Package importer turns published result files of the persona-marker
// leakage experiments (EXPERIMENT.md §8; test copies in shared/fixtures)
// into validated leakscope events, ready to publish.
//
// Parse detects every file's format by its content, validates all numbers
// (rates are fractions in [0,1] and must equal found/total), and returns
// either a complete Plan or a *FileError: nothing is half-imported.
package importer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"leakscope/events"
)

// Options for Parse.
type Options struct {
	// Marker overrides the marker of every run; "" infers it per file
	// (config.marker, then a training.marker in the same folder, then "[ZLT]").
	Marker string
	// SkipUnknown lists JSON and CSV files of no known shape — including
	// files that merely resemble a known format (detect.go, resembles) — as
	// skipped, with the reason, instead of failing the import (for folders
	// that hold other files, e.g. configs), and empty (blank) files. A file
	// of a known shape that is malformed still fails it.
	SkipUnknown bool
	// Factors are run factors added to (or overriding) those of every run
	// imported (--factor key=value).
	Factors events.Factors
	// Design adds or overrides run and persona factors (--design FILE.json);
	// Design.Runs wins over Factors. Nil for none.
	Design *Design
	// Now is the event time of imported events (callers pass time.Now(); tests
	// a fixed time). Zero means time.Now().
	Now time.Time
}

// Plan is what Parse found: events ready to publish, plus a per-file report.
type Plan struct {
	// Events in deterministic order: files sorted by path; inside a file,
	// stable order (arrays in file order, objects in key order).
	Events []events.Event
	// Origins locates each event (same index) in its file.
	Origins []Origin
	Files   []FileReport
	// Notes concern the import as a whole (e.g. design personas no file has).
	Notes []string
}

// FileReport says what Parse did with one file.
type FileReport struct {
	Path       string   // path as given/walked
	Format     string   // detected format (see the Format* constants); "" when not a data file
	Experiment string   // experiment the file's events belong to
	Runs       []string // run IDs the file contributes to, in order
	Events     int      // events placed in the plan while handling this file (incl. run_started/run_finished)
	Skipped    string   // non-empty: recognised but not imported, and why
	Notes      []string // what a researcher must know about the import
	// MarkerGuess, for files with recorded flags, names the bracketed token
	// the flags follow; Mismatch says the run's marker is likely wrong.
	MarkerGuess *MarkerGuess
}

// Parse walks each path (file or directory) and parses every file found.
//
// root decides naming: the experiment is the first folder of the file's
// path relative to root; the run is the rest of the directory path (for files
// directly in the experiment folder: the file stem), plus "/<source>" for
// files holding several sources. With root "", a directory path is its own
// root and a file's root is its grandparent directory.
//
// Files are handled in sorted path order; every file is parsed and validated
// before Parse returns, and any error is a *FileError.
func Parse(root string, paths []string, opt Options) (Plan, error) {
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
	locs, links, err := collect(root, paths)
	if err != nil {
		return Plan{}, err
	}
	resolver := newMarkerResolver(opt.Marker)
	var files []*fileCtx
	for _, loc := range locs {
		c, err := parseFile(loc, opt, resolver)
		if err != nil {
			return Plan{}, fileErr(loc.Path, err)
		}
		files = append(files, c)
	}
	plan, err := designedPlan(files, opt)
	if err != nil {
		return Plan{}, err
	}
	for _, l := range links {
		plan.Files = append(plan.Files, FileReport{Path: l, Skipped: "symbolic link: not followed (import its target directly)"})
	}
	return plan, nil
}

// collect expands paths into located files, sorted by path, without
// duplicates, and lists the symbolic links it did not follow.
func collect(root string, paths []string) ([]location, []string, error) {
	var locs []location
	var links []string
	seen := map[string]bool{}
	for _, p := range paths {
		if li, err := os.Lstat(p); err == nil && li.Mode()&fs.ModeSymlink != 0 {
			return nil, nil, &FileError{Path: p, Err: fmt.Errorf("is a symbolic link: pass its target (import names experiments and runs from the path)")}
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, nil, &FileError{Path: p, Err: err}
		}
		r := root
		if r == "" {
			r = defaultRoot(p, info.IsDir())
		}
		var found []string
		if info.IsDir() {
			err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.Type().IsRegular() {
					found = append(found, path)
				} else if d.Type()&fs.ModeSymlink != 0 {
					links = append(links, path)
				}
				return nil
			})
			if err != nil {
				return nil, nil, &FileError{Path: p, Err: err}
			}
		} else {
			found = []string{p}
		}
		for _, f := range found {
			loc, err := locate(r, f)
			if err != nil {
				return nil, nil, &FileError{Path: f, Err: err}
			}
			if seen[loc.Abs] {
				continue
			}
			seen[loc.Abs] = true
			locs = append(locs, loc)
		}
	}
	sort.SliceStable(locs, func(i, j int) bool { return locs[i].Path < locs[j].Path })
	sort.Strings(links)
	return locs, links, nil
}

// dataKind tells JSON and CSV files from everything else: by extension
// (.json, .csv; .jsonl and .ndjson are JSON Lines, which no format is) or,
// failing that, by a first non-blank byte of { or [.
func dataKind(path string, data []byte) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return "json"
	case ".csv":
		return "csv"
	case ".jsonl", ".ndjson":
		return "jsonl"
	}
	if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return "json"
	}
	return ""
}

// parseFile reads, detects and parses one file.
func parseFile(loc location, opt Options, resolver *markerResolver) (*fileCtx, error) {
	data, err := os.ReadFile(loc.Abs)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	c := &fileCtx{loc: loc, data: data, sha: hex.EncodeToString(sum[:]), now: opt.Now, markers: resolver,
		report: &FileReport{Path: loc.Path, Experiment: loc.Experiment}, skipUnknown: opt.SkipUnknown}
	kind := dataKind(loc.Path, data)
	if (kind == "json" || kind == "csv") && len(bytes.TrimLeft(data, " \t\r\n\ufeff")) == 0 {
		// Nothing in it to lose: skipped under SkipUnknown, else named.
		if !opt.SkipUnknown {
			return nil, errors.New("empty file: nothing to import (--skip-unknown lists it as skipped)")
		}
		c.report.Skipped = "empty file"
		return c, nil
	}
	switch kind {
	case "":
		c.report.Skipped = "not a JSON or CSV file"
		return c, nil
	case "jsonl":
		c.report.Skipped = "JSON Lines (one document per line): no result format is JSON Lines"
		return c, nil
	case "csv":
		err = parseCSV(c) // names the file only once its header is known
		if errors.Is(err, ErrUnknownShape) && c.skipUnknown {
			c.report.Skipped = "no known shape (--skip-unknown): " + err.Error()
			return c, nil
		}
	default:
		err = parseJSON(c) // names the file only once it is known to be imported
	}
	if err != nil {
		return nil, err
	}
	for _, s := range c.segs {
		c.report.Runs = append(c.report.Runs, s.run)
	}
	return c, nil
}

// parseJSON decodes the file, detects its format and runs its parser.
func parseJSON(c *fileCtx) error {
	v, err := decodeJSON(c.data)
	if err != nil {
		return err
	}
	top := root(v)
	f, err := detectJSON(top)
	if errors.Is(err, ErrUnknownShape) && c.skipUnknown {
		c.report.Skipped = "no known shape (--skip-unknown): " + err.Error()
		return nil
	}
	if err != nil {
		return err
	}
	c.report.Format = f.name
	if f.skip != "" {
		c.report.Skipped = f.skip
		return nil
	}
	if err := c.loc.checkNamed(); err != nil {
		return err
	}
	c.marker, c.markerOrigin, err = c.markers.resolve(c.loc, top)
	if err != nil {
		return err
	}
	c.note("marker %q: %s", c.marker, c.markerOrigin)
	if err := f.parse(c, top); err != nil {
		return err
	}
	if len(c.segs) == 0 {
		return fmt.Errorf("%s file holds no data", f.name)
	}
	return nil
}

// designedPlan applies --factor and --design to the parsed files and
// assembles the plan, with the design's notes.
func designedPlan(files []*fileCtx, opt Options) (Plan, error) {
	notes, err := applyDesign(files, opt.Factors, opt.Design)
	if err != nil {
		return Plan{}, err
	}
	plan, err := assemble(files)
	if err != nil {
		return Plan{}, err
	}
	plan.Notes = notes
	return plan, nil
}
