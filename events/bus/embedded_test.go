package bus

import (
	"net"
	"testing"

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
