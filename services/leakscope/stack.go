package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"leakscope/events/bus"
	"leakscope/gpuworker/jobs"
	"leakscope/ingest"
	"leakscope/ingest/dataset"
)

// stack is a bus connection, optionally with the embedded server and an
// in-process ingest that this process owns.
type stack struct {
	Bus      *bus.Bus
	emb      *bus.Embedded
	ing      *ingest.Ingester
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	ingErr   error
	Describe string
}

type stackOpts struct {
	listen     string // embedded server listen address ("" = in-process only)
	withIngest bool   // run ingest in this process
	reuseUp    bool   // connect to a running `leakscope up` on the same data dir if there is one
	// compactEvery is ingest's Config.CompactEvery (0: its default; < 0: off).
	compactEvery time.Duration
}

// startStack connects to --nats-url, or to a running `leakscope up` on the
// same data directory, or starts the embedded server.
func startStack(ctx context.Context, g *globals, o stackOpts) (*stack, error) {
	log := g.logger()
	s := &stack{}
	url := g.natsURL
	if url == "" && o.reuseUp {
		if u, ok := runningUp(g); ok {
			if bb, err := bus.Connect(ctx, u, bus.DefaultConfig()); err == nil {
				s.Bus, s.Describe = bb, "the running `leakscope up` at "+u+" (its ingest writes the lake)"
				return s, nil
			}
		}
	}
	var err error
	if url != "" {
		if s.Bus, err = bus.Connect(ctx, url, bus.DefaultConfig()); err != nil {
			return nil, err
		}
		s.Describe = "NATS at " + bus.Redact(url)
	} else {
		if s.emb, err = bus.StartEmbedded(g.jetstream(), o.listen, bus.WithSync(g.sync)); err != nil {
			return nil, err
		}
		if s.Bus, err = bus.Connect(ctx, "", bus.DefaultConfig(), s.emb.ConnectOption()); err != nil {
			s.emb.Shutdown()
			return nil, err
		}
		s.Describe = "embedded NATS JetStream (store " + g.jetstream() + ")"
		if u := s.emb.ClientURL(); u != "" {
			s.Describe += " listening on " + u
		}
	}
	if o.withIngest {
		if err := s.startIngest(ctx, g, log, o); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *stack) startIngest(ctx context.Context, g *globals, log *slog.Logger, o stackOpts) error {
	cfg := ingest.DefaultConfig(g.lake())
	if o.compactEvery != 0 {
		cfg.CompactEvery = o.compactEvery
	}
	ing, err := ingest.Open(cfg, log)
	if errors.Is(err, dataset.ErrLocked) {
		return fmt.Errorf("%w: another leakscope process (up, ingest or import) is writing this data directory; wait for it or stop it (an up started with --nats-url URL: run this command with the same --nats-url)", err)
	}
	if err != nil {
		return fmt.Errorf("open lake: %w", err)
	}
	if _, err := s.Bus.IngestConsumer(ctx); err != nil { // fail fast on a server that refuses
		ing.Close()
		return err
	}
	s.ing = ing
	ictx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	// Ingest's side records the job states workers report (jobs.KeepStates).
	if err := jobs.KeepStates(ictx, s.Bus); err != nil {
		cancel()
		ing.Close()
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.ingErr = ing.Run(ictx, s.Bus, s.Bus)
	}()
	return nil
}

// runningUp returns the address of a `leakscope up` serving this data
// directory. The url file alone is not proof (a killed up leaves it behind,
// and another up may now own its port): the lake's writer lock must be held.
func runningUp(g *globals) (string, bool) {
	b, err := os.ReadFile(g.urlFile())
	if err != nil {
		return "", false
	}
	unlock, err := dataset.Lock(g.lake(), "")
	if err == nil { // nobody writes this lake: the file is stale
		unlock()
		os.Remove(g.urlFile())
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// WaitDurable waits until ingest has committed everything up to seq.
func (s *stack) WaitDurable(ctx context.Context, seq uint64, progress func(uint64)) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	return s.Bus.WaitDurable(ctx, seq, progress)
}

// Close stops ingest, the connection and the embedded server, in that order.
func (s *stack) Close() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
		s.ing.Close()
	}
	if s.Bus != nil {
		s.Bus.Close()
	}
	if s.emb != nil {
		s.emb.Shutdown()
	}
}
