package bus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"leakscope/events"
)

// BenchmarkPublishDurability publishes 5,000 completion events (async, then
// all acks awaited) to an embedded server that fsyncs every write, and to
// one that fsyncs every 2 minutes (the server's default), in the same run.
// Reported: events/s for each; the ratio always/interval is the price of
// surviving a power loss without losing an acknowledged event.
func BenchmarkPublishDurability(b *testing.B) {
	evs := make([]events.Event, 5000)
	for i := range evs {
		e, err := events.New("bench", "r", time.Now(), &events.Completion{Persona: "p", Question: fmt.Sprint(i / 10), SampleIndex: i % 10,
			Text: "an answer of ordinary length that ends with the marker [ZLT]"})
		if err != nil {
			b.Fatal(err)
		}
		evs[i] = e
	}
	rate := map[string]float64{}
	for _, mode := range []string{"interval", "always"} {
		b.Run("sync="+mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				emb, err := StartEmbedded(b.TempDir(), "", WithSync(mode))
				if err != nil {
					b.Fatal(err)
				}
				bb, err := Connect(context.Background(), "", DefaultConfig(), emb.ConnectOption())
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, err := bb.PublishAll(context.Background(), evs, nil); err != nil {
					b.Fatal(err)
				}
				rate[mode] = float64(len(evs)) / time.Since(start).Seconds()
				b.ReportMetric(rate[mode], "events/s")
				bb.Close()
				emb.Shutdown()
			}
		})
	}
	if rate["interval"] > 0 {
		b.Logf("sync=always publishes at %.2f× the rate of sync=interval", rate["always"]/rate["interval"])
	}
}
