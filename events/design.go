package events

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Factors are named design factors: run-level ones on run_started (lr,
// epochs, neg_set, condition — any key the researcher names) and
// persona-level ones on a planned or imported cell (whatever the
// experiment's preset or plan declares: category, pair, …). Values are strings; an estimand that needs an order or a
// number parses them ("1e-4" < "5e-4"). Source persona and seed have their
// own fields on Run and are not repeated here.
type Factors map[string]string

// factorKeyRe keeps factor names usable as column names and in flags
// (--where lr=1e-4): lower-case letters, digits and '_', starting with a letter.
var factorKeyRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ReservedFactors are the names the design view fills from a run's own
// fields; a producer may not declare them as factors.
var ReservedFactors = map[string]string{
	"source": "source_persona", "seed": "seed", "sweep": "sweep", "run": "run_id", "persona": "persona",
}

// MaxFactors bounds the factors of one run or cell.
const MaxFactors = 64

// Validate reports the first bad factor as a field error under prefix
// ("factors" or "plan[3].factors").
func (f Factors) Validate(prefix string) error {
	if len(f) > MaxFactors {
		return fieldErr("", prefix, fmt.Sprintf("has %d factors, at most %d", len(f), MaxFactors))
	}
	for _, k := range f.Keys() {
		v := f[k]
		switch {
		case !factorKeyRe.MatchString(k):
			return fieldErr("", prefix+"."+k, fmt.Sprintf("factor name %q must match %s", k, factorKeyRe))
		case ReservedFactors[k] != "":
			return fieldErr("", prefix+"."+k, fmt.Sprintf("%q is filled from the run's %s field; do not declare it as a factor", k, ReservedFactors[k]))
		case v == "" || !printable(v) || len(v) > 256:
			return fieldErr("", prefix+"."+k, fmt.Sprintf("value %q must be printable and 1..256 bytes", v))
		case strings.ContainsAny(v, "|;"):
			// --where k=a|b and an estimand's where=k=a;j=b could never select it.
			return fieldErr("", prefix+"."+k, fmt.Sprintf("value %q must not contain | or ; (they separate alternatives and filters in --where)", v))
		}
	}
	return nil
}

// Keys returns the factor names, sorted.
func (f Factors) Keys() []string {
	out := make([]string, 0, len(f))
	for k := range f {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
