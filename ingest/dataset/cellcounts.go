package dataset

import (
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"leakscope/events"
	"leakscope/events/marker"
)

// TableCellCounts holds per-file summaries of the completions table: one
// row per (completions file, run, persona) with the counts the leakage
// matrix needs, so it need not scan completion text (issue 9).
const TableCellCounts = "cell_counts"

// DetectorColumn is a detector's name as a cell_counts column prefix
// ("case-sensitive" → "case_sensitive").
func DetectorColumn(name string) string { return strings.ReplaceAll(name, "-", "_") }

func cellCountsTable() Table {
	cols := []Column{
		col("completions_file", tString, "base name of the batch's completions file summarised (same partition); rows merged by compaction keep it, one row per original batch"),
		col("stream_seq", tInt, "last JetStream sequence of the batch that wrote both files"),
		col("ingested_at", tTime, "when ingest wrote the row, UTC µs"),
		col("run_id", tString, "run"),
		col("persona", tString, "persona key"),
		col("persona_prompt", tString, "its system prompt (the largest of the cell's, as max() would give), when known"),
		col("n", tInt, "completions of the cell in the file"),
		col("recorded_n", tInt, "of them with a recorded marker flag"),
		col("recorded_true", tInt, "of them flagged by the origin"),
		col("max_chars", tInt, "longest stored text, characters"),
		col("marker", tString, "the run's marker the detectors searched for ('' when the run was not known yet: the matrix reads the texts)"),
	}
	for _, name := range marker.Names() {
		p := DetectorColumn(name)
		cols = append(cols,
			col(p+"_version", tInt, "version of the "+name+" detector ingest ran"),
			col(p+"_hits", tInt, "completions with at least one "+name+" hit"),
			col(p+"_rec_only", tInt, "flagged by the origin without a "+name+" hit"),
			col(p+"_det_only", tInt, "with a "+name+" hit the origin did not flag"))
	}
	return Table{Name: TableCellCounts, Key: []string{"completions_file", "run_id", "persona"}, Columns: cols,
		Doc: "per-file summaries of completions, written in the same batch: counts per (run, persona), every detector run by ingest on the stored text with the run's marker"}
}

type cellKey struct{ experiment, run, persona string }

type cellAcc struct {
	prompt                     string
	n, recN, recTrue, maxChars int64
	marker                     string // the run's marker the counts searched for; "" = unknown
	hits, recOnly, detOnly     map[string]int64
}

// CellCounter accumulates one batch's completions into cell_counts rows.
// Ingest runs every detector on the stored text with the run's marker (from
// its run_started event), exactly as a query would; a completion whose run
// is not known yet is counted with marker "" and the matrix then reads its
// texts instead.
type CellCounter struct{ cells map[cellKey]*cellAcc }

// NewCellCounter starts an empty batch summary.
func NewCellCounter() *CellCounter { return &CellCounter{cells: map[cellKey]*cellAcc{}} }

// Add counts one completion that the batch writes; runMarker is its run's
// marker, "" when unknown.
func (cc *CellCounter) Add(e events.Event, c *events.Completion, runMarker string) {
	k := cellKey{e.Experiment, e.RunID, c.Persona}
	a := cc.cells[k]
	if a == nil {
		a = &cellAcc{marker: runMarker, hits: map[string]int64{}, recOnly: map[string]int64{}, detOnly: map[string]int64{}}
		cc.cells[k] = a
	}
	if a.marker != runMarker {
		a.marker = ""
	}
	a.n++
	if c.PersonaPrompt > a.prompt { // the largest, as max() over the texts
		a.prompt = c.PersonaPrompt
	}
	a.maxChars = max(a.maxChars, int64(utf8.RuneCountInString(c.Text))) // characters, as DuckDB's length()
	rec := c.RecordedMarker != nil && *c.RecordedMarker
	if c.RecordedMarker != nil {
		a.recN++
		if rec {
			a.recTrue++
		}
	}
	if runMarker == "" {
		return
	}
	for _, name := range marker.Names() {
		d, _ := marker.Get(name)
		switch hit := d.Hit(runMarker, c.Text); {
		case hit:
			a.hits[name]++
			if c.RecordedMarker != nil && !rec {
				a.detOnly[name]++
			}
		case rec:
			a.recOnly[name]++
		}
	}
}

// Rows returns the batch's cell_counts rows per experiment, for the
// completions file named file (base name) written in each partition.
func (cc *CellCounter) Rows(file string, seq uint64, now time.Time) map[string][]Row {
	keys := make([]cellKey, 0, len(cc.cells))
	for k := range cc.cells {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.experiment+"\x00"+a.run+"\x00"+a.persona < b.experiment+"\x00"+b.run+"\x00"+b.persona
	})
	out := map[string][]Row{}
	for _, k := range keys {
		a := cc.cells[k]
		r := Row{file, int64(seq), now, k.run, k.persona, a.prompt, a.n, a.recN, a.recTrue, a.maxChars, a.marker}
		for _, name := range marker.Names() {
			d, _ := marker.Get(name)
			r = append(r, int64(d.Version), a.hits[name], a.recOnly[name], a.detOnly[name])
		}
		out[k.experiment] = append(out[k.experiment], r)
	}
	return out
}
