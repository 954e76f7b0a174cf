package events

import (
	"fmt"
	"strings"
	"time"
)

// Run mark actions: a run is taken back out of every analysis (retract),
// put back (restore), or labelled (tag / untag). Marks are events, so the
// log stays the truth: a run's state is its newest mark (by At).
const (
	MarkRetract = "retract"
	MarkRestore = "restore"
	MarkTag     = "tag"
	MarkUntag   = "untag"
)

// RunMark is the run_mark payload: a researcher's decision about a run
// that exists in the experiment (the run is the envelope's run_id).
type RunMark struct {
	// Action is retract, restore, tag or untag.
	Action string `json:"action"`
	// Tag is the label of a tag or untag; empty otherwise.
	Tag string `json:"tag,omitempty"`
	// Reason says why (required for a retraction: it is shown beside every
	// number the run no longer contributes to).
	Reason string `json:"reason,omitempty"`
	// At is when the decision was made; it orders marks and is part of the
	// event ID, so retract → restore → retract are three events.
	At time.Time `json:"at"`
	// By names who decided, when known.
	By string `json:"by,omitempty"`
}

func (*RunMark) EventType() Type { return TypeRunMark }

func (m *RunMark) NaturalKey() []string {
	return []string{m.Action, m.Tag, m.At.UTC().Format(time.RFC3339Nano)}
}

func (m *RunMark) Validate() error {
	switch m.Action {
	case MarkRetract, MarkRestore, MarkTag, MarkUntag:
	default:
		return fieldErr("", "action", fmt.Sprintf("%q must be retract, restore, tag or untag", m.Action))
	}
	isTag := m.Action == MarkTag || m.Action == MarkUntag
	switch {
	case isTag && (m.Tag == "" || !printable(m.Tag) || len(m.Tag) > 64 || strings.TrimSpace(m.Tag) != m.Tag):
		return fieldErr("", "tag", fmt.Sprintf("%q must be 1..64 printable bytes without surrounding spaces", m.Tag))
	case !isTag && m.Tag != "":
		return fieldErr("", "tag", "is only for tag and untag")
	case m.Action == MarkRetract && strings.TrimSpace(m.Reason) == "":
		return fieldErr("", "reason", "is empty: a retraction says why")
	case !printable(m.Reason) || len(m.Reason) > 1000:
		return fieldErr("", "reason", "must be printable and at most 1000 bytes")
	case m.At.IsZero():
		return fieldErr("", "at", "is missing")
	}
	return nil
}
