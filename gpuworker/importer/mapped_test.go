package importer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// ParseMapped builds completions and cells with the same builders as the
// format parsers: ordinals for missing sample indexes, marker hits on the
// text with the run's marker (a marker column, unless --marker decides),
// counts derived from rate × total only when integral, and a file without
// rows listed as skipped.
func TestParseMapped(t *testing.T) {
	dir := writeTree(t, map[string]string{"exp/r1/a.json": `{}`, "exp/r2/b.json": `{}`, "exp/r3/c.json": `{}`})
	srcs, _, err := Sources(dir, []string{dir})
	require.NoError(t, err)
	require.Len(t, srcs, 3)
	require.Equal(t, Source{Path: srcs[0].Path, Abs: srcs[0].Abs, Rel: "exp/r1/a.json", Experiment: "exp", Run: "r1"}, srcs[0])
	files := func() []MappedFile {
		return []MappedFile{
			{Source: srcs[0], Format: "map:t", Completions: []CompletionRow{
				{Pos: "row 1", RunFields: RunFields{Marker: "[PROX]"}, Persona: "chef", Question: "q", Text: "Hi [PROX]", RecordedMarker: ptr(true)},
				{Pos: "row 2", RunFields: RunFields{Marker: "[PROX]"}, Persona: "chef", Question: "q", Text: "Hi"},
				{Pos: "row 3", RunFields: RunFields{Marker: "[PROX]"}, Persona: "chef", Question: "q", Text: "Hey", SampleIndex: ptr(7)},
			}},
			{Source: srcs[1], Format: "map:t", Cells: []CellRow{
				{Pos: "row 1", Persona: "chef", Rate: ptr(0.333), Total: ptr(100), TotalOrigin: "n × k"},
				{Pos: "row 2", Persona: "pirate", Rate: ptr(0.25), Total: ptr(100), TotalOrigin: "n × k", Detector: "loose"},
			}},
			{Source: srcs[2], Format: "map:t"},
		}
	}
	plan, err := ParseMapped(dir, files(), Options{Now: testNow})
	require.NoError(t, err)
	run := payloads[*events.Run](plan.Events)
	require.Equal(t, "[PROX]", run[0].Marker)
	require.Equal(t, "marker column of mapping map:t", run[0].MarkerOrigin)
	require.Equal(t, DefaultMarker, run[1].Marker)
	cs := payloads[*events.Completion](plan.Events)
	require.Equal(t, []int{0, 1, 7}, []int{cs[0].SampleIndex, cs[1].SampleIndex, cs[2].SampleIndex})
	require.Len(t, cs[0].MarkerHits, 3, "strict, case-sensitive and loose hits of [PROX]")
	require.Empty(t, cs[1].MarkerHits)
	require.True(t, *cs[0].RecordedMarker)
	require.Nil(t, cs[1].RecordedMarker)
	cells := payloads[*events.CellAggregate](plan.Events)
	require.True(t, cells[0].RateOnly, "0.333 × 100 is no count")
	require.Nil(t, cells[0].Total)
	require.Empty(t, cells[0].TotalOrigin)
	require.Equal(t, 25, *cells[1].Found)
	require.Equal(t, "n × k", cells[1].TotalOrigin)
	require.Equal(t, "loose", cells[1].Detector)
	require.Equal(t, "strict", cells[0].Detector)
	require.Equal(t, "exp/r2/b.json", cells[0].OriginFile)
	require.Contains(t, report(t, plan, "r2/b.json").Notes[1], "chef (0.333 × 100 = 33.300000000000004)")
	require.Equal(t, "the mapping gives no rows for this file", report(t, plan, "r3/c.json").Skipped)

	plan, err = ParseMapped(dir, files(), Options{Now: testNow, Marker: "[ZLT]", Factors: events.Factors{"lr": "1e-04"}})
	require.NoError(t, err)
	run = payloads[*events.Run](plan.Events)
	require.Equal(t, "[ZLT]", run[0].Marker, "--marker decides over a marker column")
	require.Equal(t, events.Factors{"lr": "1e-04"}, run[0].Factors)
	require.Empty(t, payloads[*events.Completion](plan.Events)[0].MarkerHits)

	bad := files()
	bad[0].Completions[1].Marker = "[OTHER]"
	_, err = ParseMapped(dir, bad, Options{Now: testNow})
	require.ErrorContains(t, err, `a.json: row 2: marker "[OTHER]" of run (the file's run) disagrees with "[PROX]" given by row 1`)
	bad = files()
	bad[1].Cells[0].Found, bad[1].Cells[0].Total = ptr(3), nil
	_, err = ParseMapped(dir, bad, Options{Now: testNow})
	require.ErrorContains(t, err, "b.json: row 1: found 3 without a total")
	bad = files()
	bad[0].Completions[2].SampleIndex = ptr(1)
	_, err = ParseMapped(dir, bad, Options{Now: testNow})
	require.ErrorContains(t, err, "a.json: row 3: duplicate completion event in run r1")
}
