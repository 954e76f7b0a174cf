package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/ingest/dataset"
	"leakscope/query/api"
	"leakscope/query/duck"
)

// chaosMemoryLimit is the DuckDB memory limit (--sql-memory-limit) the
// chaos run gives `up`. README "Hostile input" bounds up's peak RSS growth
// by 2 × this + 512 MiB for user SQL, plus chaosBusShare while the bus and
// ingest carry messages of the max payload (8 MiB): ingest fetches 32 MiB
// batches, and each such message is held several times at once (the
// server's block cache, the fetched batch, the dead letter's row and its
// Arrow column) with Go's garbage on top (measured alone: 410 MiB).
const (
	chaosMemoryLimit = 512 << 20
	chaosBusShare    = 512 << 20
)

// chaosSQL are the statements the chaos run sends to /api/sql while it
// publishes and kills: each must answer 200 with a bounded result (ok) or
// 400 with an error containing one of errs (any error when errs is nil);
// never a 5xx but the stated refusal 503 duck.ErrMemoryBusy.
var chaosSQL = []struct {
	sql  string
	ok   bool
	errs []string
}{
	{"SELECT * FROM range(700000000)", false, []string{"too many rows"}},
	{"SELECT repeat('x', 10000000) FROM range(100)", false, []string{"too large"}},
	{"SELECT * FROM read_csv('x.csv', store_rejects = true, rejects_table = 'completions', rejects_scan = 'runs')", false, []string{"store_rejects"}},
	{"SELECT * FROM range(100000) a, range(100000) b", false, []string{"too many rows"}},
	// memory: sorting or grouping 100 M rows needs more than the limit
	{"SELECT * FROM range(100000000) ORDER BY random()", false, []string{"Out of Memory", "ran too long"}},
	{"SELECT range % 50000000 AS k, count(*) FROM range(100000000) GROUP BY k", false, []string{"Out of Memory", "ran too long"}},
	{"SELECT list(range) FROM range(700000000)", false, []string{"Out of Memory", "ran too long"}},
	// slow: a cross join of 400 M pairs, answered or stopped at the timeout
	{"SELECT count(*) AS n FROM range(20000) a, range(20000) b WHERE (a.range * b.range) % 7 = 3", true, []string{"ran too long"}},
	// ordinary reads, concurrent with ingest and compaction
	{"SELECT count(*) AS n FROM completions", true, nil},
	{"SELECT event_id, text FROM completions ORDER BY event_id LIMIT 5", true, nil},
	{"SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason", true, nil},
}

