package bus

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"leakscope/events"
)

func TestEmbeddedRefusesABusyAddressAtOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	_, err = StartEmbedded(t.TempDir(), l.Addr().String())
	require.ErrorContains(t, err, "--listen")
	_, err = StartEmbedded(t.TempDir(), "nonsense")
	require.ErrorContains(t, err, "listen address")
	e, err := StartEmbedded(t.TempDir(), "127.0.0.1:0")
	require.NoError(t, err, "port 0 picks a free port")
	require.NotEmpty(t, e.ClientURL())
	require.NotContains(t, e.ClientURL(), ":4222")
	e.Shutdown()
}

// A server that goes away while a caller waits for durability ends the wait
// with an error instead of leaving it hanging.
func TestWaitDurableGivesUpOnAVanishedServer(t *testing.T) {
	old := UnreachableAfter
	UnreachableAfter = time.Second
	defer func() { UnreachableAfter = old }()
	e, err := StartEmbedded(t.TempDir(), "127.0.0.1:0")
	require.NoError(t, err)
	b, err := Connect(context.Background(), e.ClientURL(), DefaultConfig())
	require.NoError(t, err)
	defer b.Close()
	_, err = b.IngestConsumer(context.Background())
	require.NoError(t, err)
	e.Shutdown()
	start := time.Now()
	err = b.WaitDurable(context.Background(), 1, nil)
	require.ErrorContains(t, err, "unreachable")
	require.Less(t, time.Since(start), 20*time.Second)
}

// A lone ingest resets a consumer with pending deliveries (their ingest
// died); ingest replicas sharing it (SharedIngest) must not, since the
// pending deliveries may be a live sibling's.
func TestSharedIngestConsumerIsNeverReset(t *testing.T) {
	ctx := context.Background()
	for _, shared := range []bool{true, false} {
		e, err := StartEmbedded(t.TempDir(), "127.0.0.1:0")
		require.NoError(t, err)
		defer e.Shutdown()
		cfg := DefaultConfig()
		cfg.SharedIngest = shared
		b, err := Connect(ctx, "", cfg, e.ConnectOption())
		require.NoError(t, err)
		c, err := b.IngestConsumer(ctx)
		require.NoError(t, err)
		ev, err := events.New("x", "r", time.Now(), &events.Completion{Persona: "p", Question: "q", SampleIndex: map[bool]int{true: 0, false: 1}[shared], Text: "t"})
		require.NoError(t, err)
		_, err = b.Publish(ctx, ev)
		require.NoError(t, err)
		mb, err := c.Fetch(1, jetstream.FetchMaxWait(time.Second))
		require.NoError(t, err)
		for range mb.Messages() { // taken, never acknowledged: a sibling's work in flight
		}
		_, err = b.IngestConsumer(ctx)
		require.NoError(t, err)
		info, err := c.Info(ctx)
		require.NoError(t, err)
		if shared {
			require.Equal(t, 1, info.NumAckPending, "the sibling's delivery stays with it")
		} else {
			require.Zero(t, info.NumAckPending, "reset: delivery restarts after the ack floor")
			require.Equal(t, jetstream.DeliverByStartSequencePolicy, info.Config.DeliverPolicy)
		}
		b.Close()
	}
}

// An unnamed ingest and named writers never consume one bus together.
func TestIngestModesDoNotMix(t *testing.T) {
	e, err := StartEmbedded(t.TempDir(), "127.0.0.1:0")
	require.NoError(t, err)
	defer e.Shutdown()
	ctx := context.Background()
	connect := func(shared bool) *Bus {
		cfg := DefaultConfig()
		cfg.SharedIngest = shared
		b, err := Connect(ctx, "", cfg, e.ConnectOption())
		require.NoError(t, err)
		t.Cleanup(b.Close)
		return b
	}
	single, shared := connect(false), connect(true)
	c, err := single.IngestConsumer(ctx)
	require.NoError(t, err)
	ev, err := events.New("x", "r", time.Now(), &events.Completion{Persona: "p", Question: "q", Text: "t"})
	require.NoError(t, err)
	_, err = single.Publish(ctx, ev)
	require.NoError(t, err)
	mb, err := c.Fetch(1, jetstream.FetchMaxWait(time.Second))
	require.NoError(t, err)
	var held jetstream.Msg
	for m := range mb.Messages() {
		held = m // in flight at the unnamed ingest
	}
	_, err = shared.IngestConsumer(ctx)
	require.ErrorIs(t, err, ErrIngestMode)
	require.ErrorContains(t, err, "stop it before starting named writers")
	require.NoError(t, held.Ack())
	require.Eventually(t, func() bool { i, _ := c.Info(ctx); return i.NumAckPending == 0 }, 5*time.Second, 10*time.Millisecond)
	sc, err := shared.IngestConsumer(ctx)
	require.NoError(t, err, "an idle unnamed ingest's consumer becomes the writers'")
	require.Equal(t, "shared", sc.CachedInfo().Config.Metadata[ingestModeKey])
	_, err = single.IngestConsumer(ctx)
	require.ErrorIs(t, err, ErrIngestMode)
	require.ErrorContains(t, err, "--writer NAME")
}

// Acknowledgements lost in bulk (a cluster electing a new stream leader)
// cost PublishAll one stall per window, not one per message: a fake
// stream ignores every message's first delivery and acknowledges its
// repeat.
func TestPublishAllRepublishesAWindowOfLostAcks(t *testing.T) {
	old := asyncAckWait
	asyncAckWait = 300 * time.Millisecond
	defer func() { asyncAckWait = old }()
	e, err := StartEmbedded(t.TempDir(), "127.0.0.1:0")
	require.NoError(t, err)
	defer e.Shutdown()
	nc, err := nats.Connect(e.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	seen := map[string]bool{}
	var seq uint64
	sub, err := nc.Subscribe(events.SubjectAll, func(m *nats.Msg) {
		id := m.Header.Get(jetstream.MsgIDHeader)
		if !seen[id] {
			seen[id] = true // the acknowledgement of the first delivery is lost
			return
		}
		seq++
		require.NoError(t, m.Respond(fmt.Appendf(nil, `{"stream":"fake","seq":%d}`, seq)))
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()

	var evs []events.Event
	for i := range 2500 {
		ev, err := events.New("x", "r", time.Now(), &events.Completion{Persona: "p", Question: "q", SampleIndex: i, Text: "t"})
		require.NoError(t, err)
		evs = append(evs, ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := &Bus{NC: nc, JS: js}
	res, err := b.PublishAll(ctx, evs, nil)
	require.NoError(t, err, "one stall per window of 1,024, not 2,500 stalls of %v", asyncAckWait)
	require.Equal(t, 2500, res.Published)
	require.Equal(t, uint64(2500), res.LastSeq)
}
