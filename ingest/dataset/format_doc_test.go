package dataset

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ColumnsMarkdown renders the column tables of FORMAT.md from the schemas.
func columnsMarkdown() string {
	var b strings.Builder
	for _, t := range Tables {
		fmt.Fprintf(&b, "### `%s`\n\n%s. Row key (keep one row per key, the first by `stream_seq`): `%s`, `%s`.\n\n| column | type | null | meaning |\n|---|---|---|---|\n",
			t.Name, t.Doc, PartitionColumn, strings.Join(t.Key, "`, `"))
		for _, c := range t.Columns {
			null := ""
			if c.Nullable {
				null = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.Name, c.Type, null, c.Doc)
		}
		if len(t.Dropped) > 0 {
			b.WriteString("\nFiles written before may also hold these columns, no longer written; a reader folds each non-empty one into the named JSON column, under the column's name, where the object lacks that key (the views do):\n\n| dropped column | type | folded into | meaning |\n|---|---|---|---|\n")
			for _, d := range t.Dropped {
				fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", d.Name, d.Type, d.Into, d.Doc)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

const (
	beginMark = "<!-- columns:begin (generated: LEAKSCOPE_UPDATE_FORMAT=1 go test ./ingest/dataset -run TestFormatDoc) -->\n"
	endMark   = "<!-- columns:end -->"
)

// FORMAT.md must describe the schemas the code writes.
func TestFormatDocMatchesSchemas(t *testing.T) {
	doc, err := os.ReadFile("FORMAT.md")
	require.NoError(t, err)
	s := string(doc)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	require.True(t, i >= 0 && j > i, "FORMAT.md lacks the generated column section")
	want := s[:i+len(beginMark)] + columnsMarkdown() + s[j:]
	if os.Getenv("LEAKSCOPE_UPDATE_FORMAT") == "1" {
		require.NoError(t, os.WriteFile("FORMAT.md", []byte(want), 0o644))
		return
	}
	require.True(t, want == s, "FORMAT.md is out of date: run LEAKSCOPE_UPDATE_FORMAT=1 go test ./ingest/dataset -run TestFormatDoc")
}