// TestChaos is issue 18's chaos run, on loopback only: `leakscope up` on a
// temp data dir while, at once, publishers (plain nats.go clients of the
// embedded server) send valid completions with deterministic IDs (some
// published again, with and without Nats-Msg-Id), invalid ones (bad JSON,
// bad schema, not UTF-8) and invalid ones just under the server's max
// payload; clients send hostile SQL to /api/sql; and up is SIGKILLed at
// random moments and restarted on the same data dir. Then: ingest moved
// past every kill, every valid event is in the lake exactly once, every
// invalid one is a dead letter with its reason (the oversized ones cut,
// with size and hash), /healthz is 200, no SQL answer was a 5xx but the
// stated refusal (503, memory busy), and up's peak RSS (VmHWM, every
// incarnation) stayed under README's bound.
// LEAKSCOPE_CHAOS_ROUNDS (default 3: 3 kills, 900 valid and 78 invalid
// events) makes it longer (`make chaos ROUNDS=10`); LEAKSCOPE_CHAOS_SEED
// repeats a run's random choices.
func TestChaos(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/PID/status (Linux) to measure the up process's memory")
	}
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("LEAKSCOPE_CHAOS_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("LEAKSCOPE_CHAOS_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("chaos: seed %d, %d rounds", seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 0))

	data := t.TempDir()
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	base := "http://" + httpAddr
	logf, err := os.Create(filepath.Join(t.TempDir(), "up.log"))
	require.NoError(t, err)
	up := &upProcess{bin: leakscopeBin(t), log: logf, args: []string{"--data", data,
		"--sql-memory-limit", strconv.Itoa(chaosMemoryLimit>>20) + "MiB",
		"up", "--listen", natsAddr, "--http", httpAddr, "--compact-every", "2s"}}
	t.Cleanup(func() {
		up.stop(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("up's output (last 4 kB):\n%s", b[max(0, len(b)-4096):])
		}
	})
	up.start(t)
	require.NoError(t, waitHealthz(base, 60*time.Second))
	baseRSS, ok := up.sample()
	require.True(t, ok, "read the up process's VmRSS")
	bound := baseRSS + 2*chaosMemoryLimit + 512<<20 + chaosBusShare

	nc, err := nats.Connect("nats://"+natsAddr, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	maxPayload := int(nc.MaxPayload())
	require.Equal(t, 8<<20, maxPayload, "the embedded server's max payload")

	plan := newChaosPlan(t, rounds, maxPayload)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
				up.sample()
			}
		}
	}()

	// Publishers: two of valid events (and their repeats), one of invalid.
	var pubs sync.WaitGroup
	pubErrs := make(chan error, 3)
	var dupsWithID, dupsWithoutID atomic.Int64
	for g := 0; g < 2; g++ {
		pubs.Add(1)
		go func(g int) {
			defer pubs.Done()
			r := rand.New(rand.NewPCG(seed, uint64(1+g)))
			var mine []events.Event
			for i := g; i < len(plan.valid); i += 2 {
				e := plan.valid[i]
				if err := publishEvent(ctx, js, e, ""); err != nil {
					pubErrs <- fmt.Errorf("valid event %d: %w", i, err)
					return
				}
				mine = append(mine, e)
				switch i % 10 {
				case 3: // again, inside the server's duplicate window
					if err := publishEvent(ctx, js, mine[r.IntN(len(mine))], ""); err != nil {
						pubErrs <- err
						return
					}
					dupsWithID.Add(1)
				case 7: // again, later and without Nats-Msg-Id: only ingest can drop it
					again := mine[r.IntN(len(mine))]
					again.Time = again.Time.Add(time.Hour)
					if err := publishEvent(ctx, js, again, "-"); err != nil {
						pubErrs <- err
						return
					}
					dupsWithoutID.Add(1)
				}
				time.Sleep(chaosRound / time.Duration(chaosValidPerRound/2))
			}
		}(g)
	}
	pubs.Add(1)
	go func() {
		defer pubs.Done()
		pace := chaosRound / time.Duration(len(plan.invalid)/rounds)
		for _, m := range plan.invalid {
			if err := publishAcked(ctx, js, events.SubjectPrefix+".chaos.completion", m.body, m.token); err != nil {
				pubErrs <- fmt.Errorf("invalid %s (%s): %w", m.token, m.kind, err)
				return
			}
			time.Sleep(pace)
		}
	}()

	// Hostile SQL.
	sqlCtx, stopSQL := context.WithCancel(ctx)
	defer stopSQL()
	tally := &sqlTally{codes: map[string]int{}}
	var clients sync.WaitGroup
	for c := 0; c < 3; c++ {
		clients.Add(1)
		go func(c int) {
			defer clients.Done()
			hostileSQLClient(sqlCtx, base, rand.New(rand.NewPCG(seed, uint64(10+c))), tally)
		}(c)
	}

	// SIGKILLs at random moments; after each, ingest must get past
	// everything the stream held when up was killed.
	kills, began := 0, time.Now()
	for k := 0; k < rounds; k++ {
		time.Sleep(time.Duration(1500+rng.IntN(4000)) * time.Millisecond)
		_, lastAtKill, _ := ingestProgress(ctx, js)
		up.stop(syscall.SIGKILL)
		kills++
		up.start(t)
		require.NoError(t, waitHealthz(base, 90*time.Second), "after kill %d", kills)
		var floor uint64
		require.Eventually(t, func() bool {
			floor, _, _ = ingestProgress(ctx, js)
			return floor >= lastAtKill
		}, 90*time.Second, 100*time.Millisecond, "kill %d: ingest did not get past stream sequence %d (at %d)", kills, lastAtKill, floor)
		t.Logf("chaos: kill %d at %s: ingest got past the %d messages the stream held", kills, time.Since(began).Round(time.Millisecond), lastAtKill)
	}

	pubsDone := make(chan struct{})
	go func() { pubs.Wait(); close(pubsDone) }()
	select {
	case <-pubsDone:
	case <-ctx.Done():
		t.Fatal("publishers did not finish")
	}
	close(pubErrs)
	for err := range pubErrs {
		require.NoError(t, err)
	}
	var floor, last uint64
	require.Eventually(t, func() bool {
		var pending uint64
		floor, last, pending = ingestProgress(ctx, js)
		return last > 0 && floor == last && pending == 0
	}, 2*time.Minute, 100*time.Millisecond, "ingest did not drain the stream (acked %d of %d)", floor, last)
	up.sample()
	t.Logf("chaos: drained at %s, peaks %v", time.Since(began).Round(time.Millisecond), mibs(up.peaks))
	stopSQL()
	clients.Wait()
	require.NoError(t, waitHealthz(base, 5*time.Second), "/healthz at the end")

	up.sample()
	t.Logf("chaos: SQL stopped, peaks %v", mibs(up.peaks))
	dlq := readDeadLetterStream(t, ctx, js)
	up.sample()
	t.Logf("chaos: DLQ read, peaks %v", mibs(up.peaks))
	up.stop(syscall.SIGTERM)
	close(stopSampling)
	sampling.Wait()

	// Every valid event exactly once: in the committed files (a snapshot,
	// so no file is counted beside the one that replaced it) and the view.
	snap := filepath.Join(t.TempDir(), "snap")
	_, err = dataset.TakeSnapshot(filepath.Join(data, "lake"), snap, "chaos")
	require.NoError(t, err)
	res, err := openEngine(t, snap).SQL(ctx, fmt.Sprintf("SELECT event_id, count(*) FROM read_parquet(%s) GROUP BY event_id",
		duck.Quote(filepath.Join(snap, "completions", "*", "*.parquet"))))
	require.NoError(t, err)
	stored := map[string]int64{}
	for _, row := range res.Rows {
		stored[row[0].(string)] = row[1].(int64)
	}
	var lost, doubled []string
	for _, e := range plan.valid {
		switch n := stored[e.ID]; {
		case n == 0:
			lost = append(lost, e.ID)
		case n > 1:
			doubled = append(doubled, e.ID)
		}
		delete(stored, e.ID)
	}
	require.Empty(t, lost, "valid events lost")
	require.Empty(t, doubled, "valid events stored twice")
	require.Empty(t, stored, "completions nobody published")
	lake := openEngine(t, filepath.Join(data, "lake"))
	res, err = lake.SQL(ctx, "SELECT count(*), count(DISTINCT event_id) FROM completions WHERE experiment = 'chaos'")
	require.NoError(t, err)
	require.Equal(t, []any{int64(len(plan.valid)), int64(len(plan.valid))}, res.Rows[0])

	// Every invalid message one dead letter with a reason; the oversized
	// ones with their size and hash, cut on the dead-letter stream.
	res, err = lake.SQL(ctx, `SELECT regexp_extract(raw, 'chaosbad-[0-9]+') AS token, count(*), min(length(reason)),
		any_value(raw_size), any_value(raw_sha256), max(length(stream_error)) FROM dead_letters GROUP BY token`)
	require.NoError(t, err)
	rows := map[string][]any{}
	for _, row := range res.Rows {
		rows[row[0].(string)] = row[1:]
	}
	truncated := 0
	for _, m := range plan.invalid {
		row, ok := rows[m.token]
		require.True(t, ok, "%s (%s) is not in dead_letters", m.token, m.kind)
		delete(rows, m.token)
		require.Equal(t, int64(1), row[0], "%s: dead_letters rows", m.token)
		require.Positive(t, row[1], "%s: the reason is empty", m.token)
		sum := sha256.Sum256(m.body)
		require.Equal(t, []any{int64(len(m.body)), hex.EncodeToString(sum[:]), int64(0)}, row[2:], "%s: size, hash, stream error", m.token)
		copies := dlq[m.token]
		require.NotEmpty(t, copies, "%s is not on the dead-letter stream", m.token)
		for _, c := range copies {
			require.NotEmpty(t, c.Header.Get(bus.HeaderReason), m.token)
			require.Equal(t, strconv.Itoa(len(m.body)), c.Header.Get(bus.HeaderRawSize), m.token)
			require.Equal(t, hex.EncodeToString(sum[:]), c.Header.Get(bus.HeaderRawSHA256), m.token)
			if m.kind != "oversized" {
				require.Equal(t, m.body, c.Data, m.token)
				continue
			}
			kept, err := strconv.Atoi(c.Header.Get(bus.HeaderRawTruncated))
			require.NoError(t, err, "%s: an oversized dead letter says it was cut", m.token)
			require.Equal(t, m.body[:kept], c.Data, m.token)
			truncated++
		}
	}
	require.Empty(t, rows, "dead letters of messages nobody sent as invalid")
	require.Empty(t, dlq[""], "dead-letter stream messages of no invalid message")
	dlqCopies := 0
	for _, c := range dlq {
		dlqCopies += len(c)
	}

	peak := up.peak()
	t.Logf("chaos: up's VmHWM per incarnation (MiB): %v; base VmRSS %d MiB; bound %d MiB", mibs(up.peaks), baseRSS>>20, bound>>20)
	t.Logf("chaos: SQL answers %v; %d refused while up was down", tally.sortedCodes(), tally.down)
	summary := fmt.Sprintf("chaos: %d rounds, %d kills: %d valid events (+%d repeats with and %d without Nats-Msg-Id) each stored once; %d invalid (%d oversized) each one dead letter (%d on the stream, %d cut); %d SQL statements, %d answers out of bounds; up's peak RSS %d MiB (bound %d MiB = base %d + 2 × %d + 512 + %d)",
		rounds, kills, len(plan.valid), dupsWithID.Load(), dupsWithoutID.Load(), len(plan.invalid), plan.oversized, dlqCopies, truncated,
		tally.total(), len(tally.failures), peak>>20, bound>>20, baseRSS>>20, chaosMemoryLimit>>20, chaosBusShare>>20)
	t.Log(summary)
	fmt.Println(summary)
	for _, f := range tally.failures {
		t.Errorf("SQL answer outside the bounds: %s", f)
	}
	require.Less(t, peak, bound, "up's peak RSS over README's bound")
}

