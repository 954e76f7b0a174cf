package events

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// A planned run names its sweep and at least one valid cell; each refusal
// names the field.
func TestRunPlannedValidation(t *testing.T) {
	cell := []PlannedCell{{Persona: "p", Expected: 4}}
	for _, c := range []struct {
		name  string
		p     *RunPlanned
		field string
	}{
		{"no sweep", &RunPlanned{Plan: cell}, "payload.sweep"},
		{"sweep not a name", &RunPlanned{Sweep: "a.b", Plan: cell}, "payload.sweep"},
		{"no plan", &RunPlanned{Sweep: "s"}, "payload.plan"},
		{"zero completions", &RunPlanned{Sweep: "s", Plan: []PlannedCell{{Persona: "p"}}}, "payload.plan[0].expected"},
		// Attack: two cells of 2^63-1 made the live view's sweep size negative.
		{"absurd completions", &RunPlanned{Sweep: "s", Plan: []PlannedCell{{Persona: "p", Expected: 1 << 62}, {Persona: "q", Expected: 1 << 62}}}, "payload.plan[0].expected"},
		{"negative completions", &RunPlanned{Sweep: "s", Plan: []PlannedCell{{Persona: "p", Expected: -5}}}, "payload.plan[0].expected"},
		{"a cell twice", &RunPlanned{Sweep: "s", Plan: []PlannedCell{{Persona: "p", Expected: 1}, {Persona: "p", Expected: 1}}}, "payload.plan[1].persona"},
		{"unprintable persona", &RunPlanned{Sweep: "s", Plan: []PlannedCell{{Persona: "a\nb", Expected: 1}}}, "payload.plan[0].persona"},
		{"bad run factor", &RunPlanned{Sweep: "s", Plan: cell, Factors: Factors{"": "x"}}, "payload.factors"},
	} {
		_, err := New("exp", "run", t0, c.p)
		var fe *FieldError
		require.True(t, errors.As(err, &fe), "%s: %v", c.name, err)
		require.Equal(t, c.field, fe.Field[:len(c.field)], c.name)
		require.ErrorIs(t, err, ErrInvalid)
	}
	// The same plan submitted twice is the same fact (one ID), another run's is not.
	a, err := New("exp", "r1", t0, &RunPlanned{Sweep: "s", Plan: cell})
	require.NoError(t, err)
	b, err := New("exp", "r1", t0.Add(1), &RunPlanned{Sweep: "s", Plan: cell})
	require.NoError(t, err)
	c, err := New("exp", "r2", t0, &RunPlanned{Sweep: "s", Plan: cell})
	require.NoError(t, err)
	require.Equal(t, a.ID, b.ID)
	require.NotEqual(t, a.ID, c.ID)
	require.Equal(t, Subject(a), "leakscope.ev.exp.run_planned")
}
