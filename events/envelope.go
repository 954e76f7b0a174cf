// Package events is leakscope's contract: the versioned JSON envelope, the
// event types GPU workers and importers publish, their subjects, validation
// and deterministic IDs. It imports nothing of leakscope's and no NATS code.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SchemaVersion is the envelope and payload schema version this code writes.
// Decoders accept every version listed in supportedVersions.
const SchemaVersion = 1

var supportedVersions = map[int]bool{1: true}

// Type names an event type; it is also the last token of the event's subject.
type Type string

// The event types of schema version 1.
const (
	TypeRunStarted     Type = "run_started"      // payload Run
	TypeCompletion     Type = "completion"       // payload Completion
	TypeCellAggregate  Type = "cell_aggregate"   // payload CellAggregate (imported found/total)
	TypeCoherenceScore Type = "coherence_score"  // payload CoherenceScore
	TypeCosine         Type = "cosine"           // payload Cosine (matrix or pair list)
	TypeRunFinished    Type = "run_finished"     // payload RunFinished
	TypeHeartbeat      Type = "worker_heartbeat" // payload Heartbeat
	TypeJobStatus      Type = "job_status"       // payload JobStatus (sweep jobs on GPU workers)
	TypeTrainingStep   Type = "training_step"    // payload TrainingStep (marker-LoRA loss curve)
	TypeEmbedding      Type = "embedding"        // payload Embedding (persona centroid)
	TypeStopDecision   Type = "stop_decision"    // payload StopDecision (adaptive sampling, one round)
	TypeRunMark        Type = "run_mark"         // payload RunMark (retract, restore, tag, untag a run)
	TypeRunPlanned     Type = "run_planned"      // payload RunPlanned (a sweep's run, declared at submission)
)

// Types lists every type in schema version 1, in a stable order.
var Types = []Type{TypeRunStarted, TypeCompletion, TypeCellAggregate, TypeCoherenceScore, TypeCosine, TypeRunFinished, TypeHeartbeat,
	TypeJobStatus, TypeTrainingStep, TypeEmbedding, TypeStopDecision, TypeRunMark, TypeRunPlanned}

// Envelope is the wire form of every event: JSON, one event per bus message.
// ID is deterministic (see NewID) and is sent as the Nats-Msg-Id header so
// the server drops re-publications inside its duplicate window; ingest and
// query drop the rest.
type Envelope struct {
	Type          Type            `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	ID            string          `json:"id"`
	Time          time.Time       `json:"time"`
	Experiment    string          `json:"experiment"`
	RunID         string          `json:"run_id"`
	Payload       json.RawMessage `json:"payload"`
}

// Event is a decoded, validated envelope with its typed payload: one of
// *Run, *Completion, *CellAggregate, *CoherenceScore, *Cosine, *RunFinished, *Heartbeat,
// *JobStatus, *TrainingStep, *Embedding, *StopDecision, *RunMark, *RunPlanned.
type Event struct {
	Type          Type
	SchemaVersion int
	ID            string
	Time          time.Time
	Experiment    string
	RunID         string
	Payload       Payload
}

// Payload is implemented by every event payload.
type Payload interface {
	// EventType is the type this payload travels as.
	EventType() Type
	// NaturalKey lists the fields, after experiment and run, that identify
	// the event: two events with the same key are the same fact.
	NaturalKey() []string
	// Validate reports the first invalid field as a *FieldError.
	Validate() error
}

// experimentRe keeps experiment names usable as a NATS subject token and as a
// hive partition value: at most 100 characters, so "experiment=<name>" is a
// valid file name everywhere (a longer one stopped ingest: ENAMETOOLONG).
var experimentRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$`)

// New builds a validated event with its deterministic ID. t is the event time
// (when the fact happened or, for imports, when it was imported).
func New(experiment, runID string, t time.Time, p Payload) (Event, error) {
	e := Event{Type: p.EventType(), SchemaVersion: SchemaVersion, Experiment: experiment, RunID: runID, Time: t.UTC(), Payload: p}
	e.ID = NewID(experiment, runID, p)
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// Validate checks the envelope fields and the payload; errors are *FieldError
// naming the field as a JSON path ("payload.sample_index").
func (e Event) Validate() error {
	switch {
	case e.Type == "":
		return fieldErr(e.Type, "type", "is empty")
	case !supportedVersions[e.SchemaVersion]:
		return fieldErr(e.Type, "schema_version", fmt.Sprintf("%d is not supported (supported: 1)", e.SchemaVersion))
	case e.ID == "":
		return fieldErr(e.Type, "id", "is empty")
	case e.Time.IsZero():
		return fieldErr(e.Type, "time", "is missing")
	case !experimentRe.MatchString(e.Experiment):
		return fieldErr(e.Type, "experiment", fmt.Sprintf("%q must match %s", e.Experiment, experimentRe))
	case e.RunID == "":
		return fieldErr(e.Type, "run_id", "is empty")
	case !printable(e.RunID):
		return fieldErr(e.Type, "run_id", fmt.Sprintf("%q holds control characters or is not UTF-8", e.RunID))
	case e.Payload == nil:
		return fieldErr(e.Type, "payload", "is missing")
	case e.Payload.EventType() != e.Type:
		return fieldErr(e.Type, "payload", fmt.Sprintf("holds a %s payload", e.Payload.EventType()))
	}
	if err := e.Payload.Validate(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Type = e.Type
			fe.Field = "payload." + fe.Field
			return fe
		}
		return err
	}
	return nil
}

