// Package ingest is the durable JetStream consumer that writes every event
// to the Parquet lake: it pulls a batch, drops duplicates by event ID,
// writes one file per table and experiment, commits them to the manifest
// and only then acknowledges. Invalid events go to the dead-letter stream.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"leakscope/ingest/dataset"
)

// Config of one ingest process. Zero values take DefaultConfig's.
type Config struct {
	// Lake is the lake directory (DATA/lake).
	Lake string
	// Writer names this process among several ingest replicas sharing the
	// lake and the durable consumer (issue 10); each owns its lock,
	// manifest and files (dataset/writers.go). "" is the one-machine
	// default. Two processes must never run as one writer (Open refuses).
	Writer string
	// MaxBatchEvents flushes a batch at this many messages.
	MaxBatchEvents int
	// MaxBatchBytes flushes a batch at this many message bytes (it must
	// exceed the server's max payload, 8 MiB for the embedded server).
	// 0 asks for no byte bound: what a NATS cluster with replicated
	// consumers needs, where a pull with max_bytes answered "batch
	// completed" before its messages, which then waited out the AckWait
	// (nats-server 2.12, seen by TestScaleOutIngestMatchesOneProcess); the
	// batch is then bounded by MaxBatchEvents × the max payload.
	MaxBatchBytes int
	// MaxWait flushes a partial batch after this long without a full one,
	// so a slow trickle of live events still lands within MaxWait.
	MaxWait time.Duration
	// MaxIndexedIDs bounds the in-memory index of committed event IDs
	// (the newest batches'); ~100 bytes each. Beyond it, memory no longer
	// grows with the lake (see idIndex).
	MaxIndexedIDs int
	// Metrics receives ingest's Prometheus series (metrics.go); nil
	// registers none.
	Metrics prometheus.Registerer
	// Compact bounds the merging of the writer's small files that ingest
	// does while the stream is idle (compact.go; dataset.Compact).
	Compact dataset.CompactOptions
	// CompactEvery is how long ingest waits, after a compaction pass found
	// nothing to merge or failed, before it looks again; a pass that merged
	// something continues at the next idle moment. Negative: never compact;
	// 0: the default (30 s). A zero Compact.Budget is 2 s.
	CompactEvery time.Duration
}

// DefaultConfig returns sensible one-machine defaults.
func DefaultConfig(lake string) Config {
	compact := dataset.DefaultCompactOptions()
	compact.Budget = 2 * time.Second
	return Config{Lake: lake, MaxBatchEvents: 5000, MaxBatchBytes: 32 << 20, MaxWait: 500 * time.Millisecond, MaxIndexedIDs: 2_000_000,
		Compact: compact, CompactEvery: 30 * time.Second}
}

// Validate reports a config that cannot run.
func (c Config) Validate() error {
	switch {
	case c.Lake == "":
		return errors.New("ingest: lake directory is empty")
	case dataset.ValidWriter(c.Writer) != nil:
		return fmt.Errorf("ingest: %w", dataset.ValidWriter(c.Writer))
	case c.MaxBatchEvents < 1:
		return errors.New("ingest: MaxBatchEvents must be >= 1")
	case c.MaxBatchBytes < 0:
		return errors.New("ingest: MaxBatchBytes must be >= 0 (0: no byte bound)")
	case c.MaxWait <= 0:
		return errors.New("ingest: MaxWait must be > 0")
	case c.MaxIndexedIDs < c.MaxBatchEvents:
		return errors.New("ingest: MaxIndexedIDs must be >= MaxBatchEvents")
	}
	return nil
}

// retryDelay separates a failed commit from its retry.
const retryDelay = time.Second

// fetcher is the part of a jetstream.Consumer ingest uses.
type fetcher interface {
	Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error)
}

// Opener creates or binds ingest's durable consumer (events/bus.Bus). Ingest
// calls it again when the server no longer knows the consumer — a server
// restarted before it persisted the consumer — and the redelivered events
// already in the lake are dropped by ID.
type Opener interface {
	IngestConsumer(ctx context.Context) (jetstream.Consumer, error)
}

