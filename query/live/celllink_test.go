package live

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/query/web"
)

// A click on a cell of the live heatmap opens that cell's completions:
// the web app's samples page. It pointed at /cells, which no handler
// serves (404).
func TestCellClickOpensTheSamplesPage(t *testing.T) {
	m := regexp.MustCompile(`'(/[a-z]+)\?experiment='`).FindStringSubmatch(pageHTML)
	require.NotNil(t, m, "the page's cell link")
	require.Contains(t, web.Routes, m[1])
}
