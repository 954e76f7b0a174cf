package mapimport

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/eventstest"
	"leakscope/gpuworker/importer"
)

// --suggest proposes a mapping that parses and imports: from an object
// keyed by persona (the sweep's eval.marker), from per-persona records
// ({persona: {found, total, rate}} in a generated file), and — for a
// shape it cannot guess — a template that still parses.
func TestSuggestProposesWorkingMappings(t *testing.T) {
	ctx := context.Background()
	dir := eventstest.RatesOnlyDir(t)
	sweep := filepath.Join(dir, "single_token_sweep", "lr1e-05_ep5")
	text, err := Suggest(ctx, filepath.Join(sweep, "run_result.json"))
	require.NoError(t, err)
	require.Contains(t, text, "#   eval STRUCT(marker STRUCT(software_engineer DOUBLE")
	require.Contains(t, text, "map_entries(CAST(to_json(f.eval.marker) AS MAP(VARCHAR, DOUBLE)))")
	m, err := Parse("suggested.yaml", []byte(text))
	require.NoError(t, err)
	plan, err := Run(ctx, m, dir, []string{sweep}, importer.Options{Now: testNow})
	require.NoError(t, err)
	var rates []float64
	for _, e := range plan.Events {
		if c, ok := e.Payload.(*events.CellAggregate); ok {
			require.True(t, c.RateOnly)
			rates = append(rates, *c.Rate)
		}
	}
	require.Len(t, rates, 11)

	root := writeTree(t, map[string]string{
		"exp/r1/eval.json":  `{"seed": 3, "per_persona": {"chef": {"found": 2, "total": 10, "rate": 0.2}, "pirate": {"found": 5, "total": 10, "rate": 0.5}}}`,
		"exp/r1/other.json": `{"a": "b"}`,
	})
	text, err = Suggest(ctx, filepath.Join(root, "exp", "r1", "eval.json"))
	require.NoError(t, err)
	require.Contains(t, text, "(p.value->>'found')::BIGINT AS found")
	require.Contains(t, text, "f.seed AS seed")
	m, err = Parse("suggested.yaml", []byte(text))
	require.NoError(t, err)
	plan, err = Run(ctx, m, root, []string{root}, importer.Options{Now: testNow})
	require.NoError(t, err)
	require.Len(t, plan.Events, 4)
	pirate := plan.Events[2].Payload.(*events.CellAggregate)
	require.Equal(t, "pirate", pirate.Persona)
	require.Equal(t, 5, *pirate.Found)
	require.Equal(t, int64(3), *plan.Events[0].Payload.(*events.Run).Seed)

	text, err = Suggest(ctx, filepath.Join(root, "exp", "r1", "other.json"))
	require.NoError(t, err)
	_, err = Parse("suggested.yaml", []byte(text))
	require.NoError(t, err, text)
	require.Contains(t, text, "TODO")
}
