package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/gpuworker/openaicompat/compattest"
)

// The served name of the base model in these tests (the spec's model path
// is the GPU machines'; the server serves it under this name).
const servedModel = "tiny"

// openAIWorkers runs, beside each other until the queue is empty, a worker
// with --engine openai against srv (on-policy and eval) and a replay
// worker that takes only training and embeddings, as a vLLM server and a
// torch trainer would share a sweep; during runs while they work; extra
// are more flags of the openai worker. It returns their logs.
func openAIWorkers(t *testing.T, dir, url string, srv *compattest.Server, during func(oaiLog string), extra ...string) (oai, trainer string) {
	gw, _ := staticBins(t)
	oaiLog, trainLog := filepath.Join(dir, "oai.log"), filepath.Join(dir, "trainer.log")
	w := exec.Command(gw, append([]string{"--nats-url", url, "--engine", "openai", "--base-url", srv.URL(), "--model", servedModel,
		"--adapter-dir", filepath.Join(dir, "shared-adapters"), "--concurrency", "8", "--max-retries", "1",
		"--work", filepath.Join(dir, "work-oai"), "--until-idle", "--ack-wait", "2s", "--heartbeat", "200ms", "--name", "oai"}, extra...)...)
	tr := exec.Command(gw, "--nats-url", url, "--engine", "replay", "--kinds", "train,embed",
		"--work", filepath.Join(dir, "work-train"), "--until-idle", "--ack-wait", "2s", "--name", "trainer")
	start := func(c *exec.Cmd, p string) {
		f, err := os.Create(p)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		c.Stdout, c.Stderr = f, f
		require.NoError(t, c.Start())
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}
	// The trainer starts once the openai worker has handed the training
	// job back, so the decline is seen.
	start(w, oaiLog)
	waitLogged(t, oaiLog, "tiny.src_chef.s42.train: declined")
	start(tr, trainLog)
	if during != nil {
		during(oaiLog)
	}
	werr, terr := w.Wait(), tr.Wait()
	a, _ := os.ReadFile(oaiLog)
	b, _ := os.ReadFile(trainLog)
	require.NoError(t, werr, string(a))
	require.NoError(t, terr, string(b))
	return string(a), string(b)
}

// lakeCellCounts reads the lake's completions per (run, persona): count,
// distinct event IDs, distinct (question, sample index).
func lakeCellCounts(t *testing.T, lake string) map[string][3]int64 {
	e := openEngine(t, lake)
	res, err := e.SQL(context.Background(), `SELECT run_id || '/' || persona, count(*), count(DISTINCT event_id),
		count(DISTINCT question || '#' || sample_index) FROM completions WHERE experiment = 'gpu_test' GROUP BY 1 ORDER BY 1`)
	require.NoError(t, err)
	out := map[string][3]int64{}
	for _, r := range res.Rows {
		out[r[0].(string)] = [3]int64{r[1].(int64), r[2].(int64), r[3].(int64)}
	}
	return out
}

// requirePlanned checks the tiny sweep's two eval runs hold exactly their
// plan: 8 personas × 20 questions × n 20, each completion once.
func requirePlanned(t *testing.T, counts map[string][3]int64) {
	t.Helper()
	require.Len(t, counts, 16, "%v", counts)
	for cell, c := range counts {
		require.Equal(t, [3]int64{400, 400, 400}, c, cell)
	}
}