// Encode returns the event's JSON envelope.
func Encode(e Event) ([]byte, error) {
	p, err := json.Marshal(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", e.Type, err)
	}
	return json.Marshal(Envelope{Type: e.Type, SchemaVersion: e.SchemaVersion, ID: e.ID, Time: e.Time, Experiment: e.Experiment, RunID: e.RunID, Payload: p})
}

// Decode parses and validates one JSON envelope. Errors are *FieldError when
// a field is missing, of the wrong JSON type or invalid, and ErrMalformed
// wrapped when the bytes are not a JSON object at all.
func Decode(data []byte) (Event, error) {
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Event{}, jsonErr("", "", err)
	}
	// encoding/json turns bytes that are not UTF-8 and lone surrogate
	// escapes into U+FFFD without a word: the stored text would differ
	// from what was sent, so the event is refused, naming the field.
	if off, why := BadTextOffset(data); off >= 0 {
		field := fieldAt(data, off)
		if field == "" {
			field = "(document)"
		}
		return Event{}, fieldErr(env.Type, field, why)
	}
	p, err := newPayload(env.Type)
	if err != nil {
		return Event{}, err
	}
	if len(env.Payload) == 0 || bytes.Equal(env.Payload, []byte("null")) {
		return Event{}, fieldErr(env.Type, "payload", "is missing")
	}
	if err := json.Unmarshal(env.Payload, p); err != nil {
		return Event{}, jsonErr(env.Type, "payload.", err)
	}
	e := Event{Type: env.Type, SchemaVersion: env.SchemaVersion, ID: env.ID, Time: env.Time, Experiment: env.Experiment, RunID: env.RunID, Payload: p}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	if want := NewID(e.Experiment, e.RunID, p); e.ID != want {
		return Event{}, fieldErr(e.Type, "id", fmt.Sprintf("%s is not the hash of the natural key (want %s)", e.ID, want))
	}
	return e, nil
}

// DecodeMessage is Decode for an event that arrived on subject: it also
// refuses an event travelling on another event's subject. Bus permissions
// are per subject (deploy/accounts.conf), so a producer allowed one subject
// must not store events of another type or experiment. Every consumer of
// the bus (ingest, the live view) decodes with it, so they agree on what
// is valid.
func DecodeMessage(subject string, data []byte) (Event, error) {
	e, err := Decode(data)
	if err != nil {
		return Event{}, err
	}
	if want := Subject(e); subject != want {
		return Event{}, fmt.Errorf("%w: subject %q does not match the event (a %s of experiment %q travels on %q)",
			ErrInvalid, subject, e.Type, e.Experiment, want)
	}
	return e, nil
}

func newPayload(t Type) (Payload, error) {
	switch t {
	case TypeRunStarted:
		return &Run{}, nil
	case TypeCompletion:
		return &Completion{}, nil
	case TypeCellAggregate:
		return &CellAggregate{}, nil
	case TypeCoherenceScore:
		return &CoherenceScore{}, nil
	case TypeCosine:
		return &Cosine{}, nil
	case TypeRunFinished:
		return &RunFinished{}, nil
	case TypeHeartbeat:
		return &Heartbeat{}, nil
	case TypeJobStatus:
		return &JobStatus{}, nil
	case TypeTrainingStep:
		return &TrainingStep{}, nil
	case TypeEmbedding:
		return &Embedding{}, nil
	case TypeStopDecision:
		return &StopDecision{}, nil
	case TypeRunMark:
		return &RunMark{}, nil
	case TypeRunPlanned:
		return &RunPlanned{}, nil
	case "":
		return nil, fieldErr("", "type", "is missing")
	}
	return nil, fieldErr(t, "type", fmt.Sprintf("%q is not a known event type", string(t)))
}

func jsonErr(t Type, prefix string, err error) error {
	var fe *FieldError // from a payload's own UnmarshalJSON (cell_legacy.go)
	if errors.As(err, &fe) {
		return fieldErr(t, prefix+fe.Field, fe.Reason)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fieldErr(t, prefix+te.Field, fmt.Sprintf("is JSON %s, want %s", te.Value, te.Type))
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// printable reports whether a name is UTF-8 without control characters,
// so it prints on one line in tables, CSV and subjects.
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// ValidExperiment reports whether name can be an experiment name: letters,
// digits, '_' and '-', starting with a letter or digit, at most 100 long.
func ValidExperiment(name string) bool { return experimentRe.MatchString(name) }
