package presets

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

// tiny is a valid preset: 2 × 2 grid cells, 2 pure cells, 2 sources.
const tiny = `{
  "name": "tiny",
  "factors": [{"name": "noun", "values": ["cat", "dog"]}, {"name": "level", "values": ["L1", "L2"]}],
  "tables": {"mood": {"by": ["level"], "values": {"L1": "calm", "L2": "wild"}}},
  "bystanders": [
    {"over": ["noun", "level"], "factors": {"kind": "G"}, "key": "G__{noun}__{level}", "prompt": "You are a {mood} {noun}."},
    {"over": ["noun"], "key": "P__{noun}", "prompt": "You are a {noun}."}
  ],
  "sources": [{"over": ["noun"], "key": "src_{noun}", "name": "{noun}", "prompt": "You are a {noun}.", "own_cell": "P__{noun}"}],
  "personas": {"assistant": {"key": "assistant", "prompt": "You are a helpful assistant."}},
  "negative_pool": [{"key": "owl", "prompt": "You are an owl."}],
  "negatives": {"src_cat": ["owl"]},
  "questions": {"eval": ["Why?", "How?"]},
  "estimands": {"h2": {"sources": "dog"}},
  "parameterisations": {"noun-swap": {"estimand": "factor-swap", "params": {"a": "noun", "b": "level"}}}
}`

func TestParseExpandsFamilies(t *testing.T) {
	p, err := Parse("tiny.json", []byte(tiny))
	require.NoError(t, err)
	require.Equal(t, "tiny", p.Name)
	require.Equal(t, []string{"noun", "level"}, p.FactorNames)
	keys := make([]string, len(p.Bystanders))
	for i, b := range p.Bystanders {
		keys[i] = b.Key
	}
	require.Equal(t, []string{"G__cat__L1", "G__cat__L2", "G__dog__L1", "G__dog__L2", "P__cat", "P__dog"}, keys, "first over-factor slowest, families in order")
	b, ok := p.Bystander("G__dog__L2")
	require.True(t, ok)
	require.Equal(t, Persona{Key: "G__dog__L2", Prompt: "You are a wild dog.", Factors: events.Factors{"kind": "G", "noun": "dog", "level": "L2"}}, b)
	require.Equal(t, []string{"cat", "dog"}, p.Order("source"))
	require.Equal(t, []string{"L1", "L2"}, p.Order("level"))
	require.Nil(t, p.Order("trait"))
	s, ok := p.SourceNamed("src_dog")
	require.True(t, ok)
	require.Equal(t, Source{Persona: Persona{Key: "src_dog", Prompt: "You are a dog.", Factors: events.Factors{"noun": "dog"}}, Name: "dog", OwnCell: "P__dog"}, s)
	v, ok := p.Pinned("h2", "sources")
	require.True(t, ok)
	require.Equal(t, "dog", v)
	_, ok = p.Pinned("h3", "sources")
	require.False(t, ok)
	require.Equal(t, "You are a helpful assistant.", p.Personas["assistant"].Prompt)
	require.Equal(t, []string{"owl"}, p.Negatives["src_cat"])
	require.Equal(t, Parameterisation{Estimand: "factor-swap", Params: map[string]string{"a": "noun", "b": "level"}}, p.Parameterisations["noun-swap"])
}