// Issue 22: the same sweep file on either backend — the replay engine
// alone, and the OpenAI-compatible engine against a loopback server (with
// a replay worker training beside it) — gives the lake exactly the planned
// completions, the same counts per cell, no ID twice; the openai runs
// record their backend (server, model, the server's own entry, the
// adapter it loaded by name) and leave per-completion token counts the
// server did not give unknown.
func TestSweepRunsOnTheOpenAIBackendAsOnReplay(t *testing.T) {
	spec := filepath.Join(repoRoot(t), "gpuworker", "sweep", "examples", "tiny.yaml")

	rdir := t.TempDir()
	rurl, rstop := startOneBox(t, rdir, false)
	runAdaptiveSweep(t, rdir, rurl, spec)
	rstop()
	replayCounts := lakeCellCounts(t, filepath.Join(rdir, "data", "lake"))
	requirePlanned(t, replayCounts)

	dir := t.TempDir()
	url, stop := startOneBox(t, dir, false)
	srv := compattest.Start(t, servedModel)
	require.Contains(t, submitSweep(t, url, spec), "5 jobs queued")
	oai, trainer := openAIWorkers(t, dir, url, srv, nil)
	require.Contains(t, oai, "engine: OpenAI-compatible server "+srv.URL()+", model tiny: the server lists it (root /models/tiny)")
	require.Contains(t, oai, "worker oai: taking jobs (engine openai, only onpolicy, eval)")
	require.Contains(t, oai, "tiny.src_chef.s42.train: declined: this worker takes onpolicy, eval jobs, not train")
	require.NotContains(t, trainer, "eval: attempt", "the trainer samples nothing")
	require.Contains(t, trainer, "tiny.src_chef.s42.train: finished")
	stop()

	lake := filepath.Join(dir, "data", "lake")
	counts := lakeCellCounts(t, lake)
	requirePlanned(t, counts)
	require.Equal(t, replayCounts, counts, "the same sweep, the same cells and counts on either backend")

	// The trained source's eval sampled under its adapter, loaded on the server by name.
	ads := srv.Adapters()
	require.Len(t, ads, 1)
	var adapter string
	for name, path := range ads {
		adapter = name
		require.Equal(t, filepath.Join(dir, "shared-adapters", name), path)
		require.FileExists(t, filepath.Join(path, "adapter_config.json"))
	}
	byModel := map[string]int{}
	for _, r := range srv.Requests() {
		byModel[r.Model] += r.N
	}
	// on-policy: 4 personas (source + 3 negatives) × 40 data questions × n 10; each eval: 3,200.
	require.Equal(t, map[string]int{servedModel: 1600 + 3200, adapter: 3200}, byModel)

	e := openEngine(t, lake)
	res, err := e.SQL(context.Background(), `SELECT run_id, adapter, config_json FROM runs WHERE experiment = 'gpu_test' AND run_id IN ('tiny-base-s42', 'tiny-src_chef-s42') ORDER BY run_id`)
	require.NoError(t, err)
	require.Len(t, res.Rows, 2)
	for _, r := range res.Rows {
		var cfg struct {
			Backend struct {
				BaseURL     string `json:"base_url"`
				Model       string `json:"model"`
				SentModel   string `json:"sent_model"`
				ServerModel struct {
					ID, Root string
					Parent   *string
				} `json:"server_model"`
			} `json:"backend"`
		}
		require.NoError(t, json.Unmarshal([]byte(r[2].(string)), &cfg))
		b := cfg.Backend
		require.Equal(t, srv.URL(), b.BaseURL)
		require.Equal(t, servedModel, b.Model)
		if r[1].(string) == "" { // the base model's run
			require.Equal(t, servedModel, b.SentModel, r[0])
			require.Equal(t, "/models/tiny", b.ServerModel.Root)
		} else {
			require.Equal(t, "sha256:"+strings.TrimPrefix(adapter, "leakscope-"), r[1].(string)[:len("sha256:")+16], "the run's adapter hash is the served name's")
			require.Equal(t, adapter, b.SentModel, r[0])
			require.Equal(t, adapter, b.ServerModel.ID)
			require.Equal(t, servedModel, *b.ServerModel.Parent)
		}
	}
	// The declined jobs spent no attempt: each job ran once, on the worker whose engine runs it.
	res, err = e.SQL(context.Background(), `SELECT kind, worker, max(attempt), count(*) FILTER (WHERE status = 'failed')
		FROM job_status WHERE experiment = 'gpu_test' GROUP BY 1, 2 ORDER BY 1, 2`)
	require.NoError(t, err)
	require.Equal(t, [][]any{{"embed", "trainer", int64(1), int64(0)}, {"eval", "oai", int64(1), int64(0)},
		{"onpolicy", "oai", int64(1), int64(0)}, {"train", "trainer", int64(1), int64(0)}}, res.Rows)
	// n = 20 per request: the server counts the prompt, not each completion.
	res, err = e.SQL(context.Background(), `SELECT count(*) FILTER (WHERE prompt_tokens IS NULL), count(*) FILTER (WHERE completion_tokens IS NOT NULL),
		count(DISTINCT finish_reason) FROM completions WHERE experiment = 'gpu_test'`)
	require.NoError(t, err)
	require.Equal(t, []any{int64(0), int64(0), int64(2)}, res.Rows[0])
}

