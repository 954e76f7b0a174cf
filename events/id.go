package events

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// NewID is the deterministic event ID: the first 128 bits, in hex, of
// SHA-256 over type, experiment, run and the payload's natural key, joined
// with the unit separator. Publishing the same fact twice gives the same ID,
// which the bus (Nats-Msg-Id), ingest and query use to drop the copy.
func NewID(experiment, runID string, p Payload) string {
	parts := append([]string{string(p.EventType()), experiment, runID}, p.NaturalKey()...)
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x1f")))
	return hex.EncodeToString(sum[:16])
}