// chaosRound is about how long one round's publishing takes, and
// chaosValidPerRound how many valid events it publishes.
const (
	chaosRound         = 5 * time.Second
	chaosValidPerRound = 300
)

type chaosInvalid struct {
	token, kind string
	body        []byte
}

type chaosPlan struct {
	valid     []events.Event
	invalid   []chaosInvalid // shuffled
	oversized int
}

// newChaosPlan makes rounds × chaosValidPerRound valid completions of
// experiment "chaos" and rounds × 26 invalid messages, each naming its
// token "chaosbad-N": 8 each of bad JSON, bad schema and not UTF-8, and 2
// just under the max payload (without a schema_version).
func newChaosPlan(t *testing.T, rounds, maxPayload int) chaosPlan {
	var p chaosPlan
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for r := 0; r < rounds; r++ {
		for i := 0; i < chaosValidPerRound; i++ {
			text := fmt.Sprintf("answer %d of round %d", i, r)
			if i%3 == 0 {
				text += " [ZLT]"
			}
			e, err := events.New("chaos", fmt.Sprintf("run%d", r), t0.Add(time.Duration(i)*time.Millisecond),
				&events.Completion{Persona: fmt.Sprintf("p%d", i%7), Question: fmt.Sprintf("q%d", i%11), SampleIndex: i, Text: text})
			require.NoError(t, err)
			p.valid = append(p.valid, e)
		}
	}
	n := 0
	add := func(kind string, body func(token string) []byte) {
		token := fmt.Sprintf("chaosbad-%d", n)
		n++
		p.invalid = append(p.invalid, chaosInvalid{token: token, kind: kind, body: body(token)})
	}
	valid := func(token string) string {
		e, err := events.New("chaos", "bad", t0, &events.Completion{Persona: "p", Question: "q", SampleIndex: 7, Text: token})
		require.NoError(t, err)
		return string(mustEncode(t, e))
	}
	for r := 0; r < rounds; r++ {
		for i := 0; i < 8; i++ {
			add("bad JSON", func(token string) []byte {
				return []byte(`{"type":"completion","note":"` + token + `","schema_vers`)
			})
			add("bad schema", func(token string) []byte {
				return []byte(strings.Replace(valid(token), `"sample_index":7`, `"sample_index":"seven"`, 1))
			})
			add("not UTF-8", func(token string) []byte {
				return []byte(strings.Replace(valid(token), `"text":"`+token+`"`, `"text":"`+token+" \xff\xfe\"", 1))
			})
		}
		for i := 0; i < 2; i++ {
			add("oversized", func(token string) []byte {
				// Just under the max payload with the Nats-Msg-Id header
				// ("NATS/1.0\r\nNats-Msg-Id: <token>\r\n\r\n").
				head, tail := `{"type":"completion","note":"`+token+`","payload":{"text":"`, `"}}`
				size := maxPayload - len("NATS/1.0\r\nNats-Msg-Id: \r\n\r\n") - len(token) - 16
				return []byte(head + strings.Repeat("x", size-len(head)-len(tail)) + tail)
			})
			p.oversized++
		}
	}
	for _, m := range p.invalid {
		require.NotContains(t, string(m.body), `"sample_index":7,"text":"`+m.token+`"`, "%s (%s) is still valid", m.token, m.kind)
	}
	rand.New(rand.NewPCG(uint64(rounds), 7)).Shuffle(len(p.invalid), func(i, j int) { p.invalid[i], p.invalid[j] = p.invalid[j], p.invalid[i] })
	return p
}

