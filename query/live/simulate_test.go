package live

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/eventstest"
)

func i81Cells(t *testing.T) []SimCell {
	f, err := os.Open(filepath.Join(eventstest.FixturesDir(t), "leakage_i81", "coherence_flags.csv"))
	require.NoError(t, err)
	defer f.Close()
	cells, err := ReadCellRates(f, "coherence_flags.csv")
	require.NoError(t, err)
	return cells
}

// The published i81 cells: 650 rows less the 95 zero-filled person rows.
func TestReadCellRatesI81(t *testing.T) {
	cells := i81Cells(t)
	require.Len(t, cells, 555)
	require.Equal(t, "person/A1__person__Openness__L3", cells[0].Key, "L1 and L2 of person are zero-filled")
}

func TestReadCellRatesErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "f.csv: header"},
		{"source,bystander_key,rate\n", `f.csv:1: no "coherence_mean" column`},
		{"source,bystander_key,rate,coherence_mean\nchef,A2__x,1.5,0.9\n", "f.csv:2: rate \"1.5\""},
		{"source,bystander_key,rate,coherence_mean\nchef,A2__x,0.1,0.9\nchef,A2__y,abc,0.9\n", "f.csv:3: rate \"abc\""},
		{"source,bystander_key,rate,coherence_mean\nperson,A2__x,0,\n", "f.csv: no cells"},
	} {
		_, err := ReadCellRates(strings.NewReader(c.in), "f.csv")
		require.ErrorContains(t, err, c.want)
	}
}

// Issue 11's goal on the published i81 rates: the default rule samples at
// least 40 % fewer completions than 200 per cell, and its reported
// intervals cover the true rate at least as often as fixed-n Wilson
// intervals (and at least the nominal 95 %).
func TestSimulateI81DefaultRuleSaves40Percent(t *testing.T) {
	cells := i81Cells(t)
	res, err := Simulate(cells, events.DefaultStoppingRule(20), 200, 40, 7)
	require.NoError(t, err)
	require.Equal(t, int64(200*555*40), res.FixedSamples)
	require.GreaterOrEqual(t, res.Saved, 0.40, "%+v", res)
	require.GreaterOrEqual(t, res.Coverage, 0.95)
	require.GreaterOrEqual(t, res.Coverage, res.FixedCoverage)
	require.InDelta(t, 0.95, res.FixedCoverage, 0.02, "Wilson at n=200 is near nominal")
	// also where coverage is not free (true rate above 0)
	require.GreaterOrEqual(t, res.CoverageNonZero, 0.95)
	require.GreaterOrEqual(t, res.CoverageNonZero, res.FixedCoverageNonZero)
	var stopped int64
	for _, n := range res.Reasons {
		stopped += n
	}
	require.Equal(t, int64(555*40), stopped)
	// Same seed, same numbers.
	again, err := Simulate(cells, events.DefaultStoppingRule(20), 200, 40, 7)
	require.NoError(t, err)
	require.Equal(t, res, again)
}

// A rule that can never stop early samples max_n everywhere: no saving.
func TestSimulateNoEarlyStop(t *testing.T) {
	rule := events.DefaultStoppingRule(20)
	rule.HalfWidth, rule.Below, rule.Above = 0.0001, 0, 0
	res, err := Simulate([]SimCell{{"a", 0.1}, {"b", 0.5}}, rule, 200, 5, 1)
	require.NoError(t, err)
	require.Equal(t, 0.0, res.Saved)
	require.Equal(t, int64(10), res.Reasons[events.StopMaxN])
	_, err = Simulate(nil, rule, 200, 5, 1)
	require.Error(t, err)
	rule.Alpha = 2
	_, err = Simulate([]SimCell{{"a", 0.1}}, rule, 200, 5, 1)
	require.ErrorContains(t, err, "stopping.alpha")
}