// Every refusal names the file and the field (or line) at fault.
func TestParseErrorsNameTheField(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{`"name": "tiny"`, `"name": ""`, "tiny.json: name: is empty"},
		{`"name": "tiny",`, `"name": "tiny", "nmae": 1,`, `tiny.json: json: unknown field "nmae"`},
		{`"name": "tiny"`, `"name": 7`, "tiny.json:2: name: want string, got JSON number"},
		{`"questions": {`, `"questions": {,`, "tiny.json:13: invalid character ',' looking for beginning of object key"},
		{`{"name": "noun", "values": ["cat", "dog"]}`, `{"name": "Noun", "values": ["cat"]}`, `field "factors[0].Noun" factor name "Noun" must match`},
		{`{"name": "noun", "values": ["cat", "dog"]}`, `{"name": "noun", "values": ["cat", ""]}`, `field "factors[0].noun" value "" must be printable`},
		{`{"name": "level", "values": ["L1", "L2"]}`, `{"name": "noun", "values": ["L1"]}`, `factors[1].name: "noun" is declared twice`},
		{`["L1", "L2"]}]`, `[]}]`, "factors[1].values: is empty"},
		{`["L1", "L2"]}]`, `["L1", "L1"]}]`, `factors[1].values[1]: "L1" is listed twice`},
		{`"by": ["level"]`, `"by": ["lvl"]`, `tables.mood.by[0]: "lvl" is not a declared factor (declared: noun, level)`},
		{`"tables": {"mood"`, `"tables": {"noun"`, "tables.noun: has the name of a factor"},
		{`"L2": "wild"`, `"L3": "wild"`, `tables.mood.values: has no entry "L2" (needed by bystanders[0].prompt)`},
		{`"prompt": "You are a {mood} {noun}."`, `"prompt": "You are a {mod} {noun}."`, "bystanders[0].prompt: placeholder {mod} is neither a factor of this family (kind, level, noun) nor a table"},
		{`"prompt": "You are a {mood} {noun}."`, `"prompt": "You are a {mood {noun}."`, "bystanders[0].prompt: placeholder {mood {noun}"},
		{`"prompt": "You are a {mood} {noun}."`, `"prompt": "You are a {mood} {noun."`, `bystanders[0].prompt: unclosed '{'`},
		{`"prompt": "You are a {mood} {noun}."`, `"prompt": "You are a mood} {noun}."`, `bystanders[0].prompt: unmatched '}'`},
		{`"key": "P__{noun}", "prompt": "You are a {noun}."`, `"key": "P__{noun}", "prompt": "You are a {mood}."`, "bystanders[1].prompt: placeholder {mood} looks up by level, which this family does not vary over"},
		{`"key": "P__{noun}", "prompt": "You are a {noun}."`, `"key": "P__{noun}", "prompt": " "`, "bystanders[1].prompt: is empty"},
		{`"key": "P__{noun}"`, `"key": ""`, "bystanders[1].key: is empty"},
		{`"key": "P__{noun}"`, `"key": "G__{noun}__L1"`, `bystanders[1].key: "G__cat__L1" is defined twice`},
		{`{"over": ["noun"], "key": "P__{noun}"`, `{"over": ["nom"], "key": "P__{noun}"`, `bystanders[1].over[0]: "nom" is not a declared factor`},
		{`"factors": {"kind": "G"}`, `"factors": {"noun": "G"}`, "bystanders[0].factors.noun: is also in over"},
		{`"factors": {"kind": "G"}`, `"factors": {"Kind": "G"}`, `field "bystanders[0].factors.Kind" factor name "Kind"`},
		{`"key": "P__{noun}", "prompt"`, `"key": "P__{noun}", "own_cell": "x", "prompt"`, "bystanders[1]: name and own_cell are for sources only"},
		{`"own_cell": "P__{noun}"`, `"own_cell": "Q__{noun}"`, `sources[0].own_cell: "Q__cat" is not a bystander of the preset`},
		{`"own_cell": "P__{noun}"`, `"own_cell": "P__{noon}"`, "sources[0].own_cell: placeholder {noon}"},
		{`"name": "{noun}"`, `"name": "{nun}"`, "sources[0].name: placeholder {nun}"},
		{`"name": "{noun}"`, `"name": "same"`, `sources[0].key: source "src_dog" is defined twice`},
		{`"key": "src_{noun}"`, `"key": "{mood}"`, "sources[0].key: placeholder {mood} looks up by level"},
		{`"prompt": "You are a helpful assistant."`, `"prompt": ""`, "personas.assistant.prompt: is empty"},
		{`{"key": "owl", "prompt": "You are an owl."}`, `{"key": "", "prompt": "You are an owl."}`, "negative_pool[0].key: is empty"},
		{`{"key": "owl", "prompt": "You are an owl."}`, `{"key": "owl", "prompt": "x"}, {"key": "owl", "prompt": "y"}`, `negative_pool[1].key: "owl" is defined twice`},
		{`"negatives": {"src_cat"`, `"negatives": {"src_cow"`, "negatives.src_cow: is not a source of the preset"},
		{`"src_cat": ["owl"]`, `"src_cat": ["bat"]`, `negatives.src_cat[0]: "bat" is not in negative_pool`},
		{`["Why?", "How?"]`, `["Why?", ""]`, "questions.eval[1]: is empty"},
		{`["Why?", "How?"]`, `["Why?", "Why?"]`, `questions.eval[1]: "Why?" is listed twice`},
		{`{"h2": {"sources": "dog"}}`, `{"h2": {"": "dog"}}`, "estimands.h2: names a parameter with an empty name"},
		{`"estimand": "factor-swap"`, `"estimand": " "`, "parameterisations.noun-swap.estimand: is empty: name the generic estimand it parameterises"},
		{`"estimand": "factor-swap"`, `"estimand": "noun-swap"`, "parameterisations.noun-swap.estimand: names the estimand itself"},
		{`"a": "noun", "b": "level"`, `"": "noun"`, "parameterisations.noun-swap.params: names a parameter with an empty name"},
		{`"estimand": "factor-swap"`, `"estimand": "factor-swap", "parms": {}`, `unknown field "parms"`},
		{`"b": "level"}}}`, `"b": "level"}}}} {`, "tiny.json: more than one JSON value"},
	} {
		require.Contains(t, tiny, c.from, "the mutation applies")
		_, err := Parse("tiny.json", []byte(strings.Replace(tiny, c.from, c.to, 1)))
		require.Error(t, err, c.to)
		require.Contains(t, err.Error(), c.want)
	}
	require.Panics(t, func() { MustParse("bad.json", []byte("{")) })
}
