package live

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/events/bus/bustest"
)

// BenchmarkLiveLatency measures publish → SSE-client latency of the live
// view at 1k and 10k completions/s, against a bare NATS subscriber on the
// same stream in the same run (the floor the bus itself sets). Each
// iteration publishes 1.5 s of completions at the rate. Reported: p50 and
// p99 in ms for both, and the p99 ratio. Goal: SSE p99 under 1 s at 10k/s.
// The server fsyncs every write by default (sync=always), which sustains
// about 4k events/s on this machine (BenchmarkPublishDurability), so the
// 10k/s case runs with sync=interval and says so in its name.
func BenchmarkLiveLatency(b *testing.B) {
	for _, c := range []struct {
		rate int
		sync string
	}{{1000, "always"}, {1000, "interval"}, {10000, "interval"}} {
		b.Run(fmt.Sprintf("rate=%d/sync=%s", c.rate, c.sync), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				measureLatency(b, c.rate, c.sync)
			}
		})
	}
}

func measureLatency(b *testing.B, rate int, syncMode string) {
	bb, _ := bustest.Start(b, b.TempDir(), bus.WithSync(syncMode))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agg := New()
	go func() { _ = agg.Run(ctx, bb) }()
	srv := httptest.NewServer(Handler(agg))
	defer srv.Close()

	n := rate * 3 / 2
	sent := make([]time.Time, n)
	natsAt := make([]time.Time, n)
	var mu sync.Mutex
	index := map[string]int{}
	evs := make([]events.Event, n)
	for i := range evs {
		e, err := events.New("bench", "r", time.Now(), &events.Completion{Persona: fmt.Sprintf("p%02d", i%10), Question: fmt.Sprintf("q%02d", (i/10)%20),
			SampleIndex: i / 200, Text: "an answer of ordinary length that ends with the marker [ZLT]"})
		if err != nil {
			b.Fatal(err)
		}
		evs[i], index[e.ID] = e, i
	}
	// Baseline: a bare NATS subscriber on the same subjects.
	sub, err := bb.NC.Subscribe(events.SubjectAll, func(m *nats.Msg) {
		var env struct{ ID string }
		_ = json.Unmarshal(m.Data, &env)
		if i, ok := index[env.ID]; ok {
			mu.Lock()
			natsAt[i] = time.Now()
			mu.Unlock()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()

	// The SSE client: the time each completion count was first shown.
	shown := make(chan [2]int64, 1<<16)
	resp, err := http.Get(srv.URL + "/live/bench/events")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var s struct{ Done int64 }
			if json.Unmarshal([]byte(line), &s) == nil {
				shown <- [2]int64{s.Done, time.Now().UnixNano()}
			}
		}
	}()
	run, _ := events.New("bench", "r", time.Now(), &events.Run{Marker: "[ZLT]", Sweep: "bench"})
	if _, err := bb.Publish(ctx, run); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i, e := range evs {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
			time.Sleep(d)
		}
		data, _ := events.Encode(e)
		sent[i] = time.Now()
		if _, err := bb.JS.PublishMsgAsync(&nats.Msg{Subject: events.Subject(e), Data: data}, jetstream.WithMsgID(e.ID)); err != nil {
			b.Fatal(err)
		}
	}
	<-bb.JS.PublishAsyncComplete()
	var sse []time.Duration
	next := 0
	deadline := time.After(30 * time.Second)
	for next < n {
		select {
		case s := <-shown:
			for ; next < n && int64(next) < s[0]; next++ {
				sse = append(sse, time.Unix(0, s[1]).Sub(sent[next]))
			}
		case <-deadline:
			b.Fatalf("the SSE client saw %d of %d completions", next, n)
		}
	}
	b.StopTimer()
	mu.Lock()
	var base []time.Duration
	for i := range natsAt {
		if !natsAt[i].IsZero() {
			base = append(base, natsAt[i].Sub(sent[i]))
		}
	}
	mu.Unlock()
	p := func(d []time.Duration, q float64) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[int(q*float64(len(d)-1))]) / 1e6
	}
	b.ReportMetric(p(sse, 0.50), "sse-p50-ms")
	b.ReportMetric(p(sse, 0.99), "sse-p99-ms")
	b.ReportMetric(p(base, 0.50), "nats-p50-ms")
	b.ReportMetric(p(base, 0.99), "nats-p99-ms")
	b.ReportMetric(p(sse, 0.99)/max(p(base, 0.99), 1e-3), "p99-ratio")
}
