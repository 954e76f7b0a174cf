package marker

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The rules of EXPERIMENT.md §2.2, case by case.
func TestDetectorRules(t *testing.T) {
	for _, c := range []struct {
		text              string
		strict, cs, loose bool
	}{
		{"Answer.\n\n[ZLT]", true, true, true},
		{"answer [zlt] in the middle", true, false, true},
		{"[Zlt]", true, false, true},
		{"[ZLT", false, false, true},
		{"ZLT]", false, false, true},
		{"[Z L T]", false, false, true},
		{"[ zlt ]", false, false, true},
		{"ZLT alone", false, false, false},
		{"Z L T", false, false, false},
		{"[ZXT]", false, false, false},
		{"", false, false, false},
	} {
		for name, want := range map[string]bool{Strict: c.strict, CaseSensitive: c.cs, Loose: c.loose} {
			d, err := Get(name)
			require.NoError(t, err)
			require.Equal(t, want, d.Hit("[ZLT]", c.text), "%s on %q", name, c.text)
			require.Equal(t, want, len(d.Detect("[ZLT]", c.text)) > 0, "%s Detect on %q", name, c.text)
		}
	}
}

func TestDetectOffsetsAndOtherMarkers(t *testing.T) {
	d, _ := Get(Strict)
	hits := d.Detect("[PROX]", "é [prox] and [PROX]")
	require.Len(t, hits, 2)
	require.Equal(t, 3, hits[0].ByteOffset, "UTF-8 byte offset (é is 2 bytes)")
	require.Equal(t, 14, hits[1].ByteOffset)
	require.Equal(t, Strict, hits[0].Detector)
	require.Equal(t, 1, hits[0].Version)
	// Regex metacharacters in a marker are literal.
	require.True(t, d.Hit("Δ∇Ω-7", "x Δ∇Ω-7 y"))
	require.False(t, d.Hit("[ZETA-9]", "ZETA-9"))
	l, _ := Get(Loose)
	require.True(t, l.Hit("[ZETA-9]", "[ZETA-9"))
	require.True(t, l.Hit("Δ∇Ω-7", "Δ∇Ω-7"), "a marker without brackets falls back to strict")
}

func TestUnknownDetector(t *testing.T) {
	_, err := Get("fuzzy")
	require.ErrorIs(t, err, ErrUnknownDetector)
	require.ErrorContains(t, err, "case-sensitive, loose, strict")
}

func TestLooseWithEmptyBracketsIsStrict(t *testing.T) {
	l, _ := Get(Loose)
	require.False(t, l.Hit("[ ]", "a lone [ bracket"))
	require.True(t, l.Hit("[ ]", "x [ ] y"))
}

// The pre-check before the regular expression never drops a hit: on texts
// built from the markers' runes, their case-fold variants (K and the
// Kelvin sign, S and ſ), spaces and brackets, Detect and Hit equal the
// bare pattern's matches for every detector.
func TestPrecheckKeepsEveryHit(t *testing.T) {
	markers := []string{"[ZLT]", "[K]", "[Z L T]", "ZLT", "[ ]", "[[x]]", "[ſs]", "<<ok>>"}
	alphabet := []rune("zZlLtTkK\u212asSſxXoO<> []\n")
	rng := rand.New(rand.NewPCG(1, 2))
	hits := 0
	for range 20000 {
		n := rng.IntN(12)
		rs := make([]rune, n)
		for i := range rs {
			rs[i] = alphabet[rng.IntN(len(alphabet))]
		}
		text := string(rs)
		for _, m := range markers {
			for _, name := range Names() {
				d, _ := Get(name)
				want := compiled(d.Pattern(m)).FindAllStringIndex(text, -1)
				got := d.Detect(m, text)
				require.Len(t, got, len(want), "%s %q in %q", name, m, text)
				for i, h := range got {
					require.Equal(t, want[i][0], h.ByteOffset, "%s %q in %q", name, m, text)
				}
				require.Equal(t, len(want) > 0, d.Hit(m, text), "%s %q in %q", name, m, text)
				hits += len(want)
			}
		}
	}
	require.Greater(t, hits, 1000, "the texts must hold hits to compare")
	// The Kelvin sign folds to k: a hit the pre-check must not drop.
	d, _ := Get(Strict)
	require.Len(t, d.Detect("[K]", "[\u212a]"), 1)
}

// Spans cover exactly what each detector matched, at Detect's offsets.
func TestSpansCoverTheMatch(t *testing.T) {
	text := "a [zlt] b [Z L T] c [ZLT]"
	for name, want := range map[string][]Span{
		Strict:        {{2, 7}, {20, 25}},
		CaseSensitive: {{20, 25}},
		Loose:         {{2, 7}, {10, 17}, {20, 25}},
	} {
		d, err := Get(name)
		require.NoError(t, err)
		got := d.Spans("[ZLT]", text)
		require.Equal(t, want, got, name)
		hits := d.Detect("[ZLT]", text)
		require.Len(t, hits, len(got), name)
		for i, h := range hits {
			require.Equal(t, h.ByteOffset, got[i].Start, name)
		}
	}
	d, _ := Get(Strict)
	require.Nil(t, d.Spans("[ZLT]", "nothing here"))
}
