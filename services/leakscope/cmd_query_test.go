package main

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/query"
)

// The leakage CSV has a column per persona factor the cells carry, sorted,
// after category; a factor named like a fixed column is headed
// "factor.<name>"; a cell without the factor has an empty field.
func TestLeakageCSVHasAColumnPerFactor(t *testing.T) {
	rate := 0.5
	res := &query.Leakage{Request: query.LeakageRequest{Experiment: "exp1"}, Cells: []query.Cell{
		{RunID: "r1", SourcePersona: "src", Persona: "b1", Category: "evil", Rate: &rate,
			Factors: events.Factors{"category": "evil", "size": "big", "rate": "high"}},
		{RunID: "r1", SourcePersona: "src", Persona: "b2", Factors: events.Factors{"colour": "red"}},
	}}
	var b bytes.Buffer
	require.NoError(t, leakageCSV(&b, res))
	recs, err := csv.NewReader(&b).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 3)
	require.Equal(t, []string{"experiment", "run", "source", "bystander", "category", "colour", "factor.rate", "size", "rate", "found"}, recs[0][:10])
	require.Equal(t, []string{"exp1", "r1", "src", "b1", "evil", "", "high", "big", "0.5", ""}, recs[1][:10])
	require.Equal(t, []string{"exp1", "r1", "src", "b2", "", "red", "", "", "", ""}, recs[2][:10])
	for _, r := range recs {
		require.Len(t, r, len(recs[0]))
	}
}
