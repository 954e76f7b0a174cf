package importer

import (
	"fmt"
	"strings"

	"leakscope/events/marker"
)

// MarkerGuess says which marker a file's recorded flags (marker_present)
// follow, found from the texts alone (marker.Tally: the bracketed token
// present in (nearly) every flagged text and rare in the others), with the
// verdict against the run's marker. Import reports it so that a run
// imported with the wrong marker is named as such, not blamed on truncated
// text; --marker (Options.Marker) still decides the run's marker.
type MarkerGuess struct {
	marker.Guess
	RunMarker string // the marker the run was imported with
	// Mismatch: the recorded flags and detection with RunMarker disagree
	// grossly and the flags follow Marker, another marker.
	Mismatch bool
	Message  string
}

// grossDisagreement: the recorded flags and strict detection of the
// run's marker disagree grossly (marker.GrossDisagreement).
func (f *flagComparison) grossDisagreement() bool {
	return marker.GrossDisagreement(f.recorded, f.recordedOnly, f.strict, f.strictOnly)
}

// markerVerdict compares the recorded flags with detection of runMarker and
// the guessed token. It returns the guess (nil when there is none) and, on
// a gross disagreement, the message that replaces the usual comparison note.
func markerVerdict(cmp *flagComparison, tally *marker.Tally, runMarker string) (*MarkerGuess, string) {
	mg, ok := tally.Guess()
	gross := cmp.grossDisagreement()
	if ok {
		g := MarkerGuess{Guess: mg, RunMarker: runMarker}
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
