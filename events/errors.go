package events

import (
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by Decode when the bytes are not a JSON envelope.
var ErrMalformed = errors.New("events: malformed event")

// ErrInvalid is matched (errors.Is) by every *FieldError.
var ErrInvalid = errors.New("events: invalid event")

// FieldError names the event type, the field (a JSON path such as
// "payload.sample_index") and what is wrong with it.
type FieldError struct {
	Type   Type
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	t := string(e.Type)
	if t == "" {
		t = "event"
	}
	return fmt.Sprintf("events: %s: field %q %s", t, e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func fieldErr(t Type, field, reason string) *FieldError {
	return &FieldError{Type: t, Field: field, Reason: reason}
}
