package figures

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"leakscope/events"
	"leakscope/ingest/dataset/datasettest"
	"leakscope/query"
)

// Attack: a persona name (any printable text in an event) holding
// </script>. The chart's options are JSON inside a <script> element,
// written without HTML escaping, so the name closed the element and the
// rest ran as markup (<img onerror>): stored XSS on the figure page. The
// page keeps every script element whole.
func TestFigurePageKeepsScriptsWhole(t *testing.T) {
	lake := t.TempDir()
	store := (&datasettest.Lake{T: t, Dir: lake, Experiment: "exp1", Run: "run1", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}).Store
	evil := `p</script><img src=x onerror=alert(1)><!--<script>`
	store(&events.Run{SourcePersona: "src", Model: "m", Marker: "[ZLT]"})
	for i := range 3 {
		store(&events.Completion{Persona: evil, Question: "q", SampleIndex: i, Text: "a [ZLT]"})
	}
	e, err := query.Open(lake)
	require.NoError(t, err)
	defer e.Close()
	page, err := (&Builder{Engine: e, Experiment: "exp1"}).Page(context.Background(), "heatmap", "")
	require.NoError(t, err)
	// As a browser parses it: the elements, and the text of each script.
	var tags, scripts []string
	z := html.NewTokenizer(bytes.NewReader(page))
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		tok := z.Token()
		switch {
		case tt == html.StartTagToken:
			tags = append(tags, tok.Data)
		case tt == html.TextToken && len(tags) > 0 && tags[len(tags)-1] == "script" && strings.TrimSpace(tok.Data) != "":
			scripts = append(scripts, tok.Data)
		}
	}
	require.NotContains(t, tags, "img", "the name made an element")
	var charts []string // the chart's script; the page's own scripts (fitScript) hold no data
	for _, s := range scripts {
		if strings.Contains(s, "echarts.init") {
			charts = append(charts, s)
		}
	}
	require.Len(t, charts, 1, "the chart's script, whole")
	require.Contains(t, charts[0], `"p<\/script><img src=x onerror=alert(1)><\!--<script>"`, "the name is kept, as JavaScript text")
}
