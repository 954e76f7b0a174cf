package events

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// encoding/json stores invalid UTF-8 and lone surrogates as U+FFFD; Decode
// must refuse them instead, naming the field (issue 18, item 7).
func TestDecodeRefusesTextJSONWouldChange(t *testing.T) {
	good, err := New("exp", "run", t0, &Completion{Persona: "p", Question: "q", Text: "héllo 😀"})
	require.NoError(t, err)
	b, err := Encode(good)
	require.NoError(t, err)
	_, err = Decode(b)
	require.NoError(t, err, "valid UTF-8 and a surrogate pair are fine")
	pair := strings.Replace(string(b), `"text":"héllo 😀"`, `"text":"héllo \ud83d\ude00"`, 1)
	require.NotEqual(t, string(b), pair)
	e, err := Decode([]byte(pair))
	require.NoError(t, err, "an escaped surrogate pair is one character")
	require.Equal(t, "héllo 😀", e.Payload.(*Completion).Text)

	for _, c := range []struct{ body, field, why string }{
		{strings.Replace(string(b), "héllo", "h\xffllo", 1), "payload.text", "not UTF-8"},
		{strings.Replace(string(b), `"persona":"p"`, "\"persona\":\"p\xc3\"", 1), "payload.persona", "not UTF-8"},
		{strings.Replace(string(b), "héllo", `h\ud800llo`, 1), "payload.text", `lone UTF-16 surrogate escape (\ud800)`},
		{strings.Replace(string(b), "héllo", `h\uDC00llo`, 1), "payload.text", "lone UTF-16 surrogate"},
		{strings.Replace(string(b), `"run_id":"run"`, "\"run_id\":\"run\",\"x\xff\":1", 1), "x\ufffd", "not UTF-8"}, // the key as JSON reads it
	} {
		require.NotEqual(t, string(b), c.body)
		_, err := Decode([]byte(c.body))
		require.ErrorIs(t, err, ErrInvalid, c.body)
		var fe *FieldError
		require.ErrorAs(t, err, &fe)
		require.Equal(t, c.field, fe.Field)
		require.Contains(t, fe.Reason, c.why)
	}
}

func TestBadTextOffset(t *testing.T) {
	for _, c := range []struct {
		doc string
		off int
	}{
		{`{"a":"ok \u00e9 \ud83d\ude00"}`, -1},
		{`{"a":"\\ud800"}`, -1}, // an escaped backslash, then plain text
		{`{"a":"x\ud800"}`, 7},
		{`{"a":"\ud83d"}`, 6},
		{`{"a":"\ud83d\u0041"}`, 6},
		{"{\"a\":\"\xe2\x82\"}", 6},
		{`{"a":"\ud83d\ude00","b":"\udc00"}`, 25},
	} {
		off, _ := BadTextOffset([]byte(c.doc))
		require.Equal(t, c.off, off, c.doc)
	}
}

// DecodeMessage is what every bus consumer uses: an event on another
// event's subject is invalid for all of them.
func TestDecodeMessageChecksTheSubject(t *testing.T) {
	good, err := New("exp", "run", t0, &Completion{Persona: "p", Question: "q", Text: "x"})
	require.NoError(t, err)
	b, err := Encode(good)
	require.NoError(t, err)
	e, err := DecodeMessage(Subject(good), b)
	require.NoError(t, err)
	require.Equal(t, good.ID, e.ID)
	_, err = DecodeMessage(SubjectPrefix+".exp.stop_decision", b)
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, `subject "leakscope.ev.exp.stop_decision" does not match the event`)
}
