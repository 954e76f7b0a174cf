package importer

import (
	"bytes"
	"encoding/json"
	"io"

	"leakscope/events"
)

// checkStrictJSON rejects what encoding/json accepts silently but a
// researcher would not want imported: text that is not UTF-8 or holds a
// lone UTF-16 surrogate escape such as \ud800 (Go would turn either into
// U+FFFD, renaming a persona) and duplicate object keys (Go keeps the last,
// dropping the first cell without a word). data must already be valid JSON.
func checkStrictJSON(data []byte) error {
	if off, why := events.BadTextOffset(data); off >= 0 {
		return errAt(syntaxPos(data, int64(off)), "%s", why)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		path   string
		isObj  bool
		keys   map[string]bool
		index  int
		expect bool // next string token in an object is a key
	}
	var stack []*frame
	push := func(path string, obj bool) {
		stack = append(stack, &frame{path: path, isObj: obj, keys: map[string]bool{}, expect: obj})
	}
	var pendingKey string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // syntax is decodeJSON's business
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		// A value's path: the key just read in an object, or the index in an array.
		valuePath := func() string {
			switch {
			case top == nil:
				return "$"
			case top.isObj:
				return jpath(top.path, pendingKey)
			default:
				p := jindex(top.path, top.index)
				top.index++
				return p
			}
		}
		if top != nil && top.isObj && top.expect {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			key := tok.(string)
			if top.keys[key] {
				return errAt(jpath(top.path, key), "appears twice in the same object (JSON keeps only the last)")
			}
			top.keys[key] = true
			pendingKey, top.expect = key, false
			continue
		}
		switch d := tok.(type) {
		case json.Delim:
			switch d {
			case '{', '[':
				p := valuePath()
				if top != nil && top.isObj {
					top.expect = true
				}
				push(p, d == '{')
			default:
				stack = stack[:len(stack)-1]
			}
		default:
			_ = valuePath()
			if top != nil && top.isObj {
				top.expect = true
			}
		}
	}
}
