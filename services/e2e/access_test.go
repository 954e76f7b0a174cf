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
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/jobs"
	"leakscope/gpuworker/replay"
	"leakscope/ingest"
	"leakscope/query"
	"leakscope/services/internal/livesrv"
)

// deployedStack starts a NATS server with deploy/nats.conf's users, the
// admin's connection (which declares the streams) and the stack as the
// ingest user, all ended when the test ends; url gives a user's URL.
func deployedStack(t *testing.T, timeout time.Duration) (context.Context, func(user string) string, *bus.Bus, *stack) {
	t.Helper()
	url := startDeployServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	admin, err := bus.Connect(ctx, url("admin"), bus.DefaultConfig())
	require.NoError(t, err, "admin declares the streams")
	t.Cleanup(admin.Close)
	s := startStackOn(t, url("ingest"))
	t.Cleanup(s.stop)
	return ctx, url, admin, s
}

// The compose NATS configuration (deploy/nats.conf), run embedded: a worker
// may publish events but neither subscribe to subjects, submit jobs, forge
// stop decisions nor touch ingest's consumer; ingest and admin work with
// their own users.
func TestNATSPermissions(t *testing.T) {
	ctx, url, admin, s := deployedStack(t, time.Minute)

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
	require.Error(t, worker.JS.DeleteConsumer(short, bus.EventsStream, bus.IngestConsumer), "a worker cannot remove ingest's consumer")
	short4, cancel4 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel4()
	require.Error(t, query.JS.DeleteConsumer(short4, bus.EventsStream, bus.IngestConsumer), "nor can the query service")
	// Nor reconfigure it through the unnamed create subject (found by an
	// attack review: a filter matching nothing silenced ingest), nor pull
	// from it (each stolen message would wait out the AckWait).
	reconf := `{"stream_name":"LEAKSCOPE_EVENTS","config":{"name":"ingest","ack_policy":"explicit","filter_subject":"leakscope.ev.nothing"}}`
	for _, c := range []*bus.Bus{query, worker} {
		_, err = c.NC.Request("$JS.API.CONSUMER.CREATE.LEAKSCOPE_EVENTS", []byte(reconf), time.Second)
		require.Error(t, err)
		_, err = c.NC.Request("$JS.API.CONSUMER.MSG.NEXT.LEAKSCOPE_EVENTS.ingest", []byte(`{"batch":10}`), time.Second)
		require.Error(t, err)
	}
	info, err := admin.JS.Consumer(ctx, bus.EventsStream, bus.IngestConsumer)
	require.NoError(t, err)
	require.Equal(t, events.SubjectAll, info.CachedInfo().Config.FilterSubject, "ingest's consumer unchanged")
	require.Zero(t, info.CachedInfo().NumAckPending)
	// The ingest user declares and consumes, and can delete no stream.
	short5, cancel5 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel5()
	require.Error(t, s.Bus.JS.DeleteStream(short5, bus.EventsStream), "ingest cannot delete the source of truth")
	short3, cancel3 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel3()
	_, err = worker.JS.CreateOrUpdateStream(short3, jetstreamStreamConfig("LEAKSCOPE_JOBS", "leakscope.jobs.>"))
	require.Error(t, err, "nor declare streams")
}

// startDeployServer runs the deployment's NATS configuration
// (deploy/nats.conf with deploy/accounts.conf) embedded, on a free port,
// with a password per user; url gives a user's connect URL.
func startDeployServer(t *testing.T) (url func(user string) string) {
	t.Helper()
	for _, u := range []string{"ADMIN", "INGEST", "WORKER", "QUERY"} {
		t.Setenv("LEAKSCOPE_"+u+"_PASSWORD", "pw-"+strings.ToLower(u))
	}
	opts, err := server.ProcessConfigFile(filepath.Join("..", "..", "deploy", "nats.conf"))
	require.NoError(t, err)
	addr := freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	opts.Host = host
	opts.Port, _ = strconv.Atoi(port)
	opts.HTTPPort = 0 // no monitoring port in tests
	opts.StoreDir, opts.NoSigs = t.TempDir(), true
	require.True(t, opts.SyncAlways, "the deployment fsyncs every write")
	srv, err := server.NewServer(opts)
	require.NoError(t, err)
	go srv.Start()
	require.True(t, srv.ReadyForConnections(10*time.Second))
	t.Cleanup(srv.Shutdown)
	return func(user string) string { return "nats://" + user + ":pw-" + user + "@" + addr }
}

