package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCrashSoak runs a replay sweep through a separate server (up
// --ingest=false), ingest and worker, SIGKILLs one of them at a random
// moment, restarts it, and checks the invariant: every completion the
// worker published is in the lake exactly once. Trials: LEAKSCOPE_SOAK_TRIALS
// (CI: 3; `make soak N=100` for the long run). Odd trials run the server
// with --sync interval, so a server killed before its fsync is covered too.
func TestCrashSoak(t *testing.T) {
	file := filepath.Join(fixturesDir(t), "directed_trait_transfer", "asst_near_marker", "arm_a_completions.json")
	trials := 3
	if v, err := strconv.Atoi(os.Getenv("LEAKSCOPE_SOAK_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("soak seed %d", seed)
	kills, lost, dup := map[string]int{}, 0, 0
	for trial := 0; trial < trials; trial++ {
		data := t.TempDir()
		natsAddr, httpAddr := freeAddr(t), freeAddr(t)
		url := "nats://" + natsAddr
		syncMode := []string{"always", "interval"}[trial%2]
		procs := map[string][]string{
			"server": {"--data", data, "--sync", syncMode, "up", "--ingest=false", "--listen", natsAddr, "--http", httpAddr},
			"ingest": {"--data", data, "--nats-url", url, "ingest"},
			"worker": {"--data", data, "--nats-url", url, "worker", "--engine", "replay", "--from", file, "--experiment", "soak",
				"--as-run", "r", "--rate", "3000", "--heartbeat", "200ms"},
		}
		running := map[string]*exec.Cmd{}
		// A failed trial stops the test before the SIGTERMs below; without this
		// the server and ingest would outlive it.
		t.Cleanup(func() {
			for _, c := range running {
				if c.ProcessState == nil {
					_ = c.Process.Kill()
					_ = c.Wait()
				}
			}
		})
		var workerErr strings.Builder
		start := func(name string) {
			c := exec.Command(leakscopeBin(t), procs[name]...)
			if name == "worker" {
				workerErr.Reset()
				c.Stderr = &workerErr
			}
			require.NoError(t, c.Start())
			running[name] = c
		}
		start("server")
		require.Eventually(t, func() bool { _, err := os.Stat(filepath.Join(data, "nats.url")); return err == nil }, 30*time.Second, 10*time.Millisecond)
		start("ingest")
		start("worker")
		victim := []string{"worker", "ingest", "server"}[rng.IntN(3)]
		time.Sleep(time.Duration(100+rng.IntN(800)) * time.Millisecond)
		require.NoError(t, running[victim].Process.Kill())
		_ = running[victim].Wait()
		kills[victim]++
		start(victim)

		finished := make(chan error, 1)
		go func() { finished <- running["worker"].Wait() }()
		select {
		case err := <-finished:
			require.NoError(t, err, "trial %d: the worker did not complete after %s was killed: %s", trial, victim, workerErr.String())
		case <-time.After(3 * time.Minute):
			t.Fatalf("trial %d: worker still running 3 minutes after %s was killed", trial, victim)
		}
		for _, name := range []string{"ingest", "server"} {
			_ = running[name].Process.Signal(syscall.SIGTERM)
			_ = running[name].Wait()
		}
		res, err := openEngine(t, filepath.Join(data, "lake")).SQL(context.Background(), fmt.Sprintf(
			"SELECT count(*), count(DISTINCT event_id) FROM read_parquet('%s') WHERE experiment = 'soak'", filepath.Join(data, "lake", "completions", "*", "*.parquet")))
		require.NoError(t, err)
		raw, distinct := res.Rows[0][0].(int64), res.Rows[0][1].(int64)
		lost += 2475 - int(distinct)
		dup += int(raw - distinct)
		t.Logf("trial %d: killed %s (sync=%s): %d stored, %d distinct", trial, victim, syncMode, raw, distinct)
	}
	t.Logf("soak: %d trials, kills %v, lost %d, duplicated %d", trials, kills, lost, dup)
	require.Zero(t, lost, "completions lost")
	require.Zero(t, dup, "completions stored twice")
}
