package importer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// FileError is the error Parse returns for any file it cannot import: an
// unknown shape, invalid JSON or CSV, a field of the wrong type, numbers that
// disagree with each other, or an event that fails events validation.
//
// Pos locates the problem inside the file:
//   - a JSON path such as `$.per_persona.villain.strict_hits` or `$[17].completion`;
//   - `line 17, column "rate"` for CSV (line 1 is the header);
//   - `line 3, col 14 (byte 57)` for JSON syntax errors;
//   - empty when the whole file is concerned.
type FileError struct {
	Path string
	Pos  string
	Err  error
}

func (e *FileError) Error() string {
	if e.Pos == "" {
		return fmt.Sprintf("import: %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("import: %s: %s: %v", e.Path, e.Pos, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// posError is an error located inside the file being parsed; Parse turns it
// into a *FileError once the file path is known.
type posError struct {
	Pos string
	Err error
}

func (e *posError) Error() string { return e.Pos + ": " + e.Err.Error() }
func (e *posError) Unwrap() error { return e.Err }

func errAt(pos, format string, args ...any) error {
	return &posError{Pos: pos, Err: fmt.Errorf(format, args...)}
}

// ErrUnknownShape is matched (errors.Is) by the error for a JSON file whose
// shape no format recognises.
var ErrUnknownShape = errors.New("unknown shape")

func unknownShape(pos, format string, args ...any) error {
	return &posError{Pos: pos, Err: fmt.Errorf("%w"+strings.TrimPrefix(format, "unknown shape"), append([]any{ErrUnknownShape}, args...)...)}
}

// wrapAt locates err at pos unless it is already located.
func wrapAt(pos string, err error) error {
	var pe *posError
	if errors.As(err, &pe) {
		return err
	}
	return &posError{Pos: pos, Err: err}
}

// fileErr turns any parse error into a *FileError for path.
func fileErr(path string, err error) *FileError {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe
	}
	var pe *posError
	if errors.As(err, &pe) {
		return &FileError{Path: path, Pos: pe.Pos, Err: pe.Err}
	}
	return &FileError{Path: path, Err: err}
}

// syntaxPos converts a JSON syntax error's byte offset into "line L, col C (byte O)".
// Lines and columns are 1-based; the column counts bytes.
func syntaxPos(data []byte, offset int64) string {
	if offset < 0 {
		offset = 0
	}
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line, col := 1, 1
	for _, b := range data[:offset] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, col %d (byte %d)", line, col, offset)
}

// decodeJSON parses data into generic values (objects, arrays, float64,
// string, bool, nil). Syntax errors, including truncation, are located by
// line and column.
func decodeJSON(data []byte) (any, error) {
	// A UTF-8 byte order mark (Windows editors) is not JSON; it becomes
	// blanks, so positions stay those of the file's bytes.
	if bytes.HasPrefix(data, []byte("\ufeff")) {
		data = append([]byte("   "), data[3:]...)
	}
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return v, checkStrictJSON(data)
	}
	clean, reps := sanitizePythonJSON(data)
	if reps != nil {
		if err = json.Unmarshal(clean, &v); err == nil {
			return v, checkStrictJSON(clean)
		}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return nil, errAt(syntaxPos(data, originalOffset(se.Offset, reps)), "invalid JSON: %v", se)
	}
	// A number beyond float64 (1e400) is the only type error decoding into
	// generic values can give; its offset is a little past the number.
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		off := originalOffset(te.Offset, reps)
		if i := bytes.LastIndex(data[:min(int(off), len(data))], []byte(strings.TrimPrefix(te.Value, "number "))); i >= 0 {
			off = int64(i)
		}
		return nil, errAt(syntaxPos(data, off), "%s is out of range: it does not fit a 64-bit float", te.Value)
	}
	return nil, errAt("", "invalid JSON: %v", err)
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// jpath appends an object key to a JSON path: `.key` for identifier-like keys,
// `["key with spaces"]` otherwise.
func jpath(base, key string) string {
	if identRe.MatchString(key) {
		return base + "." + key
	}
	return base + "[" + strconv.Quote(key) + "]"
}

// jindex appends an array index to a JSON path.
func jindex(base string, i int) string { return base + "[" + strconv.Itoa(i) + "]" }

// csvPos is the position of one CSV field.
func csvPos(line int, column string) string {
	if column == "" {
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("line %d, column %q", line, column)
}

// keyList renders at most n keys for error messages.
func keyList(keys []string, n int) string {
	if len(keys) <= n {
		return "[" + strings.Join(keys, ", ") + "]"
	}
	return "[" + strings.Join(keys[:n], ", ") + fmt.Sprintf(", … %d more]", len(keys)-n)
}