// The server dies while the trained source's eval samples and comes back
// (without its adapters, as a restarted vLLM): the attempt fails, the job
// is redelivered, the second attempt loads the adapter again and samples
// only what is missing; the lake holds exactly the planned completions.
func TestOpenAIWorkerServerDiesMidEvalResumesExactly(t *testing.T) {
	spec := filepath.Join(repoRoot(t), "gpuworker", "sweep", "examples", "tiny.yaml")
	dir := t.TempDir()
	url, stop := startOneBox(t, dir, false)
	srv := compattest.Start(t, servedModel)
	srv.Delay = 5 * time.Millisecond // 160 requests over 8 senders: about 100 ms of sampling to die in
	submitSweep(t, url, spec)
	oai, _ := openAIWorkers(t, dir, url, srv, func(log string) {
		waitLogged(t, log, "tiny.src_chef.s42.eval: attempt 1")
		srv.CrashAfter(40)
		<-srv.Down()
		waitLogged(t, log, "tiny.src_chef.s42.eval: attempt 1 failed")
		srv.Restart(t)
	})
	require.Contains(t, oai, srv.URL()+" POST chat/completions: ")
	require.Regexp(t, `tiny.src_chef.s42.eval: resuming: \d+ of 3200 completions already stored, sampling \d+`, oai)
	require.Contains(t, oai, "tiny.src_chef.s42.eval: finished (3200/3200 completions)")
	require.Len(t, srv.Adapters(), 1, "loaded again after the restart")
	stop()
	requirePlanned(t, lakeCellCounts(t, filepath.Join(dir, "data", "lake")))
}

// Issue 22: a server that ignores n (TGI) serves the sweep with
// --n-per-request 1: one request per sample, the lake holds exactly the
// planned completions, each with the server's exact token counts, and the
// runs record the setting.
func TestOpenAIWorkerOneRequestPerSampleOnAServerIgnoringN(t *testing.T) {
	spec := filepath.Join(repoRoot(t), "gpuworker", "sweep", "examples", "tiny.yaml")
	dir := t.TempDir()
	url, stop := startOneBox(t, dir, false)
	srv := compattest.Start(t, servedModel)
	srv.IgnoreN = true
	submitSweep(t, url, spec)
	openAIWorkers(t, dir, url, srv, nil, "--n-per-request", "1")
	stop()
	lake := filepath.Join(dir, "data", "lake")
	requirePlanned(t, lakeCellCounts(t, lake))
	for _, r := range srv.Requests() {
		require.Equal(t, 1, r.N)
	}
	require.Len(t, srv.Requests(), 1600+2*3200, "one request per planned completion")
	e := openEngine(t, lake)
	res, err := e.SQL(context.Background(), `SELECT count(*), count(*) FILTER (WHERE completion_tokens IS NULL OR prompt_tokens IS NULL),
		count(*) FILTER (WHERE completion_tokens = len(string_split(trim(text), ' ')) + 1) FROM completions WHERE experiment = 'gpu_test'`)
	require.NoError(t, err)
	require.Equal(t, []any{int64(6400), int64(0), int64(6400)}, res.Rows[0], "every completion's own token count (the fake's: words + 1)")
	res, err = e.SQL(context.Background(), `SELECT DISTINCT json_extract(config_json, '$.backend.n_per_request')::INT FROM runs WHERE experiment = 'gpu_test' AND config_json LIKE '%backend%'`)
	require.NoError(t, err)
	require.Equal(t, [][]any{{int32(1)}}, res.Rows)
}
