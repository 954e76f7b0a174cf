package events

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Review attack: a factor value holding '|' or ';' could be stored but
// never selected: --where cond=a|b reads a|b as the alternatives a or b,
// and an estimand's where= parameter splits filters at ';'. Such values
// are refused where they are declared, naming the factor.
func TestFactorValuesMayNotHoldScopeSeparators(t *testing.T) {
	for _, v := range []string{"a|b", "c;d", "|"} {
		err := Factors{"cond": v}.Validate("factors")
		var fe *FieldError
		require.ErrorAs(t, err, &fe, v)
		require.Equal(t, "factors.cond", fe.Field)
		require.Contains(t, fe.Reason, "must not contain | or ; (they separate alternatives and filters in --where)", v)
	}
	require.NoError(t, Factors{"cond": "a,b / c=d (e)"}.Validate("factors"))
}
