package bus

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Embedded is an in-process NATS server with JetStream, storing under a
// data directory: leakscope's one-machine default.
type Embedded struct {
	Server *server.Server
}

// EmbeddedOption tunes the embedded server.
type EmbeddedOption func(*server.Options) error

// WithSync chooses when JetStream fsyncs its store: "always" (every write:
// an acknowledged event survives power loss) or "interval" (the server's
// default, every 2 minutes: a power loss may lose the last two minutes of
// acknowledged events; a process crash loses nothing, the OS keeps the
// writes). leakscope's default is "always".
func WithSync(mode string) EmbeddedOption {
	return func(o *server.Options) error {
		switch mode {
		case "always":
			o.SyncAlways = true
		case "interval":
			o.SyncAlways = false
		default:
			return fmt.Errorf("sync %q: want always or interval", mode)
		}
		return nil
	}
}

// WithCluster joins the server to a cluster: name, the address it listens
// on for routes ("host:port") and the routes of the other members.
func WithCluster(name, listen string, routes []string) EmbeddedOption {
	return func(o *server.Options) error {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return fmt.Errorf("cluster address %q: %w", listen, err)
		}
		o.Cluster.Name, o.Cluster.Host = name, host
		if o.Cluster.Port, err = strconv.Atoi(port); err != nil {
			return fmt.Errorf("cluster port %q: %w", port, err)
		}
		if l, err := net.Listen("tcp", listen); err != nil {
			// Fail now with the address, not after the server's start timeout.
			return fmt.Errorf("embedded NATS cannot listen for routes on %s: %w", listen, err)
		} else {
			l.Close()
		}
		o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		o.ServerName = "leakscope-" + listen
		return nil
	}
}

// StartEmbedded starts the server with its JetStream file store in
// storeDir. listen is "host:port" to accept other processes (workers,
// imports), or "" to accept in-process connections only.
func StartEmbedded(storeDir, listen string, options ...EmbeddedOption) (*Embedded, error) {
	opts := &server.Options{
		ServerName: "leakscope-embedded", JetStream: true, StoreDir: storeDir,
		NoSigs: true, MaxPayload: 8 << 20, SyncAlways: true,
	}
	for _, o := range options {
		if err := o(opts); err != nil {
			return nil, err
		}
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
