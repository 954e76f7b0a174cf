package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/gpuworker/importer"
	"leakscope/gpuworker/replay"
	"leakscope/gpuworker/runner"
	"leakscope/query"
	"leakscope/query/live"
)

// directedRuns returns the completions of directed_trait_transfer's
// asst_near and pirate_near runs: the two-run sweep of these tests.
func directedRuns(t *testing.T) map[string][]events.Completion {
	dir := filepath.Join(fixturesDir(t), "directed_trait_transfer")
	out := map[string][]events.Completion{}
	for run, file := range map[string]string{"asst_near": "asst_near_marker/arm_a_completions.json", "pirate_near": "pirate_near_marker/arm_a_completions.json"} {
		plan, err := importer.Parse("", []string{filepath.Join(dir, file)}, importer.Options{})
		require.NoError(t, err)
		for _, e := range plan.Events {
			if c, ok := e.Payload.(*events.Completion); ok {
				out[run] = append(out[run], *c)
			}
		}
		require.Len(t, out[run], 2475)
	}
	return out
}

type testPublisher struct{ s *stack }

func (p testPublisher) Publish(ctx context.Context, e events.Event) (uint64, error) {
	ack, err := p.s.Bus.Publish(ctx, e)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// requireLiveEqualsLake checks every live cell against the leakage matrix
// the query service computes from the lake.
func requireLiveEqualsLake(t *testing.T, snap live.Snapshot, lake, experiment string) {
	t.Helper()
	lk, err := openEngine(t, lake).Leakage(context.Background(), query.LeakageRequest{Experiment: experiment})
	require.NoError(t, err)
	want := map[[2]string][2]int64{}
	for _, c := range lk.Cells {
		want[[2]string{c.RunID, c.Persona}] = [2]int64{*c.Found, *c.Total}
	}
	require.Len(t, snap.Cells, len(want))
	for _, c := range snap.Cells {
		w, ok := want[[2]string{c.RunID, c.Persona}]
		require.True(t, ok, "%s/%s not in the lake", c.RunID, c.Persona)
		require.Equal(t, w, [2]int64{int64(c.Hits), int64(c.N)}, "%s/%s", c.RunID, c.Persona)
	}
}

// Two real runs replayed as one sweep: the live counts only grow, and end
// equal to the lake's, cell by cell.
func TestLiveReplayMatchesLake(t *testing.T) {
	runs := directedRuns(t)
	s := startStack(t, t.TempDir())
	agg := live.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = agg.Run(ctx, s.Bus) }()

	var wg sync.WaitGroup
	seqs := make(chan uint64, 2)
	for run, comps := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := runner.Start(ctx, runner.Config{Experiment: "livetest", RunID: run, Worker: "w-" + run, Heartbeat: 200 * time.Millisecond},
				testPublisher{s}, &events.Run{Marker: "[ZLT]", Sweep: "two", Plan: replay.Plan(comps)})
			if !assertNoErr(t, err) {
				return
			}
			_, err = replay.Run(ctx, r, comps, replay.Options{Rate: 2000})
			assertNoErr(t, err)
			assertNoErr(t, r.Finish(ctx, nil))
			seqs <- r.LastSeq()
		}()
	}
	prev := map[[2]string]int{}
	prevDone, samples := 0, 0
	for done := false; !done; {
		snap := agg.Snapshot("two")
		for _, c := range snap.Cells {
			k := [2]string{c.RunID, c.Persona}
			require.GreaterOrEqual(t, c.N, prev[k], "cell %v shrank", k)
			prev[k] = c.N
		}
		require.GreaterOrEqual(t, snap.Done, prevDone)
		prevDone = snap.Done
		samples++
		done = snap.Known && snap.Finished
		time.Sleep(25 * time.Millisecond)
	}
	wg.Wait()
	close(seqs)
	for seq := range seqs {
		require.NoError(t, s.Bus.WaitDurable(ctx, seq, nil))
	}
	require.Greater(t, samples, 10, "the counts were watched while they grew")
	snap := agg.Snapshot("two")
	require.Equal(t, 4950, snap.Done)
	require.Equal(t, 4950, snap.Expected)
	requireLiveEqualsLake(t, snap, s.Lake, "livetest")

	// A restarted aggregator rebuilds the same state from the stream.
	again := live.New()
	go func() { _ = again.Run(ctx, s.Bus) }()
	require.Eventually(t, func() bool { return again.Snapshot("two").Finished }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, snap.Cells, again.Snapshot("two").Cells)
}

