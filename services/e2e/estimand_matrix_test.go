package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/presets/i81"
	"leakscope/query"
	"leakscope/query/estimands"
)

// i81Names are #81 persona spellings that must never appear in another
// experiment's error (issue 17: "no #81 name in another experiment's error").
var i81Names = []string{"src_person", "src_chef", "src_pirate", "src_child", "src_robot", "A1__", "A2__", "i81"}

// Every estimand × every fixture experiment: a result whose JSON holds no
// NaN or Inf, or an error of a known kind that names what is missing —
// never a panic, never a #81 name in another experiment's error.
// lakeExperiments lists the experiments e's lake holds, sorted.
func lakeExperiments(t *testing.T, e *query.Engine) []string {
	t.Helper()
	runs, err := e.Runs(context.Background(), "")
	require.NoError(t, err)
	exps := map[string]bool{}
	for _, r := range runs {
		exps[r.Experiment] = true
	}
	var names []string
	for x := range exps {
		names = append(names, x)
	}
	sort.Strings(names)
	return names
}

func TestEveryEstimandOnEveryExperiment(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	ctx := context.Background()
	names := lakeExperiments(t, e)
	require.GreaterOrEqual(t, len(names), 8, "the fixture experiments: %v", names)
	results, refusals := 0, 0
	for _, x := range names {
		for _, est := range estimands.List() {
			params := map[string]string{}
			if x == "persona_cosine_centered" && est.Name == "cell-rates" {
				continue // a cosine matrix alone: no rate to show (asserted below)
			}
			if est.Name == "permutation" || est.Name == "axis-permutation" || est.Name == "factor-permutation" {
				params["permutations"] = "200" // the matrix checks shapes, not p-values
			}
			res, err := estimands.Run(ctx, e, est.Name, x, params)
			if err != nil {
				refusals++
				require.True(t, errors.Is(err, estimands.ErrNoData) || errors.Is(err, estimands.ErrBadParam) || errors.Is(err, estimands.ErrScope),
					"%s on %s: an unexpected kind of error: %v", est.Name, x, err)
				if x != "leakage_i81" {
					for _, n := range i81Names {
						require.NotContains(t, err.Error(), n, "%s on %s names a #81 persona: %v", est.Name, x, err)
					}
				}
				if len(est.Needs) > 0 && x != "leakage_i81" && !strings.Contains(err.Error(), "has no run") && !strings.Contains(err.Error(), "cosine") {
					require.Contains(t, err.Error(), "needs persona factors", "%s on %s: the refusal names the missing factors", est.Name, x)
				}
				require.NotEqual(t, "cell-rates", est.Name, "cell-rates answers on every experiment with a rate (%s: %v)", x, err)
				switch noRate := strings.Contains(err.Error(), "has no cell with a rate"); {
				case noRate:
				case est.Name == "factor-interaction" || est.Name == "factor-head-to-head" || est.Name == "factor-swap":
					require.Contains(t, err.Error(), "name the two factors (factors here:", "%s on %s without a and b lists the factors to pick", est.Name, x)
				case est.Name == "factor-ranking" || est.Name == "factor-permutation":
					require.Contains(t, err.Error(), "name the factor whose values are compared (factors here:", "%s on %s without a lists the factors to pick", est.Name, x)
				case est.Name == "near-twin-pairs":
					require.Contains(t, err.Error(), `needs the pairing factor "pair"`, "%s on %s names the missing factor", est.Name, x)
				}
				t.Logf("%-20s %-50s refused: %v", est.Name, x, firstLine(err.Error()))
				continue
			}
			results++
			b, err := json.Marshal(res)
			require.NoError(t, err, "%s on %s: the result must encode (no NaN or Inf)", est.Name, x)
			require.NotContains(t, string(b), "NaN", "%s on %s", est.Name, x)
			t.Logf("%-20s %-50s %d rows", est.Name, x, len(res.Rows))
		}
	}
	// The #81 preset's parameterisations of the generic two-factor
	// estimands: a result on leakage_i81 (and on any experiment that
	// declares noun, trait and level), elsewhere a refusal naming the
	// factor the design lacks — never an #81 persona.
	preset := map[string]map[string]string{
		"factor-interaction":  {"a": "noun", "b": "trait+level", "by": "source"},
		"factor-head-to-head": {"a": "noun", "b": "trait+level", "b_ref": estimands.RefAbsent, "by": "source", "holding": ""},
	}
	// and of factor-ranking, factor-swap and factor-permutation, as the
	// preset's file gives them (trait-ranking, symmetric-swap, axis-permutation).
	for _, pz := range i81.Preset.Parameterisations {
		params := map[string]string{}
		for k, v := range pz.Params {
			params[k] = v
		}
		if pz.Estimand == "factor-permutation" {
			params["permutations"] = "200"
		}
		preset[pz.Estimand] = params
	}
	require.Len(t, preset, 5)
	for _, x := range names {
		for name, params := range preset {
			res, err := estimands.Run(ctx, e, name, x, params)
			if x == "leakage_i81" {
				require.NoError(t, err, "%s on %s", name, x)
			}
			if err != nil && strings.Contains(err.Error(), "has no cell with a rate") {
				continue // asserted above
			}
			if err != nil {
				require.ErrorIs(t, err, estimands.ErrBadParam, "%s on %s", name, x)
				require.Regexp(t, `factor "(noun|trait|level|source)" is not in this experiment's design`, err.Error(), "%s on %s", name, x)
				for _, n := range i81Names {
					require.NotContains(t, err.Error(), n, "%s on %s names a #81 persona: %v", name, x, err)
				}
				t.Logf("%-20s %-50s preset refused: %v", name, x, firstLine(err.Error()))
				continue
			}
			b, err := json.Marshal(res)
			require.NoError(t, err, "%s on %s", name, x)
			require.NotContains(t, string(b), "NaN", "%s on %s", name, x)
			require.NotEmpty(t, res.Rows, "%s on %s", name, x)
			t.Logf("%-20s %-50s preset %d rows", name, x, len(res.Rows))
		}
	}

	_, err := estimands.Run(ctx, e, "cell-rates", "persona_cosine_centered", nil)
	require.ErrorIs(t, err, estimands.ErrNoData, "an experiment of cosines only has no cell rates")
	t.Logf("%d results, %d refusals over %d experiments × %d estimands", results, refusals, len(names), len(estimands.List()))
	require.Greater(t, results, len(names), "most experiments answer more than one estimand")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return fmt.Sprint(s)
}
