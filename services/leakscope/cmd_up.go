package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"leakscope/events/bus"
	"leakscope/ingest"
	"leakscope/query"
	"leakscope/query/api"
	"leakscope/query/live"
	"leakscope/services/internal/livesrv"
	"leakscope/services/internal/querysrv"
)

// compactEveryFlag adds --compact-every (ingest's idle compaction) to a
// command that runs ingest; the returned func gives stackOpts' value.
func compactEveryFlag(cmd *cobra.Command) func() time.Duration {
	every := ingest.DefaultConfig("").CompactEvery
	cmd.Flags().DurationVar(&every, "compact-every", every, "while the stream is idle, ingest merges the lake's small files (see leakscope compact --help); after a look that found nothing it waits this long (0: never compact)")
	return func() time.Duration {
		if every <= 0 {
			return -1
		}
		return every
	}
}

func newUpCmd(g *globals) *cobra.Command {
	var listen, httpAddr string
	var allowedHosts []string
	var compactEvery func() time.Duration
	withIngest := true
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the one-machine stack: embedded NATS JetStream + ingest + query HTTP server",
		Long: `up runs everything one machine needs in one process until Ctrl-C:
  - an embedded NATS server with JetStream (file store under DATA/jetstream),
    listening on --listen so GPU workers and imports can publish to it
    (with --nats-url: no embedded server; that server is used instead);
  - ingest, writing every event to the Parquet lake under DATA/lake, and
    merging the lake's small files while the stream is idle (--compact-every);
  - the query HTTP server on --http:
      GET /api/leakage?experiment=E[&detector=strict&marker=…&run=…]
      GET /api/runs[?experiment=E]
      GET /api/analyze                 (the estimands)  GET /api/analyze/NAME?experiment=E&param=value
      GET /api/sql?q=SELECT…  or  POST /api/sql with the statement as the raw body
      GET /healthz
  - the live view of sweeps in progress, from the bus: /live/SWEEP (page),
    /live/SWEEP/events (Server-Sent Events), /live/SWEEP/state (JSON).
While up runs, 'leakscope import' on the same --data publishes to it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := startStack(ctx, g, stackOpts{listen: listen, withIngest: withIngest, compactEvery: compactEvery()})
			if err != nil {
				return err
			}
			defer st.Close()
			if st.emb != nil && st.emb.ClientURL() != "" {
				if err := os.WriteFile(g.urlFile(), []byte(st.emb.ClientURL()+"\n"), 0o644); err != nil {
					return fmt.Errorf("write %s: %w", g.urlFile(), err)
				}
				defer os.Remove(g.urlFile())
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "bus:    %s\nlake:   %s\n", st.Describe, g.lake())
			agg := livesrv.Start(ctx, st.Bus, cmd.ErrOrStderr())
			return serveHTTP(ctx, g, httpAddr, allowedHosts, cmd, agg, st.ing, querysrv.WithArtifacts(querysrv.SealedArtifacts(st.Bus)))
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:4222", "address the embedded NATS server listens on")
	cmd.Flags().BoolVar(&withIngest, "ingest", true, "run ingest in this process (false: run `leakscope ingest --nats-url` separately)")
	cmd.Flags().StringVar(&httpAddr, "http", "127.0.0.1:8080", "address of the query HTTP server")
	allowedHostsFlag(cmd, &allowedHosts)
	compactEvery = compactEveryFlag(cmd)
	return cmd
}

func newIngestCmd(g *globals) *cobra.Command {
	var compactEvery func() time.Duration
	cmd := &cobra.Command{
		Use:   "ingest --nats-url URL",
		Short: "Run only ingest: the durable consumer that writes events to the lake",
		Long: `ingest consumes the events stream of an external NATS JetStream server and
writes every event to the lake under --data (one ingest per lake; a second is
refused), merging the lake's small files while the stream is idle
(--compact-every). It is the ingest service of compose.yaml; on one machine,
up runs it.

Example:
  leakscope --data /srv/leakscope --nats-url nats://nats:4222 ingest`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.natsURL == "" {
				return errors.New("ingest alone needs --nats-url (use `leakscope up` for the embedded server)")
			}
			st, err := startStack(cmd.Context(), g, stackOpts{withIngest: true, compactEvery: compactEvery()})
			if err != nil {
				return err
			}
			defer st.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "ingest: %s → %s\n", st.Describe, g.lake())
			<-cmd.Context().Done()
			return nil
		},
	}
	compactEvery = compactEveryFlag(cmd)
	return cmd
}

