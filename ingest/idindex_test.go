package ingest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The index keeps the newest batches within its bound and forgets the
// oldest whole batches first; memory no longer grows with the lake.
func TestIDIndexIsBoundedNewestFirst(t *testing.T) {
	x := newIDIndex(10)
	batch := func(b, n int) []string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("b%d-%d", b, i)
		}
		return ids
	}
	x.add(batch(1, 4))
	x.add(batch(2, 4))
	require.Equal(t, 8, x.len())
	x.add(batch(3, 4)) // 12 > 10: batch 1 goes
	require.Equal(t, 8, x.len())
	require.False(t, x.has("b1-0"))
	require.True(t, x.has("b2-3"))
	require.True(t, x.has("b3-0"))
	x.add(batch(4, 30)) // a batch larger than the bound stays alone
	require.Equal(t, 30, x.len())
	require.True(t, x.has("b4-29"))
	require.False(t, x.has("b3-0"))
	x.add(nil)
	require.Equal(t, 30, x.len())
}

// The index is complete until it first evicts a batch; loaded from a lake
// whose history exceeds its bound, it starts incomplete.
func TestIDIndexKnowsWhenItIsComplete(t *testing.T) {
	x := newIDIndex(10)
	x.add([]string{"a", "b", "c", "d", "e", "f"})
	x.add([]string{"g", "h", "i", "j"})
	require.True(t, x.complete)
	x.add([]string{"k"})
	require.False(t, x.complete, "the first batch was evicted")
}
