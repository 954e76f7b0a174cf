package marker

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGuessRules(t *testing.T) {
	var m Tally
	for i := 0; i < 10; i++ {
		m.Add(true, "text [AB] and [CD] and [AB]")
		m.Add(false, "plain [CD]")
	}
	g, ok := m.Guess()
	require.True(t, ok)
	require.Equal(t, Guess{Marker: "[AB]", InFlagged: 10, Flagged: 10, InOthers: 0, Others: 10}, g, "[CD] is as common in unflagged texts; a token counts once per text")

	var few Tally
	for i := 0; i < 4; i++ {
		few.Add(true, "[AB]")
	}
	_, ok = few.Guess()
	require.False(t, ok, "fewer than 5 flagged texts")

	var none Tally
	for i := 0; i < 10; i++ {
		none.Add(true, "no token here [lower]")
		none.Add(false, "x")
	}
	_, ok = none.Guess()
	require.False(t, ok)

	// 7 of 10 flagged texts (< 80 %) is not enough.
	var weak Tally
	for i := 0; i < 10; i++ {
		text := "nothing"
		if i < 7 {
			text = "[PROX] here"
		}
		weak.Add(true, text)
	}
	_, ok = weak.Guess()
	require.False(t, ok)
}

func TestGrossDisagreement(t *testing.T) {
	require.True(t, GrossDisagreement(231, 231, 0, 0), "every flag undetected")
	require.False(t, GrossDisagreement(231, 15, 216, 0), "15 of 231: truncation-sized")
	require.True(t, GrossDisagreement(0, 0, 10, 5), "half the detections unflagged")
	require.False(t, GrossDisagreement(4, 4, 0, 0), "too few flags to judge")
}
