package query

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// Flags and query parameters become a scope, and the scope the estimands'
// parameters; bad values name the flag.
func TestScopeArgs(t *testing.T) {
	s, err := ScopeArgs{Runs: []string{"r1,r2", "r3"}, Seeds: []string{"1", "2,3"}, Sources: []string{"chef"},
		Where: []string{"lr=1e-4|5e-4", "trait=Openness"}, IncludeRetracted: true}.Scope()
	require.NoError(t, err)
	require.Equal(t, Scope{Runs: []string{"r1", "r2", "r3"}, Seeds: []int64{1, 2, 3}, Sources: []string{"chef"},
		Where: map[string][]string{"lr": {"1e-4", "5e-4"}, "trait": {"Openness"}}, IncludeRetracted: true}, s)
	require.Equal(t, map[string]string{"runs": "r1,r2,r3", "seeds": "1,2,3", "sources": "chef",
		"where": "lr=1e-4|5e-4;trait=Openness", "include_retracted": "true"}, s.EstimandParams())
	require.Empty(t, Scope{}.EstimandParams())

	_, err = ScopeArgs{Seeds: []string{"x"}}.Scope()
	require.ErrorIs(t, err, ErrBadRequest)
	require.ErrorContains(t, err, "--seed")
	_, err = ScopeArgs{Where: []string{"lr"}}.Scope()
	require.ErrorContains(t, err, "want factor=value")
}

// The runs listing keeps runs by their run-level fields; a retracted run
// stays listed unless asked otherwise; a persona-level factor is refused.
func TestFilterRuns(t *testing.T) {
	one, two := int64(1), int64(2)
	runs := []RunSummary{
		{RunID: "a", SourcePersona: "src_chef", Seed: &one, Sweep: "s", Factors: events.Factors{"lr": "1e-4"}},
		{RunID: "b", SourcePersona: "src_robot", Seed: &two, Sweep: "s", Factors: events.Factors{"lr": "5e-4"}, Retracted: true},
		{RunID: "base", IsBase: true},
	}
	ids := func(s Scope, keep bool) []string {
		out, err := FilterRuns(runs, s, keep)
		require.NoError(t, err)
		var id []string
		for _, r := range out {
			id = append(id, r.RunID)
		}
		return id
	}
	require.Equal(t, []string{"a", "b", "base"}, ids(Scope{}, true))
	require.Equal(t, []string{"a", "base"}, ids(Scope{}, false))
	require.Equal(t, []string{"a", "b", "base"}, ids(Scope{IncludeRetracted: true}, false))
	require.Equal(t, []string{"b", "base"}, ids(Scope{Seeds: []int64{2}}, true))
	require.Equal(t, []string{"a", "base"}, ids(Scope{Sources: []string{"chef"}}, true))
	require.Equal(t, []string{"b"}, ids(Scope{Where: map[string][]string{"lr": {"5e-4"}}}, true))
	require.Equal(t, []string{"a"}, ids(Scope{Runs: []string{"a"}}, true))
	_, err := FilterRuns(runs, Scope{Where: map[string][]string{"trait": {"Openness"}}}, true)
	require.True(t, errors.Is(err, ErrBadRequest))
	require.ErrorContains(t, err, "run-level factors (lr, seed, source, sweep)")
}