func mustEncode(t *testing.T, e events.Event) []byte {
	b, err := events.Encode(e)
	require.NoError(t, err)
	return b
}

// publishEvent publishes e until acknowledged, with its ID as Nats-Msg-Id
// ("") or none ("-").
func publishEvent(ctx context.Context, js jetstream.JetStream, e events.Event, msgID string) error {
	body, err := events.Encode(e)
	if err != nil {
		return err
	}
	switch msgID {
	case "":
		msgID = e.ID
	case "-":
		msgID = ""
	}
	return publishAcked(ctx, js, events.Subject(e), body, msgID)
}

// publishAcked publishes until the server acknowledges (riding out up's
// restarts), with msgID as Nats-Msg-Id unless it is "".
func publishAcked(ctx context.Context, js jetstream.JetStream, subject string, body []byte, msgID string) error {
	for {
		var opts []jetstream.PublishOpt
		if msgID != "" {
			opts = append(opts, jetstream.WithMsgID(msgID))
		}
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.PublishMsg(c, &nats.Msg{Subject: subject, Data: body}, opts...)
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, nats.ErrMaxPayload) || ctx.Err() != nil {
			return fmt.Errorf("publish on %s: %w", subject, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ingestProgress is the ingest consumer's ack floor, the events stream's
// last sequence and the messages not yet delivered (zeros while the server
// does not answer).
func ingestProgress(ctx context.Context, js jetstream.JetStream) (floor, last, pending uint64) {
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(c, bus.EventsStream)
	if err != nil {
		return 0, 0, 0
	}
	si, err := s.Info(c)
	if err != nil {
		return 0, 0, 0
	}
	cons, err := s.Consumer(c, bus.IngestConsumer)
	if err != nil {
		return 0, si.State.LastSeq, 0
	}
	ci, err := cons.Info(c)
	if err != nil {
		return 0, si.State.LastSeq, 0
	}
	return ci.AckFloor.Stream, si.State.LastSeq, ci.NumPending + uint64(ci.NumAckPending)
}

var tokenRe = regexp.MustCompile(`chaosbad-[0-9]+`)

// readDeadLetterStream returns the dead-letter stream's messages by the
// token their body names.
func readDeadLetterStream(t *testing.T, ctx context.Context, js jetstream.JetStream) map[string][]*jetstream.RawStreamMsg {
	s, err := js.Stream(ctx, bus.DeadLetterStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	out := map[string][]*jetstream.RawStreamMsg{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		token := string(tokenRe.Find(m.Data[:min(len(m.Data), 4096)]))
		out[token] = append(out[token], m)
	}
	return out
}

// upProcess is `leakscope up`, killed and restarted; it keeps the peak
// resident memory (VmHWM) of each incarnation.
type upProcess struct {
	bin   string
	args  []string
	log   *os.File
	mu    sync.Mutex
	cmd   *exec.Cmd
	peaks []int64
}

func (u *upProcess) start(t *testing.T) {
	c := exec.Command(u.bin, u.args...)
	c.Stdout, c.Stderr = u.log, u.log
	require.NoError(t, c.Start())
	u.mu.Lock()
	u.cmd, u.peaks = c, append(u.peaks, 0)
	u.mu.Unlock()
}

// sample reads the running incarnation's VmRSS and VmHWM, keeps its peak
// and returns VmRSS (bytes); false when none runs or /proc does not answer.
func (u *upProcess) sample() (int64, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cmd == nil {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", u.cmd.Process.Pid))
	if err != nil {
		return 0, false
	}
	rss, hwm := procKB(b, "VmRSS"), procKB(b, "VmHWM")
	if rss < 0 || hwm < 0 { // exited, not yet waited for
		return 0, false
	}
	u.peaks[len(u.peaks)-1] = max(u.peaks[len(u.peaks)-1], hwm<<10)
	return rss << 10, true
}

func procKB(status []byte, field string) int64 {
	m := regexp.MustCompile(field + `:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// stop samples the memory a last time, sends sig and waits for the exit.
func (u *upProcess) stop(sig syscall.Signal) {
	u.sample()
	u.mu.Lock()
	c := u.cmd
	u.cmd = nil
	u.mu.Unlock()
	if c != nil {
		_ = c.Process.Signal(sig)
		_ = c.Wait()
	}
}

func (u *upProcess) peak() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	var p int64
	for _, v := range u.peaks {
		p = max(p, v)
	}
	return p
}

func mibs(bs []int64) []int64 {
	out := make([]int64, len(bs))
	for i, b := range bs {
		out[i] = b >> 20
	}
	return out
}

// waitHealthz waits until GET /healthz answers 200.
func waitHealthz(base string, within time.Duration) error {
	deadline := time.Now().Add(within)
	last := "no answer"
	for time.Now().Before(deadline) {
		r, err := http.Get(base + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", r.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("/healthz not 200 within %s: %s", within, last)
}

// sqlTally counts /api/sql answers and keeps those outside the bounds.
type sqlTally struct {
	mu       sync.Mutex
	codes    map[string]int // "200", "400 too many rows", …
	down     int            // requests that met no server (up was killed)
	failures []string
}

func (s *sqlTally) sortedCodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, v := range s.codes {
		out = append(out, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(out)
	return out
}

func (s *sqlTally) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.codes {
		n += v
	}
	return n
}

// hostileSQLClient posts statements of chaosSQL at random until ctx ends
// and checks each answer.
func hostileSQLClient(ctx context.Context, base string, r *rand.Rand, tally *sqlTally) {
	client := &http.Client{Timeout: 2 * time.Minute}
	for ctx.Err() == nil {
		st := chaosSQL[r.IntN(len(chaosSQL))]
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/sql", strings.NewReader(st.sql))
		if err != nil {
			panic(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				tally.mu.Lock()
				tally.down++
				tally.mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		resp.Body.Close()
		if rerr != nil { // up killed mid-answer
			continue
		}
		var out struct {
			Error string `json:"error"`
			Rows  []any  `json:"rows"`
		}
		jerr := json.Unmarshal(body, &out)
		key, bad := strconv.Itoa(resp.StatusCode), ""
		switch {
		case jerr != nil:
			bad = "not JSON: " + jerr.Error()
		case resp.StatusCode == http.StatusOK && !st.ok:
			bad = fmt.Sprintf("answered 200 with %d rows, %d bytes", len(out.Rows), len(body))
		case resp.StatusCode == http.StatusOK && len(out.Rows) > api.MaxSQLRows:
			bad = fmt.Sprintf("%d rows", len(out.Rows))
		case resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(out.Error, duck.ErrMemoryBusy.Error()):
			key += " memory busy" // a stated refusal: statements running at once hold DuckDB's memory
		case resp.StatusCode == http.StatusBadRequest:
			key += " " + errClass(out.Error)
			if out.Error == "" {
				bad = "400 without an error"
			} else if st.errs != nil && !containsAny(out.Error, st.errs) {
				bad = "unexpected error: " + out.Error
			}
		case resp.StatusCode != http.StatusOK:
			bad = fmt.Sprintf("status %d: %.300s", resp.StatusCode, bytes.TrimSpace(body))
		}
		tally.mu.Lock()
		tally.codes[key]++
		if bad != "" && ctx.Err() == nil {
			tally.failures = append(tally.failures, st.sql+": "+bad)
		}
		tally.mu.Unlock()
	}
}

// errClass names an /api/sql error by its first words.
func errClass(msg string) string {
	for _, c := range []string{"too many rows", "too large", "store_rejects", "Out of Memory", "ran too long"} {
		if strings.Contains(msg, c) {
			return c
		}
	}
	return strings.Join(strings.Fields(msg)[:min(4, len(strings.Fields(msg)))], " ")
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