// allowedHostsFlag adds --allowed-hosts to a command that serves HTTP.
func allowedHostsFlag(cmd *cobra.Command, hosts *[]string) {
	cmd.Flags().StringSliceVar(hosts, "allowed-hosts", nil, "host names the HTTP server answers to besides IP addresses, localhost and the --http host (others are refused: DNS rebinding)")
}

func newServeCmd(g *globals) *cobra.Command {
	var httpAddr string
	var allowedHosts []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run only the query HTTP server over the lake",
		Long: `serve answers GET /api/leakage?experiment=E, /api/runs, GET|POST /api/sql and
/healthz over the lake under --data, read-only (each request at most 60 s). It is
the query service of compose.yaml; on one machine, up runs it. With --nats-url it
also serves the live view (/live/SWEEP) from that server's event stream.

Example:
  leakscope --data /srv/leakscope --nats-url nats://nats:4222 serve --http 0.0.0.0:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.natsURL == "" {
				return serveHTTP(cmd.Context(), g, httpAddr, allowedHosts, cmd, nil, nil)
			}
			b, err := bus.Connect(cmd.Context(), g.natsURL, bus.DefaultConfig())
			if err != nil {
				return err
			}
			defer b.Close()
			agg := livesrv.Start(cmd.Context(), b, cmd.ErrOrStderr())
			return serveHTTP(cmd.Context(), g, httpAddr, allowedHosts, cmd, agg, nil, querysrv.WithArtifacts(querysrv.SealedArtifacts(b)))
		},
	}
	cmd.Flags().StringVar(&httpAddr, "http", "127.0.0.1:8080", "listen address")
	allowedHostsFlag(cmd, &allowedHosts)
	return cmd
}

// serveHTTP serves the query API, the live view when agg is not nil, and
// ingest's health on /healthz when ing is not nil (503 while commits fail),
// behind api.Guard (Host and cross-origin checks), until ctx ends.
func serveHTTP(ctx context.Context, g *globals, addr string, allowedHosts []string, cmd *cobra.Command, agg *live.Aggregator, ing *ingest.Ingester, opts ...querysrv.Option) error {
	h, err := startHTTP(g, addr, allowedHosts, agg, ing, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "query:  %s/ lists the endpoints: /api/leakage, /api/runs, /api/analyze, /api/sql, /figures/, /healthz\n", h.Base)
	if agg != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "live:   %s/live/SWEEP (Ctrl-C stops)\n", h.Base)
	}
	if len(opts) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "artifacts: %s/artifacts/NAME (sealed adapters and on-policy data, linked from run pages)\n", h.Base)
	}
	select {
	case err := <-h.errc:
		h.e.Close()
		return fmt.Errorf("query HTTP server: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "stopping: HTTP server, ingest (finishing its batch), NATS")
	return h.Stop()
}

// httpServer is a running query HTTP server.
type httpServer struct {
	Base string // http://HOST:PORT
	srv  *http.Server
	e    *query.Engine
	errc chan error
}

// startHTTP listens on addr and serves the query API (see serveHTTP) in
// the background; Stop shuts it down.
func startHTTP(g *globals, addr string, allowedHosts []string, agg *live.Aggregator, ing *ingest.Ingester, opts ...querysrv.Option) (*httpServer, error) {
	e, err := query.Open(g.lake())
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("query HTTP server cannot listen on %s: %w (choose another address with --http)", addr, err)
	}
	mux := querysrv.Mux(e, agg, opts...)
	if ing != nil {
		mux.Handle("GET /healthz", querysrv.IngestHealth(ing.Health, g.data))
	}
	h := &httpServer{Base: "http://" + ln.Addr().String(), srv: &http.Server{Handler: api.Guard(mux, addr, allowedHosts), ReadHeaderTimeout: 10 * time.Second}, e: e, errc: make(chan error, 1)}
	go func() { h.errc <- h.srv.Serve(ln) }()
	return h, nil
}

// Stop shuts the server down (waiting at most 5 s for requests in flight)
// and closes its query engine.
func (h *httpServer) Stop() error {
	defer h.e.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return h.srv.Shutdown(sctx)
}
