package dataset

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// A cell_aggregate of the first format (events/testdata), replayed from a
// log, is stored like a current one: its factors in factors_json, and no
// column of their own.
func TestLegacyCellAggregateStoresItsFactors(t *testing.T) {
	old, err := os.ReadFile("../../events/testdata/cell_aggregate_v1_legacy.json")
	require.NoError(t, err)
	e, err := events.Decode(old)
	require.NoError(t, err)
	rows, err := Rows(e, Meta{StreamSeq: 7, IngestedAt: time.Unix(0, 0)})
	require.NoError(t, err)
	tb, _ := TableByName(TableCells)
	require.Len(t, rows[TableCells], 1)
	row := rows[TableCells][0]
	require.Len(t, row, len(tb.Columns))
	at := map[string]any{}
	for i, c := range tb.Columns {
		at[c.Name] = row[i]
	}
	require.JSONEq(t, `{"kind":"A1","noun":"chef","trait":"Openness","level":"L1"}`, at["factors_json"].(string))
	require.Equal(t, "A1__chef__Openness__L1", at["persona"])
	require.Equal(t, "", at["category"])
	for _, d := range tb.Dropped {
		_, ok := at[d.Name]
		require.False(t, ok, "column %s is no longer written", d.Name)
	}
	// A file of the rows has the current schema: compaction may merge it.
	lake := t.TempDir()
	rel := filepath.Join(Partition(TableCells, "exp1"), FileName(7, 7, time.Now(), ""))
	require.NoError(t, WriteFile(lake, rel, tb, rows[TableCells]))
	ok, err := readSchemaMatches(lake, rel, tb)
	require.NoError(t, err)
	require.True(t, ok)
}

// tableFactorExempt are lake columns whose name a preset also uses as a
// factor name, for a thing that is no persona factor.
var tableFactorExempt = map[string]string{
	"job_status.kind": "a sweep job's kind (train, eval), not a persona's",
}

// The lake stores design factors in *_json columns, never as columns of
// their own named after a preset's factors (issue 17): the factor names of
// every presets/*/*.json (declared, and set by bystander or source
// families) name no current column.
func TestSchemaColumnsNameNoPresetFactor(t *testing.T) {
	files, err := filepath.Glob("../../presets/*/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	factors := map[string]bool{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		var p struct {
			Factors []struct {
				Name string `json:"name"`
			} `json:"factors"`
			Bystanders, Sources []struct {
				Factors map[string]string `json:"factors"`
			}
		}
		require.NoError(t, json.Unmarshal(b, &p), file)
		for _, f := range p.Factors {
			factors[f.Name] = true
		}
		for _, fam := range append(p.Bystanders, p.Sources...) {
			for k := range fam.Factors {
				factors[k] = true
			}
		}
	}
	require.True(t, factors["noun"] && factors["kind"], "the #81 preset's factors are among the names")
	var bad []string
	seen := map[string]bool{}
	for _, tb := range Tables {
		for _, c := range tb.Columns {
			key := tb.Name + "." + c.Name
			switch {
			case !factors[c.Name]:
			case tableFactorExempt[key] != "":
				seen[key] = true
			default:
				bad = append(bad, key)
			}
		}
	}
	require.Empty(t, bad, "columns named after a preset's factor: store them in factors_json")
	for k := range tableFactorExempt {
		require.True(t, seen[k], "exemption %s names no column any more: drop it", k)
	}
}
