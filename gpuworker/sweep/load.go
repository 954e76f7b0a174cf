package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is a spec problem: the file, the line (0 when unknown), the key
// as a dotted path ("training.lora.r", "sources[1].negatives") and what is wrong.
type Error struct {
	File   string
	Line   int
	Key    string
	Reason string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", loc, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Reason)
}

// Load reads and validates a sweep file.
func Load(path string) (Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, err
	}
	return Parse(path, b)
}

// Parse decodes a sweep file over Default() (a key left out keeps its
// default; unknown keys are errors) and validates it. name labels errors.
func Parse(name string, data []byte) (Spec, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Spec{}, yamlErr(name, err)
	}
	if len(root.Content) == 0 {
		return Spec{}, &Error{File: name, Reason: "is empty"}
	}
	s := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return Spec{}, yamlErr(name, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return Spec{}, &Error{File: name, Line: more.Line, Reason: "holds a second YAML document (---): one sweep per file"}
	}
	// yaml.v3 truncates 1.5 into an int field without a word.
	if err := wholeNumbers(root.Content[0], reflect.TypeOf(s), ""); err != nil {
		err.File = name
		return Spec{}, err
	}
	if n := nullKey(root.Content[0], "eval", "adaptive"); n != nil {
		// "adaptive:" with every key commented out is YAML null: a silent
		// fixed-n sweep, not the defaults the writer meant.
		return Spec{}, &Error{File: name, Line: n.Line, Key: "eval.adaptive", Reason: "is empty (null): write `adaptive: {}` for the default rule, or remove the key for fixed n"}
	}
	if s.Experiment == "" {
		s.Experiment = s.Sweep
	}
	if err := s.Validate(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File, e.Line = name, lineOf(root.Content[0], e.Key)
		}
		return Spec{}, err
	}
	return s, nil
}

// wholeNumbers refuses a fractional number where the spec wants an integer.
func wholeNumbers(n *yaml.Node, t reflect.Type, path string) *Error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		fields := map[string]reflect.Type{}
		var collect func(t reflect.Type)
		collect = func(t reflect.Type) {
			for i := range t.NumField() {
				f := t.Field(i)
				tag := strings.Split(f.Tag.Get("yaml"), ",")
				if len(tag) > 1 && tag[1] == "inline" {
					collect(f.Type)
					continue
				}
				fields[tag[0]] = f.Type
			}
		}
		collect(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if ft, ok := fields[n.Content[i].Value]; ok {
				if err := wholeNumbers(n.Content[i+1], ft, strings.TrimPrefix(path+"."+n.Content[i].Value, ".")); err != nil {
					return err
				}
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if err := wholeNumbers(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Int, reflect.Int64:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!float" {
			return &Error{Line: n.Line, Key: path, Reason: fmt.Sprintf("%s is not a whole number", n.Value)}
		}
	}
	return nil
}

// unknownKeyRe rewrites yaml.v3's "field x not found in type sweep.LoRA".
var unknownKeyRe = regexp.MustCompile(`field (\S+) not found in type \S+`)

// yamlErr turns yaml.v3's "yaml: line 3: …" into name:3: ….
func yamlErr(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := unknownKeyRe.ReplaceAllString(te.Errors[0], "unknown key \"$1\" (sweep check --defaults lists every key)")
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if n, tail, ok := strings.Cut(rest, ": "); ok {
				line, _ := strconv.Atoi(n)
				return &Error{File: name, Line: line, Reason: tail}
			}
		}
		return &Error{File: name, Reason: msg}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			line, _ := strconv.Atoi(n)
			return &Error{File: name, Line: line, Reason: tail}
		}
	}
	return &Error{File: name, Reason: msg}
}

// lineOf finds the line of a dotted key path ("sources[1].negatives") in
// the document, or of its nearest ancestor that exists.
func lineOf(n *yaml.Node, key string) int {
	line := n.Line
	if key == "" {
		return line
	}
	for _, part := range strings.Split(key, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			name = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		next := (*yaml.Node)(nil)
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					next, line = n.Content[i+1], n.Content[i].Line
					break
				}
			}
		}
		if next == nil {
			return line
		}
		n = next
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

// nullKey returns the key node at path when its value is null.
func nullKey(n *yaml.Node, path ...string) *yaml.Node {
	for i, k := range path {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == k {
				if i == len(path)-1 && n.Content[j+1].Tag == "!!null" {
					return n.Content[j]
				}
				next = n.Content[j+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return nil
}
