package bus

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
