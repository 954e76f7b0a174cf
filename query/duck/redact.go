package duck

import "strings"

// lakeShown stands for the absolute lake directory in what users see:
// settings (allowed_directories), view definitions and error messages
// would otherwise tell them where the server keeps its data.
const lakeShown = "<lake>"

// redactErr is err with the absolute lake path shown as lakeShown; it
// still matches the errors err wraps (errors.Is).
func (d *DB) redactErr(err error) error {
	if err == nil || !strings.Contains(err.Error(), d.lake) {
		return err
	}
	return redacted{msg: strings.ReplaceAll(err.Error(), d.lake, d.shownAs()), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r redacted) Error() string { return r.msg }
func (r redacted) Unwrap() error { return r.err }

// redactValue is v with the absolute lake path shown as lakeShown in every
// string it holds (lists and structs included).
func (d *DB) redactValue(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, d.lake, d.shownAs())
	case []any:
		for i, e := range x {
			x[i] = d.redactValue(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = d.redactValue(e)
		}
	}
	return v
}

// shownAs is what the absolute directory is shown as: lakeShown for a
// lake, "." for a folder opened with OpenFolder.
func (d *DB) shownAs() string {
	if d.shown != "" {
		return d.shown
	}
	return lakeShown
}
