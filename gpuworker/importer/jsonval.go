package importer

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
)

// jv is a decoded JSON value together with its JSON path, so every accessor
// error names where in the file it happened.
type jv struct {
	v    any
	path string
}

// absent is the value of a missing object member.
type absent struct{}

func root(v any) jv { return jv{v: v, path: "$"} }

func typeName(v any) string {
	if tok, ok := pyToken(v); ok {
		return tok + " (Python's non-standard JSON)"
	}
	switch v.(type) {
	case absent:
		return "missing"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "an unknown value"
}

func (n jv) wrong(want string) error {
	if _, ok := n.v.(absent); ok {
		return errAt(n.path, "is missing (want %s)", want)
	}
	return errAt(n.path, "is %s, want %s", typeName(n.v), want)
}

func (n jv) present() bool { _, ok := n.v.(absent); return !ok }

func (n jv) obj() (map[string]any, error) {
	m, ok := n.v.(map[string]any)
	if !ok {
		return nil, n.wrong("an object")
	}
	return m, nil
}

func (n jv) isObj() bool { _, ok := n.v.(map[string]any); return ok }

// get returns member key; a missing member is absent (its accessors fail
// with "is missing"). get on a non-object is absent as well.
func (n jv) get(key string) jv {
	p := jpath(n.path, key)
	if m, ok := n.v.(map[string]any); ok {
		if v, ok := m[key]; ok {
			return jv{v: v, path: p}
		}
	}
	return jv{v: absent{}, path: p}
}

// has reports whether n is an object with member key.
func (n jv) has(key string) bool {
	m, ok := n.v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[key]
	return ok
}

// keys returns the object's member names, sorted (Go maps forget file order,
// so events from objects come in key order).
func (n jv) keys() ([]string, error) {
	m, err := n.obj()
	if err != nil {
		return nil, err
	}
	return sortedKeys(m), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (n jv) arr() ([]jv, error) {
	a, ok := n.v.([]any)
	if !ok {
		return nil, n.wrong("an array")
	}
	out := make([]jv, len(a))
	for i, v := range a {
		out[i] = jv{v: v, path: jindex(n.path, i)}
	}
	return out, nil
}

func (n jv) str() (string, error) {
	s, ok := n.v.(string)
	if _, py := pyToken(n.v); !ok || py {
		return "", n.wrong("a string")
	}
	return s, nil
}

func (n jv) num() (float64, error) {
	f, ok := n.v.(float64)
	if !ok {
		return 0, n.wrong("a number")
	}
	return f, nil
}

func (n jv) boolean() (bool, error) {
	b, ok := n.v.(bool)
	if !ok {
		return false, n.wrong("a boolean")
	}
	return b, nil
}

// integer accepts a JSON number with no fractional part.
func (n jv) integer() (int, error) {
	f, ok := n.v.(float64)
	if !ok {
		return 0, n.wrong("an integer")
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, errAt(n.path, "%v is not an integer", f)
	}
	return int(f), nil
}

// fraction reads a rate: a number in [0,1] (never percentage points).
func (n jv) fraction() (float64, error) {
	f, err := n.num()
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || f < 0 || f > 1 {
		return 0, errAt(n.path, "%v is outside [0,1] (rates are fractions)", f)
	}
	return f, nil
}

// count reads a non-negative integer.
func (n jv) count() (int, error) {
	i, err := n.integer()
	if err != nil {
		return 0, err
	}
	if i < 0 {
		return 0, errAt(n.path, "%d is negative", i)
	}
	return i, nil
}

// rawMember returns top-level member key of a JSON object document as
// compacted raw JSON, or nil when absent.
func rawMember(data []byte, key string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	raw, ok := m[key]
	if !ok {
		return nil
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return nil
	}
	return buf.Bytes()
}

// checkRate fails when rate is not found/total within 1e-6.
func checkRate(pos string, rate float64, found, total int) error {
	if total <= 0 {
		return errAt(pos, "total %d must be positive", total)
	}
	if found > total {
		return errAt(pos, "found %d exceeds total %d", found, total)
	}
	if math.Abs(rate-float64(found)/float64(total)) > 1e-6 {
		return errAt(pos, "rate %v disagrees with found/total = %d/%d", rate, found, total)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
