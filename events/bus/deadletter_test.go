package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

func startBus(t *testing.T) *Bus {
	t.Helper()
	e, err := StartEmbedded(t.TempDir(), "")
	require.NoError(t, err)
	t.Cleanup(e.Shutdown)
	b, err := Connect(context.Background(), "", DefaultConfig(), e.ConnectOption())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// A dead letter fits the max payload whatever it carries: a body of the
// max payload and a reason of megabytes (a reason may quote the rejected
// value) with line breaks that would end a header.
func TestDeadLetterAlwaysFits(t *testing.T) {
	b := startBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	limit := int(b.MaxPayload())
	body := []byte(strings.Repeat("y", limit))
	reason := "field \"experiment\" \"" + strings.Repeat("é", 2<<20) + "\"\r\nX-Injected: 1"
	require.NoError(t, b.PublishDeadLetter(ctx, "invalid", "leakscope.ev.x.completion", 7, body, reason))
	small := []byte("tiny")
	require.NoError(t, b.PublishDeadLetter(ctx, "invalid", "leakscope.ev.x.completion", 8, small, "short"))

	s, err := b.JS.Stream(ctx, DeadLetterStream)
	require.NoError(t, err)
	m, err := s.GetMsg(ctx, 1)
	require.NoError(t, err)
	r := m.Header.Get(HeaderReason)
	require.LessOrEqual(t, len(r), MaxReasonHeader)
	require.True(t, strings.HasPrefix(r, `field "experiment" "éé`), r[:40])
	require.Contains(t, r, "(cut; the full reason is in the dead_letters table)")
	require.Empty(t, m.Header.Get("X-Injected"), "a line break in the reason cannot add a header")
	kept, err := strconv.Atoi(m.Header.Get(HeaderRawTruncated))
	require.NoError(t, err)
	require.Len(t, m.Data, kept)
	require.Equal(t, strconv.Itoa(limit), m.Header.Get(HeaderRawSize))

	m, err = s.GetMsg(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, "short", m.Header.Get(HeaderReason))
	require.Equal(t, small, m.Data)
	require.Empty(t, m.Header.Get(HeaderRawTruncated), "said only when cut")
	require.Equal(t, "4", m.Header.Get(HeaderRawSize))
	sum := sha256.Sum256(small)
	require.Equal(t, hex.EncodeToString(sum[:]), m.Header.Get(HeaderRawSHA256))
}

// The live view reads the bus through Subscribe: it must skip what ingest
// dead-letters (here: an event on another experiment's subject, and text
// that is not UTF-8), or it counts completions the lake never stores.
func TestSubscribeSkipsWhatIngestDeadLetters(t *testing.T) {
	b := startBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	good, err := events.New("x", "r", time.Now(), &events.Completion{Persona: "p", Question: "q", Text: "fine"})
	require.NoError(t, err)
	body, err := events.Encode(good)
	require.NoError(t, err)
	_, err = b.JS.Publish(ctx, events.SubjectPrefix+".other.completion", body)
	require.NoError(t, err)
	bad, err := events.New("x", "r", time.Now(), &events.Completion{Persona: "p", Question: "q", SampleIndex: 1, Text: "bad"})
	require.NoError(t, err)
	badBody, err := events.Encode(bad)
	require.NoError(t, err)
	_, err = b.JS.Publish(ctx, events.Subject(bad), []byte(strings.Replace(string(badBody), `"text":"bad"`, "\"text\":\"b\xffd\"", 1)))
	require.NoError(t, err)
	ack, err := b.Publish(ctx, good)
	require.NoError(t, err)

	got := make(chan uint64, 10)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = b.Subscribe(sctx, func(e events.Event, seq uint64) { got <- seq }) }()
	select {
	case seq := <-got:
		require.Equal(t, ack.Sequence, seq, "the first event delivered is the valid one, on its own subject")
	case <-ctx.Done():
		t.Fatal("nothing delivered")
	}
	select {
	case seq := <-got:
		t.Fatalf("seq %d delivered too", seq)
	case <-time.After(200 * time.Millisecond):
	}
}