// deadLetterer stores rejected messages with their reason.
type deadLetterer interface {
	PublishDeadLetter(ctx context.Context, class, origSubject string, origSeq uint64, data []byte, reason string) error
}

// Ingester owns one lake: open it with Open, run it with Run.
type Ingester struct {
	cfg      Config
	log      *slog.Logger
	unlock   func()
	manifest *dataset.Manifest
	ids      *idIndex
	// markers maps "<experiment>/<run>" to the run's marker, for cell_counts.
	markers map[string]string
	// markersSeen is the other writers' manifest sizes at the last read of
	// their run markers (markers.go).
	markersSeen string
	// nextCompact is when an idle step may next look for files to merge.
	nextCompact time.Time
	stats       Stats
	metrics     *metrics
	// write is dataset.WriteFile; tests put a failing disk in its place.
	write func(lake, rel string, t dataset.Table, rows []dataset.Row) error

	hmu    sync.Mutex
	health Health
}

// Health says whether ingest is committing: Err is the last commit error
// (empty once a commit succeeds again), Since when the failing began.
type Health struct {
	OK         bool      `json:"ok"`
	Err        string    `json:"error,omitempty"`
	Since      time.Time `json:"failing_since,omitempty"`
	LastCommit time.Time `json:"last_commit,omitempty"`
	Batches    int       `json:"batches"`
}

// Health returns the current health.
func (in *Ingester) Health() Health {
	in.hmu.Lock()
	defer in.hmu.Unlock()
	h := in.health
	h.OK = h.Err == ""
	h.Batches = in.stats.Batches
	return h
}

func (in *Ingester) setHealth(err error) {
	in.hmu.Lock()
	defer in.hmu.Unlock()
	if err == nil {
		in.health.Err, in.health.Since = "", time.Time{}
		return
	}
	if in.health.Err == "" {
		in.health.Since = time.Now().UTC()
	}
	in.health.Err = err.Error()
}

// Stats counts what an ingester did since it opened.
type Stats struct {
	Batches, Events, Duplicates, DeadLetters, Files int
}

// Open locks the lake, reads its manifest, moves uncommitted files aside
// and loads the IDs of every committed event.
func Open(cfg Config, log *slog.Logger) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	def := DefaultConfig(cfg.Lake)
	if cfg.CompactEvery == 0 {
		cfg.CompactEvery = def.CompactEvery
	}
	if cfg.Compact.Budget == 0 {
		cfg.Compact.Budget = def.Compact.Budget // a pass must not hold up ingest
	}
	unlock, err := dataset.Lock(cfg.Lake, cfg.Writer)
	if err != nil {
		return nil, err
	}
	in := &Ingester{cfg: cfg, log: log, unlock: unlock, write: dataset.WriteFile, metrics: newMetrics(cfg.Metrics)}
	if in.manifest, err = dataset.OpenManifest(cfg.Lake, cfg.Writer); err != nil {
		unlock()
		return nil, err
	}
	if err := in.load(); err != nil {
		in.Close()
		return nil, err
	}
	log.Info("lake opened", "lake", cfg.Lake, "writer", cfg.Writer, "batches", len(in.manifest.Entries()), "indexed_ids", in.ids.len())
	return in, nil
}

// load brings the in-memory state up to the opened manifest: uncommitted
// files moved aside, run markers and the ID index read.
// Nothing changes on error.
func (in *Ingester) load() error {
	moved, err := dataset.Recover(in.cfg.Lake, in.manifest)
	if err != nil {
		return err
	}
	if len(moved) > 0 {
		in.log.Warn("moved uncommitted files aside; their events will be redelivered", "files", len(moved), "to", dataset.OrphanDir)
	}
	markers, err := dataset.RunMarkers(in.cfg.Lake)
	if err != nil {
		return fmt.Errorf("read run markers: %w", err)
	}
	ids, err := loadIDIndex(in.cfg.Lake, in.manifest, in.cfg.MaxIndexedIDs)
	if err != nil {
		return err
	}
	in.markers, in.ids = markers, ids
	return nil
}

