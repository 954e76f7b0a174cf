package duck

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/ingest/dataset"
)

// earlierCells is the cells table as an earlier leakscope wrote it: with
// its dropped columns after persona_prompt (their place before issue 17),
// and without the columns named in without (a lake older still).
func earlierCells(t *testing.T, without ...string) dataset.Table {
	t.Helper()
	tb, _ := dataset.TableByName(dataset.TableCells)
	require.NotEmpty(t, tb.Dropped)
	var cols []dataset.Column
	for _, c := range tb.Columns {
		if slices.Contains(without, c.Name) {
			continue
		}
		cols = append(cols, c)
		if c.Name == "persona_prompt" {
			for _, d := range tb.Dropped {
				cols = append(cols, dataset.Column{Name: d.Name, Type: d.Type, Doc: d.Doc})
			}
		}
	}
	tb.Columns, tb.Dropped = cols, nil
	return tb
}

// cellRow is one row of tb: the named values, the rest zero (NULL where nullable).
func cellRow(tb dataset.Table, seq int64, vals map[string]any) dataset.Row {
	row := make(dataset.Row, len(tb.Columns))
	for i, c := range tb.Columns {
		v, ok := vals[c.Name]
		switch {
		case ok:
			row[i] = v
		case c.Name == "stream_seq":
			row[i] = seq
		case c.Name == "event_time" || c.Name == "ingested_at":
			row[i] = eventTime
		case c.Nullable:
			row[i] = nil
		case c.Type.ID() == arrow.STRING:
			row[i] = ""
		case c.Type.ID() == arrow.BOOL:
			row[i] = c.Name == "imported"
		default:
			row[i] = int64(0)
		}
	}
	return row
}

func writeCells(t *testing.T, lake string, seq uint64, tb dataset.Table, rows ...dataset.Row) {
	t.Helper()
	rel := filepath.Join(dataset.Partition(dataset.TableCells, "exp1"), dataset.FileName(seq, seq, time.Now(), ""))
	require.NoError(t, dataset.WriteFile(lake, rel, tb, rows))
}

// A lake holding cells files of three schemas — before factors_json, with
// factors_json and the factor columns, and the current one — reads as one
// table of the current schema: the factor columns folded into
// factors_json (the stored object winning on a key both give, as the
// readers of the earlier schema let it), no factor column in the view.
func TestCellsOfEarlierSchemasFoldTheirFactorColumns(t *testing.T) {
	lake := t.TempDir()
	oldest := earlierCells(t, "factors_json", "rate_only", "total_origin")
	writeCells(t, lake, 1, oldest,
		cellRow(oldest, 1, map[string]any{"event_id": "e1", "persona": "A1__chef__Openness__L1", "detector": "strict",
			"kind": "A1", "noun": "chef", "trait": "Openness", "level": "L1"}),
		cellRow(oldest, 1, map[string]any{"event_id": "e2", "persona": "villain", "detector": "strict", "category": "evil"}))
	older := earlierCells(t)
	writeCells(t, lake, 2, older,
		cellRow(older, 2, map[string]any{"event_id": "e3", "persona": "A2__pirate", "detector": "strict",
			"kind": "A2", "noun": "chef", "factors_json": `{"noun":"pirate","pair":"p1"}`}),
		cellRow(older, 2, map[string]any{"event_id": "e4", "persona": "hero", "detector": "strict", "factors_json": `{"side":"good"}`}))
	// The current writer, from a replayed legacy event and a current one.
	one := 1
	for i, p := range []*events.CellAggregate{
		{Persona: "A2__robot", Detector: "strict", Found: &one, Total: &one, Imported: true, OriginFile: "f", Factors: events.Factors{"kind": "A2", "noun": "robot"}},
		{Persona: "plain", Detector: "strict", Found: &one, Total: &one, Imported: true, OriginFile: "f"},
	} {
		e, err := events.New("exp1", "run1", eventTime, p)
		require.NoError(t, err)
		rows, err := dataset.Rows(e, dataset.Meta{StreamSeq: uint64(3 + i), IngestedAt: eventTime})
		require.NoError(t, err)
		tb, _ := dataset.TableByName(dataset.TableCells)
		writeCells(t, lake, uint64(3+i), tb, rows[dataset.TableCells]...)
	}

	db, err := Open(lake)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	res, err := db.Query(ctx, "SELECT persona, factors_json, category FROM cells ORDER BY persona")
	require.NoError(t, err)
	got := map[string]any{}
	for _, r := range res.Rows {
		if r[1] == nil {
			got[r[0].(string)] = nil
			continue
		}
		var f map[string]string
		require.NoError(t, json.Unmarshal([]byte(r[1].(string)), &f), "%s: %v", r[0], r[1])
		got[r[0].(string)] = f
	}
	require.Equal(t, map[string]any{
		"A1__chef__Openness__L1": map[string]string{"kind": "A1", "noun": "chef", "trait": "Openness", "level": "L1"},
		"villain":                nil, // no factors: NULL, as the writer stores none
		"A2__pirate":             map[string]string{"kind": "A2", "noun": "pirate", "pair": "p1"},
		"hero":                   map[string]string{"side": "good"},
		"A2__robot":              map[string]string{"kind": "A2", "noun": "robot"},
		"plain":                  nil,
	}, got)

	// The view has the current schema's columns, whichever files it reads.
	res, err = db.Query(ctx, "SELECT column_name FROM (DESCRIBE cells)")
	require.NoError(t, err)
	var cols []string
	for _, r := range res.Rows {
		cols = append(cols, r[0].(string))
	}
	tb, _ := dataset.TableByName(dataset.TableCells)
	want := []string{"experiment"}
	for _, c := range tb.Columns {
		want = append(want, c.Name)
	}
	require.ElementsMatch(t, want, cols)
}
