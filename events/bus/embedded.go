package bus

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Embedded is an in-process NATS server with JetStream, storing under a
// data directory: leakscope's one-machine default.
type Embedded struct {
	Server *server.Server
}

// StartEmbedded starts the server with its JetStream file store in
// storeDir. listen is "host:port" to accept other processes (workers,
// imports), or "" to accept in-process connections only.
func StartEmbedded(storeDir, listen string) (*Embedded, error) {
	opts := &server.Options{
		ServerName: "leakscope-embedded", JetStream: true, StoreDir: storeDir,
		NoSigs: true, MaxPayload: 8 << 20,
	}
	if listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("listen address %q: %w", listen, err)
		}
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("listen port %q: %w", port, err)
		}
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT
		} else if l, err := net.Listen("tcp", listen); err != nil {
			// Fail now with the address, not after the server's start timeout.
			return nil, fmt.Errorf("embedded NATS cannot listen on %s: %w (is another NATS server or leakscope up running? choose another address with --listen)", listen, err)
		} else {
			l.Close()
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure embedded NATS: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not start within 30s (store %s)", storeDir)
	}
	return &Embedded{Server: s}, nil
}

// ConnectOption connects a client in-process, whatever the listen address.
func (e *Embedded) ConnectOption() nats.Option { return nats.InProcessServer(e.Server) }

// ClientURL is the address other processes use ("" when not listening).
func (e *Embedded) ClientURL() string {
	if e.Server.Addr() == nil {
		return ""
	}
	return e.Server.ClientURL()
}

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.Server.Shutdown()
	e.Server.WaitForShutdown()
}