func assertNoErr(t *testing.T, err error) bool {
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// startUp runs `leakscope up` on data (global: flags before `up`, e.g.
// "--sync", "interval") and returns its HTTP address.
func startUp(t testing.TB, data string, global ...string) string {
	httpAddr := freeAddr(t)
	args := append(append([]string{"--data", data}, global...), "up", "--listen", freeAddr(t), "--http", httpAddr)
	up := exec.Command(leakscopeBin(t), args...)
	require.NoError(t, up.Start())
	t.Cleanup(func() { _ = up.Process.Signal(syscall.SIGTERM); _ = up.Wait() })
	require.Eventually(t, func() bool {
		r, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		_, ferr := os.Stat(filepath.Join(data, "nats.url"))
		return err == nil && ferr == nil
	}, 30*time.Second, 20*time.Millisecond)
	return httpAddr
}

func liveState(t *testing.T, httpAddr, sweep string) live.Snapshot {
	t.Helper()
	r, err := http.Get("http://" + httpAddr + "/live/" + sweep + "/state")
	require.NoError(t, err)
	defer r.Body.Close()
	var s live.Snapshot
	require.NoError(t, json.NewDecoder(r.Body).Decode(&s))
	return s
}

func workerCmd(t *testing.T, data, sweep, run, file string, rate int) *exec.Cmd {
	return exec.Command(leakscopeBin(t), "--data", data, "worker", "--engine", "replay", "--from", file, "--experiment", sweep,
		"--as-run", run, "--rate", strconv.Itoa(rate), "--heartbeat", "300ms")
}

// Killing the worker mid-replay raises the stall warning within twice the
// heartbeat interval; restarting it with the same run name completes the
// run without double counting.
func TestLiveStallAndResume(t *testing.T) {
	file := filepath.Join(fixturesDir(t), "directed_trait_transfer", "asst_near_marker", "arm_a_completions.json")
	data := t.TempDir()
	httpAddr := startUp(t, data)
	w := workerCmd(t, data, "stall", "asst_near", file, 400)
	require.NoError(t, w.Start())
	require.Eventually(t, func() bool { return liveState(t, httpAddr, "stall").Done > 300 }, time.Minute, 20*time.Millisecond)
	require.NoError(t, w.Process.Kill())
	killed := time.Now()
	_ = w.Wait()
	require.Eventually(t, func() bool {
		s := liveState(t, httpAddr, "stall")
		return len(s.Workers) == 1 && s.Workers[0].Stalled
	}, 5*time.Second, 10*time.Millisecond)
	require.Less(t, time.Since(killed), 600*time.Millisecond, "warning within 2 × the 300 ms heartbeat")
	before := liveState(t, httpAddr, "stall").Done

	out, err := workerCmd(t, data, "stall", "asst_near", file, 0).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Eventually(t, func() bool { return liveState(t, httpAddr, "stall").Finished }, 30*time.Second, 20*time.Millisecond)
	s := liveState(t, httpAddr, "stall")
	require.Equal(t, 2475, s.Done, "the %d completions published before the kill were not counted twice", before)
	require.False(t, s.Workers[0].Stalled)
	requireLiveEqualsLake(t, s, filepath.Join(data, "lake"), "stall")
	// The terminal view says the same (plain lines: stdout is not a terminal).
	stdout, stderr, code := run(t, data, "watch", "--sweep", "stall")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "2475/2475 completions (100%)")
	require.Contains(t, stdout, "finished")
	stdout, _, _ = run(t, data, "watch", "--sweep", "stall", "--once", "--top", "3")
	require.Contains(t, stdout, "highest marker rates")
	require.Contains(t, stdout, "zelthari_scholar")
	// A prefix of one sweep's name is that sweep; of none, an error naming the sweeps.
	stdout, stderr, code = run(t, data, "watch", "--sweep", "sta", "--once")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "sweep stall: 2475/2475 completions (100%)")
	_, stderr, code = run(t, data, "watch", "--sweep", "nope", "--once")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, `no sweep named "nope" or beginning so`)
	require.Contains(t, stderr, "[stall]")
	res, err := openEngine(t, filepath.Join(data, "lake")).SQL(context.Background(),
		"SELECT count(*) FROM read_parquet('"+filepath.Join(data, "lake", "completions", "*", "*.parquet")+"')")
	require.NoError(t, err)
	require.Equal(t, int64(2475), res.Rows[0][0], "no completion stored twice")
}

// Resuming a run from another source is refused: the two would be counted
// under the first run's marker and plan.
func TestWorkerRefusesToMixSources(t *testing.T) {
	dir := filepath.Join(fixturesDir(t), "directed_trait_transfer")
	data := t.TempDir()
	_, stderr, code := run(t, data, "worker", "--engine", "replay", "--from", filepath.Join(dir, "asst_near_marker", "arm_a_completions.json"),
		"--experiment", "mix", "--as-run", "r1")
	require.Equal(t, 0, code, stderr)
	_, stderr, code = run(t, data, "worker", "--engine", "replay", "--from", filepath.Join(dir, "pirate_near_marker", "arm_a_completions.json"),
		"--experiment", "mix", "--as-run", "r1")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "would mix two sources")
	_, stderr, code = run(t, data, "worker", "--engine", "replay", "--from", filepath.Join(dir, "asst_near_marker", "arm_a_completions.json"),
		"--experiment", "mix", "--as-run", "r2", "--rate", "-5")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "--rate")
}
