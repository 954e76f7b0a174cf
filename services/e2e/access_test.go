package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/ingest"
)

// The compose NATS configuration (deploy/nats.conf), run embedded: a worker
// may publish events but neither read subjects nor submit jobs; ingest and
// admin work with their own users.
func TestNATSPermissions(t *testing.T) {
	for _, u := range []string{"ADMIN", "INGEST", "WORKER", "QUERY"} {
		t.Setenv("LEAKSCOPE_"+u+"_PASSWORD", "pw-"+strings.ToLower(u))
	}
	opts, err := server.ProcessConfigFile(filepath.Join("..", "..", "deploy", "nats.conf"))
	require.NoError(t, err)
	addr := freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	opts.Host = host
	opts.Port, _ = strconv.Atoi(port)
	opts.StoreDir, opts.NoSigs = t.TempDir(), true
	require.True(t, opts.SyncAlways, "the deployment fsyncs every write")
	srv, err := server.NewServer(opts)
	require.NoError(t, err)
	go srv.Start()
	require.True(t, srv.ReadyForConnections(10*time.Second))
	defer srv.Shutdown()
	url := func(user string) string { return "nats://" + user + ":pw-" + user + "@" + addr }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	admin, err := bus.Connect(ctx, url("admin"), bus.DefaultConfig())
	require.NoError(t, err, "admin declares the streams")
	defer admin.Close()
	s := startStackOn(t, url("ingest"))
	defer s.stop()

	var mu sync.Mutex
	var asyncErrs []string
	worker, err := bus.Connect(ctx, url("worker"), bus.DefaultConfig(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		asyncErrs = append(asyncErrs, err.Error())
		mu.Unlock()
	}))
	require.NoError(t, err, "a worker connects to streams it may not declare")
	defer worker.Close()
	e, err := events.New("acl", "r", time.Now(), &events.Completion{Persona: "p", Question: "q", Text: "x [ZLT]"})
	require.NoError(t, err)
	ack, err := worker.Publish(ctx, e)
	require.NoError(t, err, "a worker publishes events")
	require.NoError(t, worker.WaitDurable(ctx, ack.Sequence, nil), "and sees them made durable by ingest")

	_, err = worker.NC.Subscribe(events.SubjectAll, func(*nats.Msg) {})
	require.NoError(t, err)
	require.NoError(t, worker.NC.Publish("leakscope.jobs.submit", []byte("{}")))
	require.NoError(t, worker.NC.Publish("leakscope.ev.acl.stop_decision", []byte("{}")))
	_ = worker.NC.Flush()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		j := strings.Join(asyncErrs, "\n")
		return strings.Contains(j, `Subscription to "leakscope.ev.>"`) && strings.Contains(j, `Publish to "leakscope.jobs.submit"`) &&
			strings.Contains(j, `Publish to "leakscope.ev.acl.stop_decision"`)
	}, 5*time.Second, 20*time.Millisecond, "all refused: %v", asyncErrs)

	// The query service (the live aggregator) publishes stop decisions.
	query, err := bus.Connect(ctx, url("query"), bus.DefaultConfig())
	require.NoError(t, err)
	defer query.Close()
	d, err := events.New("acl", "r", time.Now(), &events.StopDecision{Round: 2, Cells: []events.CellDecision{{Persona: "p", N: 40, CIHigh: 0.09, Stop: true, Reason: events.StopHalfWidth}}})
	require.NoError(t, err)
	_, err = query.Publish(ctx, d)
	require.NoError(t, err, "the query user publishes stop decisions")
	// Denied JetStream API calls get no answer: bound them.
	short, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	err = worker.Subscribe(short, func(events.Event, uint64) {})
	require.Error(t, err, "a worker cannot read the event stream through JetStream either")
	short3, cancel3 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel3()
	_, err = worker.JS.CreateOrUpdateStream(short3, jetstreamStreamConfig("LEAKSCOPE_JOBS", "leakscope.jobs.>"))
	require.Error(t, err, "nor declare streams")
}

// startStackOn runs ingest against an external server URL (with its user).
func startStackOn(t *testing.T, url string) *stack {
	t.Helper()
	b, err := bus.Connect(context.Background(), url, bus.DefaultConfig())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	s := &stack{Bus: b, Lake: filepath.Join(t.TempDir(), "lake")}
	ing, err := ingest.Open(ingest.DefaultConfig(s.Lake), slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s.ing, s.cancel = ing, cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = ing.Run(ctx, b, b) }()
	return s
}

func jetstreamStreamConfig(name, subject string) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage}
}
