package query

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/ingest/dataset/datasettest"
)

// Attack: a cell of huge completions (a text may be 8 MiB) read with
// limit=1000 answered every text at once (8 GB). A page now ends once its
// texts pass MaxSamplesBytes, saying so; the next page goes on from there
// and the pages together hold every completion once.
func TestSamplesPageEndsAtItsByteBudget(t *testing.T) {
	lake := t.TempDir()
	store := (&datasettest.Lake{T: t, Dir: lake, Experiment: "exp1", Run: "run1", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}).Store
	store(&events.Run{SourcePersona: "src", Model: "m", Marker: "[ZLT]"})
	for i := range 5 {
		store(&events.Completion{Persona: "p", Question: "q", SampleIndex: i, Text: strings.Repeat(string(rune('a'+i)), 400) + " [ZLT]"})
	}
	defer func(old int) { MaxSamplesBytes = old }(MaxSamplesBytes)
	MaxSamplesBytes = 1000 // two and a half texts
	e, err := Open(lake)
	require.NoError(t, err)
	defer e.Close()
	ctx := context.Background()
	var got []int64
	for off := 0; off < 5; {
		s, err := e.Samples(ctx, SamplesRequest{Experiment: "exp1", Run: "run1", Bystander: "p", Limit: 1000, Offset: off})
		require.NoError(t, err)
		require.Equal(t, int64(5), s.Matching)
		require.LessOrEqual(t, len(s.Samples), 3, "texts up to the budget, and the one that passes it")
		if off+len(s.Samples) < 5 {
			require.Contains(t, s.Notes[len(s.Notes)-1], "this page ends after")
		}
		for _, x := range s.Samples {
			got = append(got, x.SampleIndex)
			require.True(t, x.Hit)
		}
		off += len(s.Samples)
	}
	require.Equal(t, []int64{0, 1, 2, 3, 4}, got)
	// One text over the budget still comes, alone.
	MaxSamplesBytes = 10
	s, err := e.Samples(ctx, SamplesRequest{Experiment: "exp1", Run: "run1", Bystander: "p", Limit: 1000})
	require.NoError(t, err)
	require.Len(t, s.Samples, 1)
	require.Equal(t, int64(5), s.Found)
}
