package events

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFactorsAndRateOnlyAreValidated(t *testing.T) {
	rate, bad := 0.4, 1.5
	cases := []struct {
		name      string
		given     Payload
		wantField string
	}{
		{"upper-case factor name", &Run{Marker: "[ZLT]", Factors: Factors{"LR": "1e-4"}}, "payload.factors.LR"},
		{"reserved factor", &Run{Marker: "[ZLT]", Factors: Factors{"seed": "42"}}, "payload.factors.seed"},
		{"empty factor value", &Run{Marker: "[ZLT]", Factors: Factors{"lr": ""}}, "payload.factors.lr"},
		{"plan factor", &Run{Marker: "[ZLT]", Plan: []PlannedCell{{Persona: "a", Expected: 1, Factors: Factors{"bad key": "x"}}}}, "payload.plan[0].factors.bad key"},
		{"rate-only with a count", &CellAggregate{Persona: "a", Detector: "strict", Rate: &rate, Found: intp(1), Total: intp(2), RateOnly: true, Imported: true, OriginFile: "f"}, "payload.found"},
		{"rate-only without a rate", &CellAggregate{Persona: "a", Detector: "strict", RateOnly: true, Imported: true, OriginFile: "f"}, "payload.rate"},
		{"rate-only out of range", &CellAggregate{Persona: "a", Detector: "strict", Rate: &bad, RateOnly: true, Imported: true, OriginFile: "f"}, "payload.rate"},
		{"no count, not rate-only", &CellAggregate{Persona: "a", Detector: "strict", Rate: &rate, Imported: true, OriginFile: "f"}, "payload.found"},
		{"retract without reason", &RunMark{Action: MarkRetract, At: t0}, "payload.reason"},
		{"unknown action", &RunMark{Action: "delete", At: t0}, "payload.action"},
		{"tag without a tag", &RunMark{Action: MarkTag, At: t0}, "payload.tag"},
		{"retract with a tag", &RunMark{Action: MarkRetract, Reason: "x", Tag: "t", At: t0}, "payload.tag"},
		{"mark without time", &RunMark{Action: MarkRestore}, "payload.at"},
	}
	for _, c := range cases {
		_, err := New("exp", "run", t0, c.given)
		var fe *FieldError
		require.ErrorAs(t, err, &fe, c.name)
		require.Equal(t, c.wantField, fe.Field, c.name)
	}
	many := Factors{}
	for i := 0; i <= MaxFactors; i++ {
		many["f"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	_, err := New("exp", "run", t0, &Run{Marker: "[ZLT]", Factors: many})
	require.ErrorContains(t, err, "at most 64")
}

func TestRetractRestoreRetractAreThreeEvents(t *testing.T) {
	ids := map[string]bool{}
	for i, a := range []string{MarkRetract, MarkRestore, MarkRetract} {
		e, err := New("exp", "run", t0, &RunMark{Action: a, Reason: "r", At: t0.Add(time.Duration(i) * time.Second)})
		require.NoError(t, err)
		ids[e.ID] = true
	}
	require.Len(t, ids, 3, "a mark's time is part of its ID, so a second retraction is not a duplicate")
}
