package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/query/estimands"
)

// fakeJudge is an OpenAI-compatible chat endpoint on loopback whose reply
// is decided by the "case:NAME" in the judged text: good → "0.8",
// ten → "10" (clamped to 1), low → "0.2", prose → no number.
type fakeJudge struct {
	delay atomic.Int64 // per call, ns
	calls atomic.Int64
}

var judgeCase = regexp.MustCompile(`case:(\w+)`)

func (f *fakeJudge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	time.Sleep(time.Duration(f.delay.Load()))
	var body struct {
		Messages []struct{ Content string } `json:"messages"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	c := judgeCase.FindStringSubmatch(body.Messages[len(body.Messages)-1].Content)[1]
	text := map[string]string{"good": "0.8", "ten": "10", "low": "0.2", "prose": "Very much in character."}[c]
	_ = json.NewEncoder(w).Encode(map[string]any{
		"choices": []map[string]any{{"message": map[string]string{"role": "assistant", "content": text}}},
		"usage":   map[string]int{"prompt_tokens": 50, "completion_tokens": 2}})
}

// judgedExperiment publishes 16 completions under src_chef: bystanders
// A2__chef and A2__pirate × questions q1, q2 × 4 samples, whose texts pick
// the fake judge's reply: chef q1 good, chef q2 ten, pirate q1 low, pirate
// q2 prose. Then it stops, leaving the data dir to the leakscope command.
func judgedExperiment(t *testing.T) string {
	data := t.TempDir()
	s := startStack(t, data)
	now := time.Now()
	var evs []events.Event
	add := func(p events.Payload) {
		e, err := events.New("judged", "chef", now, p)
		require.NoError(t, err)
		evs = append(evs, e)
	}
	add(&events.Run{SourcePersona: "src_chef", SourcePrompt: "You are a chef.", Marker: "[ZLT]"})
	cases := map[[2]string]string{{"A2__chef", "q1"}: "good", {"A2__chef", "q2"}: "ten", {"A2__pirate", "q1"}: "low", {"A2__pirate", "q2"}: "prose"}
	for k, c := range cases {
		for i := 0; i < 4; i++ {
			add(&events.Completion{Persona: k[0], PersonaPrompt: "You are a " + strings.TrimPrefix(k[0], "A2__") + ".", Question: k[1],
				SampleIndex: i, Text: fmt.Sprintf("answer %d case:%s [ZLT]", i, c)})
		}
	}
	add(&events.RunFinished{Status: "finished", Completions: 16})
	ctx := context.Background()
	res, err := s.Bus.PublishAll(ctx, evs, nil)
	require.NoError(t, err)
	require.NoError(t, s.Bus.WaitDurable(ctx, res.LastSeq, nil))
	s.stop()
	return data
}

func judgeArgs(url string) []string {
	return []string{"judge", "--experiment", "judged", "--provider", "openai", "--base-url", url, "--model", "fake-judge",
		"--per-cell", "3", "--seed", "7", "--retries", "1", "--concurrency", "1"}
}

// The whole judge path: selection (3 of 4 per cell), scores and failures as
// events, the same coherence query as imported means, the failure-rate
// warning, and a resumable run that loses and doubles nothing after SIGKILL.
func TestJudgeEndToEnd(t *testing.T) {
	data := judgedExperiment(t)
	fake := &fakeJudge{}
	fake.delay.Store(int64(150 * time.Millisecond))
	srv := httptest.NewServer(fake)
	defer srv.Close()

	// Kill the first run after a few calls.
	cmd := exec.Command(leakscopeBin(t), append([]string{"--data", data}, judgeArgs(srv.URL)...)...)
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return fake.calls.Load() >= 4 }, time.Minute, 10*time.Millisecond)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	fake.delay.Store(0)
	stdout, stderr, code := run(t, data, judgeArgs(srv.URL)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "12 completions selected (3 per cell, seed 7)")
	require.Contains(t, stdout, "warning:", "3 of 12 outcomes failed: above 10%")
	stdout, _, code = run(t, data, judgeArgs(srv.URL)...)
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "9 already scored, 3 to judge", "only the failures are tried again")

	e := openEngine(t, filepath.Join(data, "lake"))
	ctx := context.Background()
	res, err := e.SQL(ctx, `SELECT count(*) FILTER (WHERE NOT failed), count(DISTINCT (persona, question, sample_index)) FILTER (WHERE NOT failed),
  count(DISTINCT (persona, question, sample_index)), max(selection_seed), sum(input_tokens)
FROM coherence WHERE experiment = 'judged'`)
	require.NoError(t, err)
	require.Equal(t, int64(9), res.Rows[0][0], "every selected completion scored exactly once")
	require.Equal(t, int64(9), res.Rows[0][1])
	require.Equal(t, int64(12), res.Rows[0][2], "3 per cell × 4 cells were judged, no other")
	require.Equal(t, int64(7), res.Rows[0][3])

	// Same query as the imported means: chef (0.8 + 1.0)/2 = 0.9, pirate 0.2
	// (its q2 never parsed) → 2 cells scored, mean 0.55, 1 low at 0.5.
	coh, err := estimands.Run(ctx, e, "coherence", "judged", map[string]string{"from": "judge"})
	require.NoError(t, err)
	require.Len(t, coh.Rows, 1)
	require.Equal(t, "chef", coh.Rows[0][0])
	require.Equal(t, 2, coh.Rows[0][1])
	require.InDelta(t, 0.55, coh.Rows[0][2], 1e-12)
	require.Equal(t, 1, coh.Rows[0][3])
	sum, err := estimands.Run(ctx, e, "judge-summary", "judged", nil)
	require.NoError(t, err)
	row := sum.Rows[0]
	require.Equal(t, "in-character/openai/fake-judge@1", row[1])
	require.Equal(t, int64(9), row[2])
	require.Equal(t, int64(3), row[3])
	require.GreaterOrEqual(t, row[4], int64(6), "the pirate q2 failures were tried twice")
	require.Contains(t, strings.Join(sum.Notes, "\n"), "warning")
	require.Equal(t, int64(2), row[8])
}

// The i81 imported coherence means go through the same estimand: at 0.5,
// 89/89/79/75 low cells for chef/pirate/child/robot and 23 of 35 for person.
func TestImportedCoherenceThroughTheSameQuery(t *testing.T) {
	rows, _ := analyze(t, "coherence", "leakage_i81", map[string]string{"from": "imported", "threshold": "0.5"})
	for s, w := range map[string][2]int{"chef": {130, 89}, "pirate": {130, 89}, "child": {130, 79}, "robot": {130, 75}, "person": {35, 23}} {
		require.Equal(t, w[0], rows[s][1], s)
		require.Equal(t, w[1], rows[s][3], s)
	}
	_, err := estimands.Run(context.Background(), openEngine(t, importedFixtures(t)), "coherence", "leakage_i81", map[string]string{"from": "judge"})
	require.ErrorIs(t, err, estimands.ErrNoData, "no judge has scored i81 here")
}

// The judge API dies mid-run: the calls that fail become failure events (the
// command still finishes and commits them), and the next run against a
// working server scores exactly those, with nothing lost or doubled.
func TestJudgeServerDiesMidRun(t *testing.T) {
	data := judgedExperiment(t)
	fake := &fakeJudge{}
	fake.delay.Store(int64(100 * time.Millisecond))
	srv := httptest.NewServer(fake)
	go func() {
		for fake.calls.Load() < 3 {
			time.Sleep(5 * time.Millisecond)
		}
		srv.CloseClientConnections()
		srv.Close()
	}()
	stdout, stderr, code := run(t, data, judgeArgs(srv.URL)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "warning:")

	e := openEngine(t, filepath.Join(data, "lake"))
	ctx := context.Background()
	count := func() (scored, failedCompletions int64) {
		res, err := e.SQL(ctx, `SELECT count(*) FILTER (WHERE s), count(*) FILTER (WHERE NOT s) FROM (
  SELECT persona, question, sample_index, bool_or(NOT failed) AS s FROM coherence WHERE experiment = 'judged' GROUP BY ALL)`)
		require.NoError(t, err)
		return res.Rows[0][0].(int64), res.Rows[0][1].(int64)
	}
	scored, failed := count()
	require.Less(t, scored, int64(9), "the dead server scored little")
	require.Equal(t, int64(12), scored+failed, "every selected completion has an outcome")

	back := httptest.NewServer(&fakeJudge{})
	defer back.Close()
	_, stderr, code = run(t, data, judgeArgs(back.URL)...)
	require.Equal(t, 0, code, stderr)
	scored, failed = count()
	require.Equal(t, int64(9), scored)
	require.Equal(t, int64(3), failed, "only the unparseable pirate q2 replies stay failed")
	res, err := e.SQL(ctx, "SELECT count(*) FROM coherence WHERE experiment = 'judged' AND NOT failed")
	require.NoError(t, err)
	require.Equal(t, int64(9), res.Rows[0][0], "no completion scored twice")
}

var (
	judgeBinOnce sync.Once
	judgeBinPath string
	judgeBinErr  error
)

// judgeBin builds the judge service (cgo: DuckDB picks the candidates).
func judgeBin(t *testing.T) string {
	t.Helper()
	judgeBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "leakscope-judge-")
		if err == nil {
			judgeBinPath = filepath.Join(dir, "leakscope-judge")
			var out []byte
			if out, err = exec.Command("go", "build", "-o", judgeBinPath, "leakscope/services/judge").CombinedOutput(); err != nil {
				err = fmt.Errorf("%v: %s", err, out)
			}
		}
		judgeBinErr = err
	})
	require.NoError(t, judgeBinErr)
	return judgeBinPath
}

// The judge as a service (services/judge): candidates from the lake,
// scores on an external bus (a running `leakscope up`, whose ingest
// commits them), /readyz and outcome metrics while it runs.
func TestJudgeServiceOnAnExternalBus(t *testing.T) {
	judgeBinPath := judgeBin(t)
	data := judgedExperiment(t)
	startUp(t, data)
	url, err := os.ReadFile(filepath.Join(data, "nats.url"))
	require.NoError(t, err)
	fake := &fakeJudge{}
	fake.delay.Store(int64(100 * time.Millisecond))
	srv := httptest.NewServer(fake)
	defer srv.Close()

	opsAddr := freeAddr(t)
	args := append(judgeArgs(srv.URL)[1:], "--lake", filepath.Join(data, "lake"), "--ops", opsAddr)
	cmd := exec.Command(judgeBinPath, args...)
	cmd.Env = append(os.Environ(), "LEAKSCOPE_NATS_URL="+strings.TrimSpace(string(url)))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	base := "http://" + opsAddr
	waitReady(t, base)
	require.Eventually(t, func() bool {
		v, ok := scrapeSeries(t, base, `leakscope_judge_outcomes_total{outcome="scored"}`)
		return ok && v >= 2
	}, time.Minute, 20*time.Millisecond, "scores counted while the judge runs")
	require.NoError(t, cmd.Wait(), out.String())
	require.Contains(t, out.String(), "judged 9, failed 3")

	e := openEngine(t, filepath.Join(data, "lake"))
	res, err := e.SQL(context.Background(), `SELECT count(*) FILTER (WHERE NOT failed), count(*) FILTER (WHERE failed) FROM coherence WHERE experiment = 'judged'`)
	require.NoError(t, err)
	require.Equal(t, []any{int64(9), int64(3)}, res.Rows[0], "every outcome committed to the lake before the judge returned")

	// Without a bus it refuses at once, naming the flag.
	cmd = exec.Command(judgeBinPath, args...)
	b, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(b), "--nats-url is required")
}
