package importer

import "bytes"

// Python's json module writes NaN, Infinity and -Infinity as bare tokens,
// which are not JSON (cosine_leakage_filtered.json has "rho": NaN). So that
// such files can still be recognised, decodeJSON replaces these tokens
// outside strings with sentinel strings; every accessor rejects a sentinel
// with "is NaN (Python JSON)", so no NaN ever reaches an event.

const sentinelPrefix = "\x00py:"

var pyTokens = []string{"-Infinity", "Infinity", "NaN"}

type replacement struct{ at, delta int } // at: offset in the output; delta: bytes added

// sanitizePythonJSON returns data with bare NaN/Infinity tokens replaced, and
// the replacements made (nil when none).
func sanitizePythonJSON(data []byte) ([]byte, []replacement) {
	var out bytes.Buffer
	var reps []replacement
	inStr, esc := false, false
	for i := 0; i < len(data); i++ {
		b := data[i]
		if inStr {
			out.WriteByte(b)
			switch {
			case esc:
				esc = false
			case b == '\\':
				esc = true
			case b == '"':
				inStr = false
			}
			continue
		}
		if b == '"' {
			inStr = true
			out.WriteByte(b)
			continue
		}
		matched := false
		for _, tok := range pyTokens {
			if bytes.HasPrefix(data[i:], []byte(tok)) {
				s := `"\u0000py:` + tok + `"`
				reps = append(reps, replacement{at: out.Len(), delta: len(s) - len(tok)})
				out.WriteString(s)
				i += len(tok) - 1
				matched = true
				break
			}
		}
		if !matched {
			out.WriteByte(b)
		}
	}
	return out.Bytes(), reps
}

// originalOffset maps an offset in sanitized output back to the input.
func originalOffset(off int64, reps []replacement) int64 {
	for _, r := range reps {
		if int64(r.at) < off {
			off -= int64(r.delta)
		}
	}
	return off
}

// pyToken returns the Python token a sentinel stands for.
func pyToken(v any) (string, bool) {
	s, ok := v.(string)
	if !ok || len(s) <= len(sentinelPrefix) || s[:len(sentinelPrefix)] != sentinelPrefix {
		return "", false
	}
	return s[len(sentinelPrefix):], true
}