// reopenIfInDoubt reads the lake again when a failed commit left the
// manifest in doubt (its line may have reached the disk): the manifest,
// the files it names and the ID index then agree again, so a redelivered
// batch that did commit is dropped as duplicates.
func (in *Ingester) reopenIfInDoubt() error {
	if in.manifest.Broken() == nil {
		return nil
	}
	// Until it all succeeds, the doubtful manifest stays: it takes no
	// commit, and the next failed step tries again.
	m, err := dataset.OpenManifest(in.cfg.Lake, in.cfg.Writer)
	if err != nil {
		return fmt.Errorf("reopen the manifest after a commit in doubt: %w", err)
	}
	old := in.manifest
	in.manifest = m
	if err := in.load(); err != nil {
		m.Close()
		in.manifest = old
		return fmt.Errorf("reopen the lake after a commit in doubt: %w", err)
	}
	old.Close()
	in.markersSeen = ""
	in.log.Warn("reopened the lake after a commit whose outcome was unknown", "batches", len(m.Entries()))
	return nil
}

// Close releases the manifest and the lake lock.
func (in *Ingester) Close() error {
	err := in.manifest.Close()
	in.unlock()
	return err
}

// Stats returns counters since Open.
func (in *Ingester) Stats() Stats { return in.stats }

// Run pulls and commits batches until ctx is cancelled; it returns nil on
// cancellation. A failed commit leaves its messages unacknowledged (they
// are redelivered) and is retried after a pause; a consumer the server has
// forgotten is opened again.
func (in *Ingester) Run(ctx context.Context, open Opener, dlq deadLetterer) error {
	var cons fetcher
	for ctx.Err() == nil {
		if cons == nil {
			c, err := open.IngestConsumer(ctx)
			if err != nil {
				in.setHealth(err)
				in.log.Error("open the ingest consumer; will retry", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(retryDelay):
				}
				continue
			}
			cons = c
		}
		if err := in.step(ctx, cons, dlq); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) || strings.Contains(err.Error(), "consumer not found") {
				cons = nil
			}
			in.log.Error("ingest batch failed; will retry", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(retryDelay):
			}
		}
	}
	return nil
}

// step fetches one batch and commits it.
func (in *Ingester) step(ctx context.Context, cons fetcher, dlq deadLetterer) error {
	opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(in.cfg.MaxWait)}
	if in.cfg.MaxBatchBytes > 0 {
		opts = append(opts, jetstream.FetchMaxBytes(in.cfg.MaxBatchBytes))
	}
	mb, err := cons.Fetch(in.cfg.MaxBatchEvents, opts...)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	var msgs []jetstream.Msg
	for m := range mb.Messages() {
		msgs = append(msgs, m)
	}
	if err := mb.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && len(msgs) == 0 {
		return fmt.Errorf("fetch: %w", err)
	}
	if len(msgs) == 0 {
		in.compactIdle(ctx)
		return nil
	}
	start := time.Now()
	if err := in.commit(ctx, msgs, dlq); err != nil {
		in.metrics.commitFailures.Inc()
		// Nothing of this batch is committed: ask for it again soon rather
		// than after the AckWait. Files it may have written are not in the
		// manifest; its event IDs were not recorded.
		for _, m := range msgs {
			_ = m.NakWithDelay(retryDelay)
		}
		if rerr := in.reopenIfInDoubt(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		in.setHealth(err)
		return err
	}
	in.metrics.commitSeconds.Observe(time.Since(start).Seconds())
	in.metrics.lastCommit.SetToCurrentTime()
	in.setHealth(nil)
	in.hmu.Lock()
	in.health.LastCommit = time.Now().UTC()
	in.hmu.Unlock()
	return nil
}
