package web

import (
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events/marker"
)

// Each detector's spans are marked with its class, segments covered by
// several carry every class, and the text around them is escaped.
func TestHighlightMarksEachDetectorAndEscapes(t *testing.T) {
	text := `<b>x</b> [zlt] & [Z L T] [ZLT]`
	spans := map[string][]marker.Span{}
	for _, name := range marker.Names() {
		d, err := marker.Get(name)
		require.NoError(t, err)
		spans[name] = d.Spans("[ZLT]", text)
	}
	got := string(highlight(text, spans))
	require.Equal(t, `&lt;b&gt;x&lt;/b&gt; `+
		`<mark class="ls-hit ls-d-loose ls-d-strict" title="loose, strict">[zlt]</mark> &amp; `+
		`<mark class="ls-hit ls-d-loose" title="loose">[Z L T]</mark> `+
		`<mark class="ls-hit ls-d-case-sensitive ls-d-loose ls-d-strict" title="case-sensitive, loose, strict">[ZLT]</mark>`, got)
	require.Equal(t, "a &lt; b", string(highlight("a < b", nil)))
}

func TestLossSVGEmptyAndRoundTicks(t *testing.T) {
	require.Empty(t, lossSVG(nil))
	require.Equal(t, []float64{0, 0.5, 1, 1.5, 2, 2.5}, ticks(0, 2.5, 5))
}
