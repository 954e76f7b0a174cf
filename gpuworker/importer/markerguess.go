package importer

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// MarkerGuess says which marker a file's recorded flags (marker_present)
// follow, found from the texts alone: the bracketed token present in
// (nearly) every flagged text and rare in the others. Import reports it so
// that a run imported with the wrong marker is named as such, not blamed on
// truncated text; --marker (Options.Marker) still decides the run's marker.
type MarkerGuess struct {
	Marker    string // the bracketed token, e.g. "[PROX]"
	InFlagged int    // flagged texts holding it
	Flagged   int    // texts flagged by the origin
	InOthers  int    // unflagged texts holding it
	Others    int    // texts not flagged
	RunMarker string // the marker the run was imported with
	// Mismatch: the recorded flags and detection with RunMarker disagree
	// grossly and the flags follow Marker, another marker.
	Mismatch bool
	Message  string
}

// bracketTokenRe is a candidate marker: an upper-case code in brackets.
var bracketTokenRe = regexp.MustCompile(`\[[A-Z][A-Z0-9_]{1,15}\]`)

// Thresholds of the guess: the token is in at least minFlaggedShare of the
// flagged texts, and its share among the others is at most a quarter of
// that; at least minFlagged texts are flagged.
const (
	minFlagged      = 5
	minFlaggedShare = 0.8
)

// markerTally counts, per bracketed token, the flagged and unflagged texts
// holding it.
type markerTally struct {
	flagged, others int
	inF, inO        map[string]int
}

func (m *markerTally) add(flag bool, text string) {
	if m.inF == nil {
		m.inF, m.inO = map[string]int{}, map[string]int{}
	}
	seen := map[string]bool{}
	for _, tok := range bracketTokenRe.FindAllString(text, 64) {
		if seen[tok] {
			continue
		}
		seen[tok] = true
		if flag {
			m.inF[tok]++
		} else {
			m.inO[tok]++
		}
	}
	if flag {
		m.flagged++
	} else {
		m.others++
	}
}

// guess returns the token the flags follow, if one qualifies: most flagged
// texts, then fewest others, then by name.
func (m *markerTally) guess() (MarkerGuess, bool) {
	if m.flagged < minFlagged {
		return MarkerGuess{}, false
	}
	toks := make([]string, 0, len(m.inF))
	for t := range m.inF {
		toks = append(toks, t)
	}
	sort.Slice(toks, func(i, j int) bool {
		a, b := toks[i], toks[j]
		if m.inF[a] != m.inF[b] {
			return m.inF[a] > m.inF[b]
		}
		if m.inO[a] != m.inO[b] {
			return m.inO[a] < m.inO[b]
		}
		return a < b
	})
	for _, t := range toks {
		fShare := float64(m.inF[t]) / float64(m.flagged)
		if fShare < minFlaggedShare {
			break // sorted by flagged count: no later token qualifies
		}
		oShare := 0.0
		if m.others > 0 {
			oShare = float64(m.inO[t]) / float64(m.others)
		}
		if oShare <= fShare/4 {
			return MarkerGuess{Marker: t, InFlagged: m.inF[t], Flagged: m.flagged, InOthers: m.inO[t], Others: m.others}, true
		}
	}
	return MarkerGuess{}, false
}

// grossDisagreement: at least half of the flagged texts have no hit of
// the run's marker, or at least half of the detected texts were not
// flagged (each over at least minFlagged texts).
func (f *flagComparison) grossDisagreement() bool {
	return (f.recorded >= minFlagged && 2*f.recordedOnly >= f.recorded) ||
		(f.strict >= minFlagged && 2*f.strictOnly >= f.strict)
}

// markerVerdict compares the recorded flags with detection of runMarker and
// the guessed token. It returns the guess (nil when there is none) and, on
// a gross disagreement, the message that replaces the usual comparison note.
func markerVerdict(cmp *flagComparison, tally *markerTally, runMarker string) (*MarkerGuess, string) {
	g, ok := tally.guess()
	gross := cmp.grossDisagreement()
	if ok {
		g.RunMarker = runMarker
		counts := fmt.Sprintf("present in %d of %d flagged texts, %d of %d others", g.InFlagged, g.Flagged, g.InOthers, g.Others)
		if strings.EqualFold(g.Marker, runMarker) {
			g.Message = fmt.Sprintf("recorded flags look like marker %s, the run's marker (%s)", g.Marker, counts)
			return &g, ""
		}
		if gross {
			g.Mismatch = true
			g.Message = fmt.Sprintf("recorded flags look like marker %s (%s): re-import with --marker %s", g.Marker, counts, g.Marker)
			return &g, fmt.Sprintf("recorded flags %d vs strict hits of %q on the stored text %d: %s", cmp.recorded, runMarker, cmp.strict, g.Message)
		}
		g.Message = fmt.Sprintf("recorded flags look like marker %s (%s), not the run's %q, though detection of %q mostly agrees with them", g.Marker, counts, runMarker, runMarker)
		return &g, ""
	}
	if gross {
		return nil, fmt.Sprintf("recorded flags %d vs strict hits of %q on the stored text %d (%d flagged but not detected, %d detected but not flagged): the flags do not follow this marker and no bracketed token explains them; check the run's marker (--marker)",
			cmp.recorded, runMarker, cmp.strict, cmp.recordedOnly, cmp.strictOnly)
	}
	return nil, ""
}
