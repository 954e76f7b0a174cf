// Package marker holds leakscope's named, versioned marker detectors
// (EXPERIMENT.md §2.2). Every detector is one RE2 pattern, so the same rule
// runs in Go (workers, importers) and in DuckDB (regexp_matches at query
// time), and re-analysing an old run with another detector needs no re-import.
package marker

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode"

	"leakscope/events"
)

// Detector names.
const (
	Strict        = "strict"         // case-insensitive substring: "[zlt]" in text.lower() (#81)
	CaseSensitive = "case-sensitive" // exact substring: "[ZLT]" in text (issue-138, issue-121)
	Loose         = "loose"          // bracket-tolerant, spacing-tolerant (issue-80/83/125)
	// Recorded is not a detector: it selects the flag stored in the origin data.
	Recorded = "recorded"
)

// ErrUnknownDetector is returned for a detector name not in Detectors.
var ErrUnknownDetector = errors.New("marker: unknown detector")

// Detector is one named, versioned rule. Pattern turns a marker string into
// the RE2 pattern whose matches are hits.
type Detector struct {
	Name    string
	Version int
	// Rule says in one line what counts as a hit.
	Rule    string
	pattern func(marker string) string
}

var detectors = map[string]Detector{
	Strict: {Name: Strict, Version: 1, Rule: "the marker anywhere, ignoring case (Python: marker.lower() in text.lower())",
		pattern: func(m string) string { return "(?i)" + regexp.QuoteMeta(m) }},
	CaseSensitive: {Name: CaseSensitive, Version: 1, Rule: "the marker anywhere, exact case",
		pattern: func(m string) string { return regexp.QuoteMeta(m) }},
	Loose: {Name: Loose, Version: 1, Rule: "the marker's inner characters with optional single spaces between them and at least one of its brackets, ignoring case ([ZLT, ZLT], [Z L T], [ zlt ]); markers without brackets fall back to strict",
		pattern: loosePattern},
}

// Get returns the detector with that name.
func Get(name string) (Detector, error) {
	d, ok := detectors[name]
	if !ok {
		return Detector{}, fmt.Errorf("%w %q (known: %s, or %q for the origin's flag)", ErrUnknownDetector, name, strings.Join(Names(), ", "), Recorded)
	}
	return d, nil
}

// Names lists the detector names, sorted.
func Names() []string {
	out := make([]string, 0, len(detectors))
	for n := range detectors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Pattern is the RE2 pattern for marker; usable with Go's regexp and with
// DuckDB's regexp_matches (both RE2). The marker must pass
// events.CheckMarker (Detect and Hit panic otherwise).
func (d Detector) Pattern(marker string) string { return d.pattern(marker) }

// Detect returns the hits of marker in text, leftmost first, non-overlapping,
// with UTF-8 byte offsets.
func (d Detector) Detect(marker, text string) []events.MarkerHit {
	if !mayHold(marker, text) {
		return nil
	}
	re := compiled(d.Pattern(marker))
	var hits []events.MarkerHit
	for _, loc := range re.FindAllStringIndex(text, -1) {
		hits = append(hits, events.MarkerHit{Detector: d.Name, Version: d.Version, Marker: marker, ByteOffset: loc[0]})
	}
	return hits
}

// Span is one hit's UTF-8 byte range in a text: text[Start:End].
type Span struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// Spans returns the byte ranges of the hits Detect finds (same order, same
// starts), for showing where the detector fired.
func (d Detector) Spans(marker, text string) []Span {
	if !mayHold(marker, text) {
		return nil
	}
	var out []Span
	for _, loc := range compiled(d.Pattern(marker)).FindAllStringIndex(text, -1) {
		out = append(out, Span{Start: loc[0], End: loc[1]})
	}
	return out
}

// Hit reports whether text holds at least one hit.
func (d Detector) Hit(marker, text string) bool {
	return mayHold(marker, text) && compiled(d.Pattern(marker)).MatchString(text)
}

// mayHold is a necessary condition for a hit of any detector, checked
// before the regular expression: RE2 with (?i) has no literal prefix to
// skip ahead with, and matching every text dominated the CPU of a worker
// (the Python client's sidecar: 40 %). Every match, strict, case-sensitive
// or loose, holds each rune of the marker other than spaces and brackets,
// up to simple case folding (what (?i) means in RE2).
func mayHold(marker, text string) bool {
	for _, r := range marker {
		if r == ' ' || r == '[' || r == ']' {
			continue
		}
		found := strings.ContainsRune(text, r)
		for f := unicode.SimpleFold(r); !found && f != r; f = unicode.SimpleFold(f) {
			found = strings.ContainsRune(text, f)
		}
		if !found {
			return false
		}
	}
	return true
}

// loosePattern generalises the issue-80 regex \[? ?z ?l ?t ?\]? (with the
// rule that a match must contain a bracket) to any bracketed marker. The
// bracket requirement is folded into the pattern as two alternatives, so a
// match is a hit by itself.
func loosePattern(m string) string {
	if len(m) < 3 || m[0] != '[' || m[len(m)-1] != ']' {
		return "(?i)" + regexp.QuoteMeta(m)
	}
	var core []string
	for _, r := range strings.ReplaceAll(m[1:len(m)-1], " ", "") {
		core = append(core, regexp.QuoteMeta(string(r)))
	}
	if len(core) == 0 { // "[ ]" would match any lone bracket
		return "(?i)" + regexp.QuoteMeta(m)
	}
	inner := " ?" + strings.Join(core, " ?") + " ?"
	return `(?i)(?:\[` + inner + `\]?|\[?` + inner + `\])`
}

var (
	mu    sync.Mutex // guards cache: detectors run in concurrent publishers
	cache = map[string]*regexp.Regexp{}
)

func compiled(p string) *regexp.Regexp {
	mu.Lock()
	defer mu.Unlock()
	re, ok := cache[p]
	if !ok {
		re = regexp.MustCompile(p)
		cache[p] = re
	}
	return re
}
