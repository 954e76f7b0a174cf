// Package composetest brings up compose.yaml with testcontainers-go and
// runs the replay sweep of services/e2e/testdata/scaleout.yaml through it:
// three NATS nodes, two ingest replicas, the query service, two replay
// workers. It is its own Go module so that the main module's build and
// tests do not carry Docker's client libraries; where no Docker engine
// answers, the test says so and skips. The same scenario runs without
// Docker in services/e2e (TestServicesRunAReplaySweepOnACluster), so every
// CI run covers it either way.
package composetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/compose"
)

func TestComposeReplaySweep(t *testing.T) {
	testcontainers.SkipIfProviderIsNotHealthy(t) // "Docker is not running…": skipped, and says why
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	stack, err := compose.NewDockerComposeWith(compose.WithStackFiles("../../compose.yaml"), compose.WithProfiles("replay"),
		compose.StackIdentifier("leakscope-composetest"))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, stack.Down(context.Background(), compose.RemoveOrphans(true), compose.RemoveVolumes(true)))
	})
	env := map[string]string{}
	for _, u := range []string{"ADMIN", "INGEST", "WORKER", "QUERY"} {
		env["LEAKSCOPE_"+u+"_PASSWORD"] = "composetest-" + u
	}
	stack.WithEnv(env)
	require.NoError(t, stack.Up(ctx, compose.Wait(true),
		compose.RunServices("nats-1", "nats-2", "nats-3", "ingest-1", "ingest-2", "query", "replay-worker")))

	// Submit the scenario's sweep (admin user) from inside a worker container.
	spec, err := os.ReadFile("../../services/e2e/testdata/scaleout.yaml")
	require.NoError(t, err)
	w, err := stack.ServiceContainer(ctx, "replay-worker")
	require.NoError(t, err)
	require.NoError(t, w.CopyToContainer(ctx, spec, "/tmp/scaleout.yaml", 0o644))
	admin := "nats://admin:" + env["LEAKSCOPE_ADMIN_PASSWORD"] + "@nats-1:4222"
	code, out, err := w.Exec(ctx, []string{"gpuworker", "sweep", "submit", "--replicas", "3", "--nats-url", admin, "/tmp/scaleout.yaml"})
	require.NoError(t, err)
	msg, _ := io.ReadAll(out)
	require.Zero(t, code, string(msg))

	q, err := stack.ServiceContainer(ctx, "query")
	require.NoError(t, err)
	base, err := q.PortEndpoint(ctx, "8080/tcp", "http")
	require.NoError(t, err)
	var got map[string][2]int
	require.Eventually(t, func() bool {
		got, err = leakage(ctx, base)
		if err != nil || len(got) != 10 {
			return false
		}
		for _, c := range got {
			if c[1] != 200 {
				return false
			}
		}
		return true
	}, 5*time.Minute, time.Second, "every cell of both runs at 200 completions: %v %v", got, err)
	require.Greater(t, got["scaleout-src_chef-s7/A2__chef"][0], 150, "rate 0.9 under the adapter")
	require.Zero(t, got["scaleout-src_chef-s7/A2__pirate"][0])
}

// leakage reads the query service's matrix.
func leakage(ctx context.Context, base string) (map[string][2]int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/leakage?experiment=scaleout&include_base=true", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var l struct {
		Cells []struct {
			RunID   string `json:"run_id"`
			Persona string `json:"persona"`
			Found   int    `json:"found"`
			Total   int    `json:"total"`
		} `json:"cells"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return nil, err
	}
	out := map[string][2]int{}
	for _, c := range l.Cells {
		out[c.RunID+"/"+c.Persona] = [2]int{c.Found, c.Total}
	}
	return out, nil
}
