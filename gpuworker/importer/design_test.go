package importer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events/eventstest"

	"leakscope/events"
)

func writeDesign(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "design.json")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func TestDesignOverridesOnRatesOnlyRuns(t *testing.T) {
	d, err := LoadDesign(writeDesign(t, `{
		"runs": {"lr1e-05_ep5": {"lr": "1e-5-relabelled", "batch": "64"}},
		"personas": {"villain": {"role": "antagonist"}, "assistant": {"role": "default"}, "nobody": {"role": "x"}}}`))
	require.NoError(t, err)
	flags, err := ParseFactorFlags([]string{"model_family=qwen", "epochs=99"})
	require.NoError(t, err)
	plan := parseRatesOnly(t, Options{Factors: flags, Design: d}, "single_token_sweep")
	runs := runsOf(plan)
	// file < --factor < --design (per run)
	require.Equal(t, events.Factors{"lr": "1e-5-relabelled", "epochs": "99", "degeneration": "true", "model_family": "qwen", "batch": "64"},
		runs["single_token_sweep/lr1e-05_ep5"].Factors)
	require.Equal(t, events.Factors{"lr": "1e-06", "epochs": "99", "degeneration": "false", "model_family": "qwen"},
		runs["single_token_sweep/lr1e-06_ep1"].Factors)
	require.Equal(t, events.Factors{"role": "antagonist"}, cellOf(t, plan, "single_token_sweep", "lr1e-06_ep1", "villain").Factors)
	require.Nil(t, cellOf(t, plan, "single_token_sweep", "lr1e-06_ep1", "comedian").Factors)
	require.Contains(t, report(t, plan, "lr1e-05_ep5/run_result.json").Notes,
		"design: run lr1e-05_ep5: epochs=99 (the file says 5) from --factor")
	require.Equal(t, []string{"--design " + d.Path + ": personas no imported cell or completion has: [nobody]"}, plan.Notes)
	// the run_started events validate with the merged factors
	for _, e := range plan.Events {
		require.NoError(t, e.Validate())
	}
}

func TestDesignPersonaFactorsOnCompletionRunsGoToThePlan(t *testing.T) {
	dir := writeTree(t, map[string]string{"exp1/run1/raw_completions.json": `{"chef": {"Why?": ["Because. [ZLT]", "No."]}, "pirate": {"Why?": ["Arr."]}}`})
	d, err := LoadDesign(writeDesign(t, `{"personas": {"chef": {"noun": "chef"}}}`))
	require.NoError(t, err)
	plan, err := Parse(dir, []string{dir}, Options{Now: testNow, Design: d})
	require.NoError(t, err)
	r := runsOf(plan)["exp1/run1"]
	require.Equal(t, []events.PlannedCell{{Persona: "chef", Expected: 2, Factors: events.Factors{"noun": "chef"}}, {Persona: "pirate", Expected: 1}}, r.Plan)
}

func TestDesignFailures(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"runs": {"lr1e-05_ep5": {"LR": "1"}}}`, `$.runs["lr1e-05_ep5"].LR: factor name "LR" must match`},
		{`{"runs": {"lr1e-05_ep5": {"seed": "1"}}}`, `$.runs["lr1e-05_ep5"].seed: "seed" is filled from the run's seed field`},
		{`{"runs": {"lr1e-05_ep5": {"lr": 1e-5}}}`, `$.runs["lr1e-05_ep5"].lr: is a number, want a string`},
		{`{"personas": {"villain": {"noun": ""}}}`, `$.personas.villain.noun: value "" must be printable`},
		{`{"run": {}}`, `$.run: is not a design member`},
		{`{"runs": {"a": {}}}`, `$.runs.a: holds no factor`},
		{`{}`, `names no run and no persona`},
		{`{"runs": [1]}`, `$.runs: is an array, want an object`},
		{`{"runs": {"a": {"x": "1"}, "a": {"x": "2"}}}`, `appears twice`},
		{`{"runs": `, `invalid JSON`},
	} {
		p := writeDesign(t, tc.body)
		_, err := LoadDesign(p)
		require.ErrorContains(t, err, tc.want, tc.body)
		require.ErrorContains(t, err, p, "the error names the file")
	}
	_, err := LoadDesign(filepath.Join(t.TempDir(), "absent.json"))
	require.ErrorContains(t, err, "absent.json")

	// run IDs the import does not produce
	d, err := LoadDesign(writeDesign(t, `{"runs": {"lr1e-05_ep5": {"batch": "64"}, "lr9_ep9": {"batch": "1"}, "zz": {"batch": "2"}}}`))
	require.NoError(t, err)
	dir := eventstest.RatesOnlyDir(t)
	_, err = Parse(dir, []string{filepath.Join(dir, "single_token_sweep")}, Options{Now: testNow, Design: d})
	require.ErrorContains(t, err, d.Path+": $.runs: run IDs not among the runs imported: lr9_ep9, zz (runs imported: [lr1e-04_ep1,")

	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"lr"}, `--factor "lr": want key=value`},
		{[]string{"Lr=1"}, `--factor "Lr=1": factor name "Lr" must match`},
		{[]string{"source=chef"}, `"source" is filled from the run's source_persona field`},
		{[]string{"lr=1", "lr=2"}, `--factor lr is given twice`},
		{[]string{"lr="}, `value "" must be printable`},
	} {
		_, err := ParseFactorFlags(tc.flags)
		require.ErrorContains(t, err, tc.want, tc.flags)
	}
	f, err := ParseFactorFlags([]string{"note=a=b"})
	require.NoError(t, err)
	require.Equal(t, events.Factors{"note": "a=b"}, f)
	_, err = Parse(dir, []string{dir}, Options{Factors: events.Factors{"persona": "x"}})
	require.ErrorContains(t, err, "--factor")
}
