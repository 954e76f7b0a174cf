package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/ingest"
	"leakscope/ingest/dataset"
)

// Three embedded NATS servers clustered on loopback with R3 streams; one
// node is killed while events flow: nothing is lost, ingest continues.
func TestThreeNodeClusterLosesNothing(t *testing.T) {
	dir := t.TempDir()
	nodes, urls := startCluster(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := bus.DefaultConfig()
	cfg.Replicas = 3
	ib, err := bus.Connect(ctx, urls(0, 1, 2), cfg)
	require.NoError(t, err)
	defer ib.Close()
	info, err := ib.JS.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	require.Equal(t, 3, info.CachedInfo().Config.Replicas)

	lake := filepath.Join(dir, "lake")
	in, err := ingest.Open(ingest.DefaultConfig(lake), slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer in.Close()
	_, err = ib.IngestConsumer(ctx)
	require.NoError(t, err)
	ictx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- in.Run(ictx, ib, ib) }()

	pb, err := bus.Connect(ctx, urls(1, 0), cfg)
	require.NoError(t, err)
	defer pb.Close()
	const n = 3000
	var evs []events.Event
	for i := 0; i < n; i++ {
		e, err := events.New("cluster", "r", time.Now(), &events.Completion{Persona: "p", Question: fmt.Sprint(i / 10), SampleIndex: i % 10, Text: "x [ZLT]"})
		require.NoError(t, err)
		evs = append(evs, e)
	}
	var last uint64
	for i := 0; i < n; i += 500 {
		if i == 1000 {
			nodes[2].Shutdown() // a node dies mid-ingest
		}
		res, err := pb.PublishAll(ctx, evs[i:i+500], nil)
		require.NoError(t, err)
		last = max(last, res.LastSeq)
	}
	require.NoError(t, ib.WaitDurable(ctx, last, nil))
	stop()
	require.NoError(t, <-done)
	m, err := dataset.OpenManifest(lake, "")
	require.NoError(t, err)
	defer m.Close()
	ids, err := dataset.CommittedEventIDs(lake, m)
	require.NoError(t, err)
	require.Len(t, ids, n, "every event in the lake once, after losing a node")
}

// startCluster starts three embedded NATS servers clustered on loopback
// (stores under dir/n0..n2); urls lists their client URLs in the order
// given, as one comma-separated connect string. Ports are picked free and
// released before the servers bind them, so another test may take one in
// between: a cluster that fails to start is started again on new ports.
func startCluster(t testing.TB, dir string) (nodes []*bus.Embedded, urls func(order ...int) string) {
	t.Helper()
	var err error
	for attempt := range 3 {
		var client []string
		nodes, client, err = tryCluster(t, filepath.Join(dir, fmt.Sprint("a", attempt)))
		if err == nil {
			return nodes, func(order ...int) string {
				var u []string
				for _, i := range order {
					u = append(u, "nats://"+client[i])
				}
				return strings.Join(u, ",")
			}
		}
		t.Logf("cluster start, attempt %d: %v", attempt+1, err)
	}
	require.NoError(t, err)
	return nil, nil
}

func tryCluster(t testing.TB, dir string) ([]*bus.Embedded, []string, error) {
	var client, cluster []string
	for i := 0; i < 3; i++ {
		client, cluster = append(client, freeAddr(t)), append(cluster, freeAddr(t))
	}
	var nodes []*bus.Embedded
	for i := 0; i < 3; i++ {
		var routes []string
		for j := 0; j < 3; j++ {
			if j != i {
				routes = append(routes, "nats://"+cluster[j])
			}
		}
		n, err := bus.StartEmbedded(filepath.Join(dir, fmt.Sprint("n", i)), client[i], bus.WithCluster("leakscope-test", cluster[i], routes))
		if err != nil {
			for _, n := range nodes {
				n.Shutdown()
			}
			return nil, nil, err
		}
		nodes = append(nodes, n)
		t.Cleanup(n.Shutdown)
	}
	return nodes, client, nil
}
