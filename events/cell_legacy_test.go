package events

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// testdata/cell_aggregate_v1_legacy.json is a cell_aggregate as the code
// before issue 17 encoded it (kind, noun, trait, level as fields of their
// own). It is in people's logs: it must decode, its factors folded in,
// under the same ID, and encode again in the current form.
func TestLegacyCellAggregateDecodesIntoFactors(t *testing.T) {
	old, err := os.ReadFile("testdata/cell_aggregate_v1_legacy.json")
	require.NoError(t, err)
	e, err := Decode(old)
	require.NoError(t, err)
	c := e.Payload.(*CellAggregate)
	require.Equal(t, Factors{"kind": "A1", "noun": "chef", "trait": "Openness", "level": "L1"}, c.Factors)
	require.Equal(t, "03bd0d22a0cb619e0b6d061763e81646", e.ID, "the ID is the natural key's: unchanged")
	require.Equal(t, 1, e.SchemaVersion)

	b, err := Encode(e)
	require.NoError(t, err)
	var env struct {
		Payload map[string]json.RawMessage `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(b, &env))
	for _, f := range LegacyCellFields {
		require.NotContains(t, env.Payload, f, "a current encoder writes factors only")
	}
	require.JSONEq(t, `{"kind":"A1","noun":"chef","trait":"Openness","level":"L1"}`, string(env.Payload["factors"]))
	again, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, e, again, "re-encoded, the event decodes to the same")
}

// A legacy field beside factors: the same value is one factor; another
// value is refused, naming the factor; a legacy field of another JSON
// type is refused, naming it.
func TestLegacyCellFieldsBesideFactors(t *testing.T) {
	old, err := os.ReadFile("testdata/cell_aggregate_v1_legacy.json")
	require.NoError(t, err)
	withPayload := func(edit func(p map[string]any)) []byte {
		var env map[string]any
		require.NoError(t, json.Unmarshal(old, &env))
		edit(env["payload"].(map[string]any))
		b, err := json.Marshal(env)
		require.NoError(t, err)
		return b
	}

	e, err := Decode(withPayload(func(p map[string]any) { p["factors"] = map[string]string{"noun": "chef", "category": "food"} }))
	require.NoError(t, err)
	require.Equal(t, Factors{"kind": "A1", "noun": "chef", "trait": "Openness", "level": "L1", "category": "food"}, e.Payload.(*CellAggregate).Factors)

	for _, c := range []struct {
		name  string
		edit  func(p map[string]any)
		field string
	}{
		{"conflicting factor", func(p map[string]any) { p["factors"] = map[string]string{"noun": "pirate"} }, `^payload\.factors\.noun$`},
		{"conflict under another spelling", func(p map[string]any) { p["Trait"] = "Neuroticism" }, `^payload\.(Trait|trait)$`},
		{"legacy field not a string", func(p map[string]any) { p["level"] = 3 }, `^payload\.level$`},
		{"legacy value not printable", func(p map[string]any) { p["kind"] = "A\n1" }, `^payload\.factors\.kind$`},
	} {
		_, err := Decode(withPayload(c.edit))
		var fe *FieldError
		require.True(t, errors.As(err, &fe), "%s: %v", c.name, err)
		require.Regexp(t, c.field, fe.Field, c.name)
		require.Equal(t, TypeCellAggregate, fe.Type, c.name)
		require.ErrorIs(t, err, ErrInvalid, c.name)
	}

	// A legacy field written in another case was the same field to the
	// first decoders (encoding/json matches names case-insensitively).
	e, err = Decode(withPayload(func(p map[string]any) { delete(p, "noun"); p["NOUN"] = "chef" }))
	require.NoError(t, err)
	require.Equal(t, "chef", e.Payload.(*CellAggregate).Factors["noun"])
	// An empty or null legacy field names no factor.
	e, err = Decode(withPayload(func(p map[string]any) { p["trait"], p["level"] = "", nil }))
	require.NoError(t, err)
	require.Equal(t, Factors{"kind": "A1", "noun": "chef"}, e.Payload.(*CellAggregate).Factors)
}
