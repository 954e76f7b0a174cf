package events

import (
	"fmt"
	"strconv"
)

// Heartbeat is a worker's periodic sign of life while it works on a run:
// the live view warns when a worker's beats stop.
type Heartbeat struct {
	Worker string `json:"worker"`
	// Beat numbers the worker's heartbeats for this run (1, 2, …).
	Beat int `json:"beat"`
	// IntervalMS is how often the worker beats; a silence of twice this
	// means it has stalled.
	IntervalMS int `json:"interval_ms"`
	// Done is how many completions the worker has published for the run.
	Done int `json:"done"`
	// Status is "running" or "finished".
	Status string `json:"status"`
}

func (*Heartbeat) EventType() Type { return TypeHeartbeat }

func (h *Heartbeat) NaturalKey() []string { return []string{h.Worker, strconv.Itoa(h.Beat)} }

func (h *Heartbeat) Validate() error {
	switch {
	case h.Worker == "" || !printable(h.Worker):
		return fieldErr("", "worker", "is empty or not printable")
	case h.Beat < 1:
		return fieldErr("", "beat", "must be >= 1")
	case h.IntervalMS < 1:
		return fieldErr("", "interval_ms", "must be >= 1")
	case h.Done < 0:
		return fieldErr("", "done", "is negative")
	case h.Status != "running" && h.Status != "finished":
		return fieldErr("", "status", fmt.Sprintf("%q must be running or finished", h.Status))
	}
	return nil
}
