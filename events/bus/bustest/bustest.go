// Package bustest starts a real, in-process NATS server with JetStream for
// tests, storing under a directory the test owns, and connects to it.
package bustest

import (
	"context"
	"testing"

	"leakscope/events/bus"
)

// Start runs an embedded server with its store in storeDir (use
// t.TempDir(), or the same dir again to simulate a restart) and returns a
// connected Bus; both are closed by t.Cleanup.
func Start(t testing.TB, storeDir string, opts ...bus.EmbeddedOption) (*bus.Bus, *bus.Embedded) {
	t.Helper()
	emb, err := bus.StartEmbedded(storeDir, "", opts...)
	if err != nil {
		t.Fatalf("start embedded NATS: %v", err)
	}
	b, err := bus.Connect(context.Background(), "", bus.DefaultConfig(), emb.ConnectOption())
	if err != nil {
		emb.Shutdown()
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		b.Close()
		emb.Shutdown()
	})
	return b, emb
}