// startStackOn runs ingest against an external server URL (with its user),
// with the job-state keeper as leakscope-ingest runs it.
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
	// as leakscope-ingest does: record the job states workers report
	require.NoError(t, jobs.KeepStates(ctx, b))
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = ing.Run(ctx, b, b) }()
	return s
}

func jetstreamStreamConfig(name, subject string) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage}
}

// A whole sweep with the deployment's users: admin submits, a replay
// worker with the worker user takes every job (queue, job states,
// artifacts, its run's stored completions), ingest writes the lake with
// the ingest user. Any permission the worker lacks fails a job or shows
// as a refused publish.
func TestSweepRunsWithTheDeploymentUsers(t *testing.T) {
	ctx, url, admin, s := deployedStack(t, 2*time.Minute)
	aq, err := jobs.Open(ctx, admin, 1)
	require.NoError(t, err)
	spec := scaleoutSpec(t)
	qb, err := bus.Connect(ctx, url("query"), bus.DefaultConfig())
	require.NoError(t, err)
	defer qb.Close()
	agg := livesrv.Start(ctx, qb, io.Discard) // the live view, as the query user
	_, err = aq.Submit(ctx, spec)
	require.NoError(t, err)

	var mu sync.Mutex
	var refused []string
	wb, err := bus.Connect(ctx, url("worker"), bus.DefaultConfig(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		refused = append(refused, err.Error())
		mu.Unlock()
	}))
	require.NoError(t, err)
	defer wb.Close()
	wq, err := jobs.Open(ctx, wb, 1)
	require.NoError(t, err, "a worker opens the queue the submitter declared")
	log := &strings.Builder{}
	var lmu sync.Mutex
	w := &jobs.Worker{Queue: wq, Name: "w", WorkDir: t.TempDir(), AckWait: 30 * time.Second, Heartbeat: time.Second,
		Log: writerFunc(func(p []byte) (int, error) { lmu.Lock(); defer lmu.Unlock(); return log.Write(p) }),
		NewEngine: func(ctx context.Context) (engine.Engine, engine.Info, error) {
			e := &replay.Engine{Marker: "[ZLT]", Rates: scaleoutRates}
			info, err := e.Hello(ctx)
			return e, info, err
		}}
	require.NoError(t, w.Run(ctx, true))
	st, err := aq.Status(ctx, spec)
	require.NoError(t, err)
	for _, j := range st {
		lmu.Lock()
		require.Equal(t, "finished", j.Status, "%s: %s\n%s", j.Job.ID, j.Error, log.String())
		lmu.Unlock()
	}
	mu.Lock()
	require.Empty(t, refused, "no permission was refused")
	mu.Unlock()

	require.Eventually(t, func() bool { return agg.Snapshot("scaleout").Done == 2000 }, 30*time.Second, 50*time.Millisecond,
		"the query user follows the stream: %+v", agg.Snapshot("scaleout").Done)
	last, err := admin.JS.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	require.NoError(t, admin.WaitDurable(ctx, last.CachedInfo().State.LastSeq, nil))
	l, err := openEngine(t, s.Lake).Leakage(ctx, query.LeakageRequest{Experiment: "scaleout", IncludeBase: true})
	require.NoError(t, err)
	got := cellCounts(l)
	require.Len(t, got, 10)
	for k, c := range got {
		require.EqualValues(t, 200, c[1], k)
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// compose.yaml's cluster nodes read deploy/nats-cluster.conf: it must parse
// with the same users, name the three routes, and fsync every write.
func TestClusterConfigParses(t *testing.T) {
	for _, u := range []string{"ADMIN", "INGEST", "WORKER", "QUERY"} {
		t.Setenv("LEAKSCOPE_"+u+"_PASSWORD", "pw")
	}
	t.Setenv("NATS_SERVER_NAME", "nats-2")
	opts, err := server.ProcessConfigFile(filepath.Join("..", "..", "deploy", "nats-cluster.conf"))
	require.NoError(t, err)
	require.Equal(t, "nats-2", opts.ServerName)
	require.Equal(t, "leakscope", opts.Cluster.Name)
	require.Len(t, opts.Routes, 3)
	require.True(t, opts.SyncAlways)
	require.True(t, opts.JetStream)
	var users []string
	for _, u := range opts.Users {
		users = append(users, u.Username)
	}
	require.ElementsMatch(t, []string{"admin", "ingest", "worker", "query"}, users)
}
