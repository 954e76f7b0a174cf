package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/query"
	"leakscope/query/figures"
)

// The figure lint (query/figures/lint.go) passes on every static figure
// that applies to each experiment of the fixtures: labelled axes with
// units, no code names, no overlapping labels, nothing outside the canvas,
// labels of 9 pt or more at the width of a two-column paper. (The
// synthetic demo's experiment, which needs no ../shared, is linted in
// TestSyntheticDemoRunsTheSpineWithoutFixtures.)
func TestStaticFiguresPassTheLint(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	names := lakeExperiments(t, e)
	var report []string
	linted := 0
	for _, x := range names {
		p, n := lintExperiment(t, e, x)
		report, linted = append(report, p...), linted+n
	}
	require.GreaterOrEqual(t, linted, 20, "the i81 set and the generic figures of the other experiments")
	require.Empty(t, report, "figure lint:\n%s", strings.Join(report, "\n"))
}

// lintExperiment lints every static figure that applies to experiment x
// and returns the problems ("x/figure: problem") and how many figures it
// linted. With $LEAKSCOPE_TEST_OUT set, the PNGs are kept there as test
// artefacts (figures/x/).
func lintExperiment(t *testing.T, e *query.Engine, x string) ([]string, int) {
	t.Helper()
	ctx := context.Background()
	ws, err := (&figures.Builder{Engine: e, Experiment: x}).Applicable(ctx)
	require.NoError(t, err, x)
	var report []string
	linted := 0
	for _, w := range ws {
		if w.Skipped != "" {
			continue
		}
		problems, err := (&figures.Builder{Engine: e, Experiment: x}).Lint(ctx, w.Name)
		if errors.Is(err, figures.ErrNotApplicable) {
			continue
		}
		require.NoError(t, err, "%s/%s", x, w.Name)
		linted++
		for _, p := range problems {
			report = append(report, x+"/"+w.Name+": "+p)
		}
		if out := os.Getenv("LEAKSCOPE_TEST_OUT"); out != "" {
			_, err := figures.Write(ctx, &figures.Builder{Engine: e, Experiment: x}, filepath.Join(out, "figures", x), []string{w.Name}, []string{"png"})
			require.NoError(t, err)
		}
	}
	return report, linted
}
