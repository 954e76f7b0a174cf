package events

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"
)

// BadTextOffset finds text that encoding/json would change without a word:
// a byte sequence that is not UTF-8, or a \uD800–\uDFFF escape that is not
// half of a surrogate pair (both decode as U+FFFD, so a stored persona or
// completion would differ from what was sent). It returns the byte offset
// of the first such place in data and what is wrong, or -1 and "" when the
// text is sound. data is a JSON document; its syntax is not checked here.
func BadTextOffset(data []byte) (int, string) {
	inStr, esc := false, false
	for i := 0; i < len(data); {
		b := data[i]
		if b >= utf8.RuneSelf {
			if r, n := utf8.DecodeRune(data[i:]); r == utf8.RuneError && n <= 1 {
				return i, "is not UTF-8 text"
			} else {
				i += n
			}
			esc = false
			continue
		}
		switch {
		case !inStr:
			inStr = b == '"'
		case esc:
			esc = false
			if b == 'u' {
				if u, ok := hex4(data, i+1); ok && u >= 0xD800 && u <= 0xDFFF {
					low, ok := uint64(0), false
					if u <= 0xDBFF && i+6 < len(data) && data[i+5] == '\\' && data[i+6] == 'u' {
						low, ok = hex4(data, i+7)
					}
					if !ok || low < 0xDC00 || low > 0xDFFF {
						return i - 1, "holds a lone UTF-16 surrogate escape (\\u" + string(data[i+1:i+5]) + "), which is not a character"
					}
					i += 11 // past the pair: u + 4 hex, \u + 4 hex
					continue
				}
			}
		case b == '\\':
			esc = true
		case b == '"':
			inStr = false
		}
		i++
	}
	return -1, ""
}

func hex4(data []byte, at int) (uint64, bool) {
	if at+4 > len(data) {
		return 0, false
	}
	u, err := strconv.ParseUint(string(data[at:at+4]), 16, 16)
	return u, err == nil
}

// fieldAt returns the JSON path ("payload.text", "payload.hits[2].span")
// of the value or key that holds byte offset off of a JSON document, or ""
// when the document does not parse that far.
func fieldAt(data []byte, off int) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		path  string
		obj   bool
		index int
		key   bool // the next string in this object is a key
	}
	var stack []*frame
	pending := ""
	child := func(top *frame) string {
		if top == nil {
			return ""
		}
		if top.obj {
			return pending
		}
		p := top.path + "[" + strconv.Itoa(top.index) + "]"
		top.index++
		return p
	}
	join := func(base, key string) string {
		if base == "" {
			return key
		}
		return base + "." + key
	}
	for {
		start := int(dec.InputOffset())
		tok, err := dec.Token()
		if err == io.EOF || err != nil {
			return ""
		}
		end := int(dec.InputOffset())
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			key, _ := tok.(string)
			pending, top.key = join(top.path, key), false
			if off >= start && off < end {
				return pending
			}
			continue
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				p := child(top)
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{path: p, obj: d == '{', key: d == '{'})
			} else {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		p := child(top)
		if top != nil && top.obj {
			top.key = true
		}
		if off >= start && off < end {
			return p
		}
	}
}
