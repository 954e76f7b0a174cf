package e2e

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/events/bus/bustest"
	"leakscope/events/eventstest"
	"leakscope/gpuworker/importer"
	"leakscope/ingest"
	"leakscope/query"
)

func fixturesDir(t testing.TB) string { return eventstest.FixturesDir(t) }

// stack is a real JetStream server, ingest and a query engine over one data dir.
type stack struct {
	Bus    *bus.Bus
	Lake   string
	ing    *ingest.Ingester
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startStack(t testing.TB, data string) *stack {
	t.Helper()
	return startStackWith(t, data, nil)
}

// startStackWith is startStack with ingest's configuration changed by
// configure (may be nil) and the server's options.
func startStackWith(t testing.TB, data string, configure func(*ingest.Config), opts ...bus.EmbeddedOption) *stack {
	t.Helper()
	b, _ := bustest.Start(t, filepath.Join(data, "jetstream"), opts...)
	s := &stack{Bus: b, Lake: filepath.Join(data, "lake")}
	cfg := ingest.DefaultConfig(s.Lake)
	if configure != nil {
		configure(&cfg)
	}
	ing, err := ingest.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	_, err = b.IngestConsumer(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s.ing, s.cancel = ing, cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = ing.Run(ctx, b, b) }()
	t.Cleanup(s.stop)
	return s
}

func (s *stack) stop() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
		s.ing.Close()
		s.cancel = nil
	}
}

// importPaths parses, publishes and waits until ingest committed everything.
func (s *stack) importPaths(t testing.TB, root string, paths ...string) bus.PublishResult {
	t.Helper()
	plan, err := importer.Parse(root, paths, importer.Options{Now: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := s.Bus.PublishAll(ctx, plan.Events, nil)
	require.NoError(t, err)
	require.NoError(t, s.Bus.WaitDurable(ctx, res.LastSeq, nil))
	return res
}

// publish publishes events and waits until ingest committed them.
func (s *stack) publish(t testing.TB, evs []events.Event) {
	t.Helper()
	ctx := context.Background()
	res, err := s.Bus.PublishAll(ctx, evs, nil)
	require.NoError(t, err)
	require.NoError(t, s.Bus.WaitDurable(ctx, res.LastSeq, nil))
}

// summariesMatchTexts asserts that the experiment's matrix came from the
// cell_counts summaries and equals the one from scanning every text; it
// returns the completions and hits counted.
func summariesMatchTexts(t testing.TB, e *query.Engine, experiment string) (n, hits int64) {
	t.Helper()
	ctx := context.Background()
	fast, err := e.Leakage(ctx, query.LeakageRequest{Experiment: experiment})
	require.NoError(t, err)
	scan, err := e.Leakage(ctx, query.LeakageRequest{Experiment: experiment, ScanTexts: true})
	require.NoError(t, err)
	require.Equal(t, query.CountedFromSummaries, fast.CountedFrom)
	require.Equal(t, scan.Cells, fast.Cells)
	for _, c := range fast.Cells {
		n, hits = n+*c.Total, hits+*c.Found
	}
	return n, hits
}

func openEngine(t testing.TB, lake string) *query.Engine {
	t.Helper()
	e, err := query.Open(lake)
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

var (
	fixtureOnce sync.Once
	fixtureLake string
)

// importedFixtures imports ../shared/fixtures once per test binary and
// returns the lake; tests only read it.
func importedFixtures(t *testing.T) string {
	dir := fixturesDir(t)
	fixtureOnce.Do(func() {
		data, err := os.MkdirTemp("", "leakscope-e2e-")
		require.NoError(t, err)
		s := startStack(t, data)
		s.importPaths(t, dir, dir)
		s.stop()
		fixtureLake = s.Lake
	})
	require.NotEmpty(t, fixtureLake, "fixture import failed in an earlier test")
	return fixtureLake
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureLake != "" {
		os.RemoveAll(filepath.Dir(fixtureLake))
	}
	os.Exit(code)
}
