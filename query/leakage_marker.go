package query

import (
	"context"
	"fmt"
	"strings"

	"leakscope/events/marker"
)

// disagreementWhy explains why a run's recorded flags and the detector
// disagree on its stored text (issue 17 item 8). A gross disagreement whose
// flagged texts share a bracketed token other than the run's marker names
// that token as the likely marker; truncation is given as the reason only
// when the stored texts really are cut (every flagged-but-undetected text
// has the run's maximum length, which more than one text has); otherwise
// the counts are stated without a cause. The returned text starts with a
// space and ends with ';' (it sits inside the leakage note).
func (e *Engine) disagreementWhy(ctx context.Context, experiment, run, runMarker string, det marker.Detector, recorded, recOnly, detected, detOnly int64) (string, error) {
	var why strings.Builder
	if marker.GrossDisagreement(int(recorded), int(recOnly), int(detected), int(detOnly)) {
		g, ok, err := e.guessMarker(ctx, experiment, run)
		if err != nil {
			return "", err
		}
		if ok && !strings.EqualFold(g.Marker, runMarker) {
			share := "all contain"
			if g.InFlagged < g.Flagged {
				share = fmt.Sprintf("mostly contain (%d of %d)", g.InFlagged, g.Flagged)
			}
			fmt.Fprintf(&why, " the flagged texts %s %s (%d of %d unflagged texts do): the marker is likely %s, not %s — re-import with --marker %s, or pass --marker %s here;",
				share, g.Marker, g.InOthers, g.Others, g.Marker, runMarker, g.Marker, g.Marker)
			return why.String(), nil
		}
	}
	if recOnly > 0 {
		fmt.Fprintf(&why, " %d completions the origin flagged have no hit in the stored text", recOnly)
		cut, maxChars, err := e.truncatedFlags(ctx, experiment, run, det.Pattern(runMarker))
		if err != nil {
			return "", err
		}
		if cut {
			fmt.Fprintf(&why, " (every one of them is exactly %d characters long, the stored texts' maximum: the origin stored truncated text but flagged the full text)", maxChars)
		}
		why.WriteString(";")
	}
	if detOnly > 0 {
		fmt.Fprintf(&why, " %d stored texts have a hit the origin did not flag;", detOnly)
	}
	return why.String(), nil
}

// guessMarker tallies the bracketed tokens of a run's flagged and
// unflagged stored texts (in DuckDB, with marker.TokenPattern) and returns
// marker.Tally's guess.
func (e *Engine) guessMarker(ctx context.Context, experiment, run string) (marker.Guess, bool, error) {
	res, err := e.DB.Query(ctx, `
WITH t AS (SELECT recorded_marker AS f, list_distinct(regexp_extract_all(text, $3)) AS toks
           FROM completions WHERE experiment = $1 AND run_id = $2 AND recorded_marker IS NOT NULL)
SELECT NULL AS tok, count(*) FILTER (WHERE f), count(*) FILTER (WHERE NOT f) FROM t
UNION ALL
SELECT tok, count(*) FILTER (WHERE f), count(*) FILTER (WHERE NOT f) FROM (SELECT f, unnest(toks) AS tok FROM t) GROUP BY tok`,
		experiment, run, marker.TokenPattern)
	if err != nil {
		return marker.Guess{}, false, fmt.Errorf("tally marker tokens of run %s: %w", run, err)
	}
	tally := marker.Tally{InFlagged: map[string]int{}, InOthers: map[string]int{}}
	for _, r := range res.Rows {
		if r[0] == nil {
			tally.Flagged, tally.Others = int(i64(r[1])), int(i64(r[2]))
			continue
		}
		tally.InFlagged[str(r[0])], tally.InOthers[str(r[0])] = int(i64(r[1])), int(i64(r[2]))
	}
	g, ok := tally.Guess()
	return g, ok, nil
}

// truncatedFlags says whether the run's stored texts look cut: more than
// one text has the maximum length, and every text flagged by the origin
// but without a hit of pattern has exactly that length.
func (e *Engine) truncatedFlags(ctx context.Context, experiment, run, pattern string) (bool, int64, error) {
	res, err := e.DB.Query(ctx, `
WITH r AS (SELECT length(text) AS len, recorded_marker AND NOT regexp_matches(text, $3) AS missed
           FROM completions WHERE experiment = $1 AND run_id = $2),
     m AS (SELECT max(len) AS mx FROM r)
SELECT any_value(mx), count(*) FILTER (WHERE len = mx), count(*) FILTER (WHERE missed), count(*) FILTER (WHERE missed AND len = mx)
FROM r, m`, experiment, run, pattern)
	if err != nil {
		return false, 0, fmt.Errorf("measure stored text lengths of run %s: %w", run, err)
	}
	if len(res.Rows) == 0 || res.Rows[0][0] == nil {
		return false, 0, nil
	}
	r := res.Rows[0]
	atMax, missed, missedAtMax := i64(r[1]), i64(r[2]), i64(r[3])
	return atMax > 1 && missed > 0 && missedAtMax == missed, i64(r[0]), nil
}
