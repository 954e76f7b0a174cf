package query

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/ingest/dataset"
)

// A lake whose cells file was written before issue 17 (the factors in
// columns of their own) beside a current one answers with the factors of
// both: in the matrix, in a factor filter and in the design's factors.
func TestLeakageReadsFactorsOfEarlierCellFiles(t *testing.T) {
	lake := t.TempDir()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	write := func(seq uint64, tb dataset.Table, rows []dataset.Row) {
		rel := filepath.Join(dataset.Partition(tb.Name, "exp1"), dataset.FileName(seq, seq, at, ""))
		require.NoError(t, dataset.WriteFile(lake, rel, tb, rows))
	}
	store := func(seq uint64, p events.Payload) {
		e, err := events.New("exp1", "run1", at, p)
		require.NoError(t, err)
		rows, err := dataset.Rows(e, dataset.Meta{StreamSeq: seq, IngestedAt: at})
		require.NoError(t, err)
		for name, rs := range rows {
			tb, _ := dataset.TableByName(name)
			write(seq, tb, rs)
		}
	}
	store(1, &events.Run{SourcePersona: "src_a", Model: "m", Marker: "[ZLT]", Imported: true, OriginFile: "f", OriginSHA256: strings.Repeat("ab", 32)})
	one, two := 1, 2
	store(2, &events.CellAggregate{Persona: "b_new", Detector: "strict", Found: &one, Total: &two, Imported: true, OriginFile: "f",
		Factors: events.Factors{"shape": "round", "size": "big"}})

	// The earlier writer's cells file: the current columns plus the
	// dropped ones after persona_prompt, factors_json NULL.
	cur, _ := dataset.TableByName(dataset.TableCells)
	old := cur
	old.Columns, old.Dropped = nil, nil
	for _, c := range cur.Columns {
		old.Columns = append(old.Columns, c)
		if c.Name == "persona_prompt" {
			for _, d := range cur.Dropped {
				old.Columns = append(old.Columns, dataset.Column{Name: d.Name, Type: d.Type})
			}
		}
	}
	vals := map[string]any{"event_id": "old1", "run_id": "run1", "event_time": at, "schema_version": int64(1), "stream_seq": int64(3),
		"ingested_at": at, "persona": "b_old", "detector": "strict", "found": int64(2), "total": int64(2), "imported": true, "origin_file": "f",
		cur.Dropped[0].Name: "g1", cur.Dropped[1].Name: "small"}
	row := make(dataset.Row, len(old.Columns))
	for i, c := range old.Columns {
		v, ok := vals[c.Name]
		switch {
		case ok:
			row[i] = v
		case c.Nullable:
		case c.Type == dataset.Tables[0].Columns[0].Type: // a string
			row[i] = ""
		default:
			row[i] = false
		}
	}
	write(3, old, []dataset.Row{row})

	e, err := Open(lake)
	require.NoError(t, err)
	defer e.Close()
	ctx := context.Background()
	res, err := e.Leakage(ctx, LeakageRequest{Experiment: "exp1", Detector: "strict"})
	require.NoError(t, err)
	got := map[string]events.Factors{}
	for _, c := range res.Cells {
		got[c.Persona] = c.Factors
	}
	d0, d1 := cur.Dropped[0].Name, cur.Dropped[1].Name
	require.Equal(t, map[string]events.Factors{"b_new": {"shape": "round", "size": "big"}, "b_old": {d0: "g1", d1: "small"}}, got)

	res, err = e.Leakage(ctx, LeakageRequest{Experiment: "exp1", Detector: "strict", Scope: Scope{Where: map[string][]string{d1: {"small"}}}})
	require.NoError(t, err)
	require.Len(t, res.Cells, 1)
	require.Equal(t, "b_old", res.Cells[0].Persona)
	require.Equal(t, int64(2), *res.Cells[0].Found)

	f, err := e.DesignFactors(ctx, "exp1")
	require.NoError(t, err)
	require.Equal(t, []string{"g1"}, f[d0])
	require.Equal(t, []string{"small"}, f[d1])
	require.Equal(t, []string{"round"}, f["shape"])
}
