package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// LegacyCellFields are the JSON fields a cell_aggregate payload carried
// before its design factors became generic (issue 17): each held one
// persona factor of the first imported experiment, under the factor's own
// name. Producers no longer write them; each is now a key of factors.
//
// The log is the truth and old events are replayed (a stream re-read by a
// new ingest, a saved log imported again), so Decode still reads them and
// folds each non-empty one into Factors. The schema version stays 1: an
// event written now is one the first decoders read the same way (they
// took these fields as factors too, beside factors).
var LegacyCellFields = []string{"kind", "noun", "trait", "level"}

// UnmarshalJSON reads a cell_aggregate payload of either form: a legacy
// field becomes the factor of the same name. A payload that gives a legacy
// field and a factor of that name with another value is refused with a
// *FieldError ("factors.<name>"): which one the producer meant is unknown.
func (c *CellAggregate) UnmarshalJSON(b []byte) error {
	type plain CellAggregate // the same fields, without this method
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	// The object's keys as encoding/json saw them (escapes undone). The
	// first decoders matched field names case-insensitively, as
	// encoding/json does, so "Noun" was the noun field too.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	legacy := map[string]string{} // legacy name → value
	for key, v := range raw {
		name := legacyName(key)
		if name == "" || bytes.Equal(v, []byte("null")) {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fieldErr("", key, fmt.Sprintf("is JSON %s, want string (a legacy factor field)", v))
		}
		if s == "" { // the first encoders omitted empty ones: an empty one names no factor
			continue
		}
		if old, ok := legacy[name]; ok && old != s {
			return fieldErr("", key, fmt.Sprintf("%q conflicts with %q given under another spelling of %q", s, old, name))
		}
		legacy[name] = s
	}
	for _, name := range LegacyCellFields {
		s, ok := legacy[name]
		if !ok {
			continue
		}
		if old, ok := p.Factors[name]; ok && old != s {
			return fieldErr("", "factors."+name, fmt.Sprintf("%q conflicts with the legacy field %q = %q: give the factor once", old, name, s))
		}
		if p.Factors == nil {
			p.Factors = Factors{}
		}
		p.Factors[name] = s
	}
	*c = CellAggregate(p)
	return nil
}

// legacyName is the legacy field a JSON key names ("" for none).
func legacyName(key string) string {
	for _, name := range LegacyCellFields {
		if strings.EqualFold(key, name) {
			return name
		}
	}
	return ""
}
