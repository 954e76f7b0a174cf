package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// serveLines runs the sidecar (no server: requests before init) over the
// given input and returns its answers.
func serveLines(t *testing.T, in string) []map[string]any {
	t.Helper()
	var out bytes.Buffer
	s := &sidecar{g: &globals{}, batch: 512, out: json.NewEncoder(&out)}
	require.NoError(t, s.serve(context.Background(), strings.NewReader(in)))
	var answers []map[string]any
	dec := json.NewDecoder(&out)
	for dec.More() {
		var a map[string]any
		require.NoError(t, dec.Decode(&a))
		answers = append(answers, a)
	}
	return answers
}

// Review attack: a request line over the limit (a 70 MB completion) made
// the sidecar exit ("bufio.Scanner: token too long"), so the script could
// neither log on nor finish its run. It is now answered, naming the
// request, and the next line is served.
func TestSidecarAnswersAnOverlongLineAndGoesOn(t *testing.T) {
	old := maxRequestLine
	maxRequestLine = 1 << 10
	defer func() { maxRequestLine = old }()
	long := `{"op":"completion","persona":"p","question":"q","sample_index":0,"text":"` + strings.Repeat("x", 3000) + `"}`
	answers := serveLines(t, long+"\n"+`{"op":"flush"}`+"\n"+long) // the last line has no newline
	require.Len(t, answers, 3)
	require.Equal(t, false, answers[0]["ok"])
	require.Equal(t, "request", answers[0]["field"])
	require.Contains(t, answers[0]["error"], fmt.Sprintf("the request line is %d bytes, over the 1024-byte limit of one request", len(long)))
	require.Equal(t, float64(1), answers[0]["line"])
	require.Equal(t, "op", answers[1]["field"], "the next request is served")
	require.Equal(t, `"flush" before init`, answers[1]["error"])
	require.Equal(t, "request", answers[2]["field"])
	require.Contains(t, answers[2]["error"], fmt.Sprintf("the request line is %d bytes,", len(long)))
}

// Review attack: a wrong JSON type was answered with Go's words and a Go
// struct path as the field ("sidecarCompletion.persona", "json: cannot
// unmarshal number into Go struct field …"); items of a batch were not
// indexed. The field is now the protocol's, with the index.
func TestSidecarNamesTheFieldOfAWrongType(t *testing.T) {
	answers := serveLines(t, strings.Join([]string{
		`{"op":"completion","persona":3,"question":"q","sample_index":0,"text":"t"}`,
		`{"op":"completions","items":[{"persona":"p","question":"q","sample_index":0,"text":"t"},{"persona":"p","question":"q","sample_index":"1","text":"t"}]}`,
		`{"op":"completions","items":[{"persona":"p","question":"q","sample_index":0,"text":"t","colour":"red"}]}`,
		`{"op":"init","experiment":"e","marker":"[ZLT]","seed":1180591620717411303424}`,
		`{"op":"completions","items":"nope"}`,
		`[1,2]`,
	}, "\n"))
	require.Len(t, answers, 6)
	want := []struct{ field, err string }{
		{"persona", "is a JSON number, want a string"},
		{"items[1].sample_index", "is a JSON string, want an integer (64-bit)"},
		{"items[0].colour", "is not a field of any request"},
		{"seed", "is a JSON number 1180591620717411303424, want an integer (64-bit)"},
		{"items", "is a JSON string, want a list"},
		{"request", "is a JSON array, want an object"},
	}
	for i, w := range want {
		require.Equal(t, false, answers[i]["ok"], i)
		require.Equal(t, w.field, answers[i]["field"], i)
		require.Equal(t, w.err, answers[i]["error"], i)
	}
}
