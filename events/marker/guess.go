package marker

import (
	"regexp"
	"sort"
)

// Guess says which marker a set of recorded flags follows, found from the
// texts alone: the bracketed token present in (nearly) every flagged text
// and rare in the others. Importers and the leakage matrix report it so
// that a run read with the wrong marker is named as such, not blamed on
// truncated text; the run's marker (--marker) still decides detection.
type Guess struct {
	Marker    string // the bracketed token, e.g. "[PROX]"
	InFlagged int    // flagged texts holding it
	Flagged   int    // texts flagged by the origin
	InOthers  int    // unflagged texts holding it
	Others    int    // texts not flagged
}

// TokenPattern is a candidate marker: an upper-case code in brackets. It
// is RE2, so DuckDB's regexp_extract_all tallies the same tokens.
const TokenPattern = `\[[A-Z][A-Z0-9_]{1,15}\]`

var tokenRe = regexp.MustCompile(TokenPattern)

// Thresholds of the guess: at least MinFlagged texts are flagged, the
// token is in at least minFlaggedShare of them, and its share among the
// others is at most a quarter of that.
const (
	MinFlagged      = 5
	minFlaggedShare = 0.8
)

// Tally counts, per bracketed token, the flagged and unflagged texts
// holding it. Fill it with Add, or directly from an aggregate query
// (InFlagged/InOthers by token, Flagged/Others in all).
type Tally struct {
	Flagged, Others     int
	InFlagged, InOthers map[string]int
}

// Add counts one text and whether its origin flagged it.
func (m *Tally) Add(flagged bool, text string) {
	if m.InFlagged == nil {
		m.InFlagged, m.InOthers = map[string]int{}, map[string]int{}
	}
	seen := map[string]bool{}
	for _, tok := range tokenRe.FindAllString(text, 64) {
		if seen[tok] {
			continue
		}
		seen[tok] = true
		if flagged {
			m.InFlagged[tok]++
		} else {
			m.InOthers[tok]++
		}
	}
	if flagged {
		m.Flagged++
	} else {
		m.Others++
	}
}

// Guess returns the token the flags follow, if one qualifies: most flagged
// texts, then fewest others, then by name.
func (m *Tally) Guess() (Guess, bool) {
	if m.Flagged < MinFlagged {
		return Guess{}, false
	}
	toks := make([]string, 0, len(m.InFlagged))
	for t := range m.InFlagged {
		toks = append(toks, t)
	}
	sort.Slice(toks, func(i, j int) bool {
		a, b := toks[i], toks[j]
		if m.InFlagged[a] != m.InFlagged[b] {
			return m.InFlagged[a] > m.InFlagged[b]
		}
		if m.InOthers[a] != m.InOthers[b] {
			return m.InOthers[a] < m.InOthers[b]
		}
		return a < b
	})
	for _, t := range toks {
		fShare := float64(m.InFlagged[t]) / float64(m.Flagged)
		if fShare < minFlaggedShare {
			break // sorted by flagged count: no later token qualifies
		}
		oShare := 0.0
		if m.Others > 0 {
			oShare = float64(m.InOthers[t]) / float64(m.Others)
		}
		if oShare <= fShare/4 {
			return Guess{Marker: t, InFlagged: m.InFlagged[t], Flagged: m.Flagged, InOthers: m.InOthers[t], Others: m.Others}, true
		}
	}
	return Guess{}, false
}

// GrossDisagreement says whether recorded flags and detection disagree
// grossly: at least half of the flagged texts have no hit, or at least
// half of the detected texts were not flagged (each over at least
// MinFlagged texts).
func GrossDisagreement(recorded, recordedOnly, detected, detectedOnly int) bool {
	return (recorded >= MinFlagged && 2*recordedOnly >= recorded) || (detected >= MinFlagged && 2*detectedOnly >= detected)
}
