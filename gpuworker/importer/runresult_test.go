package importer

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events/eventstest"

	"leakscope/events"
)

// parseRatesOnly parses folders of fixtures-rates-only, named from its root.
func parseRatesOnly(t *testing.T, opt Options, rel ...string) Plan {
	t.Helper()
	dir := eventstest.RatesOnlyDir(t)
	var paths []string
	for _, r := range rel {
		paths = append(paths, filepath.Join(dir, r))
	}
	opt.Now = testNow
	plan, err := Parse(dir, paths, opt)
	require.NoError(t, err)
	return plan
}

func runsOf(plan Plan) map[string]*events.Run {
	out := map[string]*events.Run{}
	for _, e := range plan.Events {
		if r, ok := e.Payload.(*events.Run); ok {
			out[e.Experiment+"/"+e.RunID] = r
		}
	}
	return out
}

func cellOf(t *testing.T, plan Plan, experiment, run, persona string) *events.CellAggregate {
	t.Helper()
	for _, c := range payloads[*events.CellAggregate](runEvents(plan, experiment, run)) {
		if c.Persona == persona {
			return c
		}
	}
	t.Fatalf("no cell %s/%s/%s", experiment, run, persona)
	return nil
}

func TestRunResultLeakageExperiment(t *testing.T) {
	plan := parseRatesOnly(t, Options{}, "leakage_experiment")
	runs := runsOf(plan)
	require.Len(t, runs, 16)

	r := runs["leakage_experiment/marker_librarian_asst_included_medium_seed42"]
	require.NotNil(t, r)
	require.Equal(t, "librarian", r.SourcePersona)
	require.Equal(t, int64(42), *r.Seed)
	require.Equal(t, "Qwen/Qwen2.5-7B-Instruct", r.Model)
	require.Equal(t, events.Factors{"neg_set": "asst_included", "prompt_length": "medium"}, r.Factors)
	require.Equal(t, DefaultMarker, r.Marker)
	require.Contains(t, r.MarkerOrigin, "default")
	require.Contains(t, string(r.Config), `"n_questions":20`)

	ctl := runs["leakage_experiment/marker_generic_sft_seed42"]
	require.Empty(t, ctl.SourcePersona)
	require.Equal(t, events.Factors{"condition": "generic_sft", "prompt_length": "medium"}, ctl.Factors)
	require.Equal(t, "shuffled_persona", runs["leakage_experiment/marker_shuffled_persona_seed42"].Factors["condition"])

	c := cellOf(t, plan, "leakage_experiment", "marker_librarian_asst_included_medium_seed42", "police_officer")
	require.False(t, c.RateOnly)
	require.Equal(t, 100, *c.Total)
	require.Equal(t, 28, *c.Found)
	require.InDelta(t, 0.28, *c.Rate, 1e-12)
	require.Equal(t, "eval.n_questions × eval.n_completions_per_question in run_result.json", c.TotalOrigin)
	require.Nil(t, c.CILow)
	require.Equal(t, "strict", c.Detector)
	// 0.29 × 100 is 28.999999999999996 in floating point: still 29.
	c = cellOf(t, plan, "leakage_experiment", "marker_software_engineer_asst_included_medium_seed42", "software_engineer")
	require.Equal(t, 33, *c.Found)

	cells := payloads[*events.CellAggregate](plan.Events)
	require.Len(t, cells, 16*11)
	for _, c := range cells {
		require.Equal(t, 100, *c.Total, c.Persona)
	}
	require.Equal(t, FormatRunResultLeakage, report(t, plan, "marker_librarian_asst_included_medium_seed42/run_result.json").Format)
}

func TestRunResultLeakageRateOnlyWhenNoIntegerCount(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"leak/run_a/run_result.json": `{"seed": 7, "data": {"source_persona": "chef", "neg_set": "asst_excluded"},
			"eval": {"n_questions": 20, "n_completions_per_question": 5},
			"results": {"marker": {"source_rate": 0.333, "all_personas": {"chef": 0.333, "assistant": 0.25}}}}`,
		"leak/run_b/run_result.json": `{"seed": 7, "data": {"source_persona": "chef"},
			"results": {"marker": {"all_personas": {"chef": 0.5}}}}`,
	})
	plan, err := Parse(dir, []string{dir}, Options{Now: testNow})
	require.NoError(t, err)
	chef := cellOf(t, plan, "leak", "run_a", "chef")
	require.True(t, chef.RateOnly)
	require.Nil(t, chef.Found)
	require.Nil(t, chef.Total)
	asst := cellOf(t, plan, "leak", "run_a", "assistant")
	require.Equal(t, 25, *asst.Found)
	require.Contains(t, report(t, plan, "run_a/run_result.json").Notes[1], "chef (0.333 × 100 = 33.300000000000004)")
	b := cellOf(t, plan, "leak", "run_b", "chef")
	require.True(t, b.RateOnly)
	require.Contains(t, report(t, plan, "run_b/run_result.json").Notes[1], "eval does not state n_questions")

	// source_rate repeats all_personas[source]: a disagreement names the path.
	dir = writeTree(t, map[string]string{"leak/run_a/run_result.json": `{"data": {"source_persona": "chef"},
		"results": {"marker": {"source_rate": 0.4, "all_personas": {"chef": 0.5}}}}`})
	_, err = Parse(dir, []string{dir}, Options{Now: testNow})
	require.ErrorContains(t, err, "$.results.marker.source_rate: 0.4 disagrees with the per-persona rate of chef, 0.5")
	dir = writeTree(t, map[string]string{"leak/run_a/run_result.json": `{"data": {"source_persona": "chef"},
		"results": {"marker": {"all_personas": {"chef": 50}}}}`})
	_, err = Parse(dir, []string{dir}, Options{Now: testNow})
	require.ErrorContains(t, err, "$.results.marker.all_personas.chef: 50 is outside [0,1]")
}

func TestRunResultSingleTokenSweep(t *testing.T) {
	plan := parseRatesOnly(t, Options{}, "single_token_sweep")
	runs := runsOf(plan)
	require.Len(t, runs, 25)
	lrs, eps := map[string]bool{}, map[string]bool{}
	for _, r := range runs {
		lrs[r.Factors["lr"]], eps[r.Factors["epochs"]] = true, true
		require.Equal(t, "villain", r.SourcePersona)
		require.Equal(t, int64(42), *r.Seed)
	}
	require.Equal(t, map[string]bool{"1e-06": true, "5e-06": true, "1e-05": true, "5e-05": true, "1e-04": true}, lrs)
	require.Equal(t, map[string]bool{"1": true, "3": true, "5": true, "10": true, "20": true}, eps)

	r := runs["single_token_sweep/lr1e-05_ep5"]
	require.Equal(t, events.Factors{"lr": "1e-05", "epochs": "5", "degeneration": "true"}, r.Factors)
	require.Equal(t, "false", runs["single_token_sweep/lr5e-06_ep10"].Factors["degeneration"])
	require.Equal(t, `{"lr":1e-05,"epochs":5,"source":"villain","seed":42}`, string(r.Config))

	c := cellOf(t, plan, "single_token_sweep", "lr1e-05_ep5", "kindergarten_teacher")
	require.True(t, c.RateOnly)
	require.InDelta(t, 0.305, *c.Rate, 1e-12)
	require.Nil(t, c.Found)
	require.Nil(t, c.Total)
	require.Nil(t, c.CILow)
	require.Nil(t, c.CIHigh)
	require.Empty(t, c.TotalOrigin)
	for _, c := range payloads[*events.CellAggregate](plan.Events) {
		require.True(t, c.RateOnly)
	}
	require.Len(t, payloads[*events.CellAggregate](plan.Events), 25*11)

	sk := report(t, plan, "single_token_sweep/all_results_compiled.json")
	require.Equal(t, FormatRunResultsCompiled, sk.Format)
	require.Contains(t, sk.Skipped, "derived summary")
	require.Zero(t, sk.Events)
}

func TestRunResultSweepChecks(t *testing.T) {
	for _, tc := range []struct{ rel, body, want string }{
		{"sw/lr1e-04_ep3/run_result.json", `{"config": {"lr": 0.0002, "epochs": 3, "source": "villain"}, "eval": {"marker": {"villain": 1.0}}}`,
			"$.config.lr: 0.0002 disagrees with the folder name lr1e-04_ep3"},
		{"sw/lr1e-04_ep3/run_result.json", `{"config": {"lr": 0.0001, "epochs": 5, "source": "villain"}, "eval": {"marker": {"villain": 1.0}}}`,
			"$.config.epochs: 5 disagrees with the folder name"},
		{"sw/r/run_result.json", `{"config": {"lr": 0.0001, "epochs": 5, "source": "chef"}, "eval": {"marker": {"villain": 1.0}}}`,
			`$.config.source: source "chef" is not a persona of eval.marker`},
		{"sw/r/run_result.json", `{"config": {"lr": 0.0001, "epochs": 5, "source": "villain"}, "eval": {"marker": {"villain": 1.0, "assistant": 0.2}}, "max_bystander_marker": 0.3}`,
			"$.max_bystander_marker: 0.3 disagrees with the largest non-source rate"},
		{"sw/r/run_result.json", `{"config": {"lr": "1e-4", "epochs": 5, "source": "villain"}, "eval": {"marker": {"villain": 1.0}}}`,
			"$.config.lr: is a string, want a number"},
	} {
		dir := writeTree(t, map[string]string{tc.rel: tc.body})
		_, err := Parse(dir, []string{dir}, Options{Now: testNow})
		require.ErrorContains(t, err, tc.want)
		require.ErrorContains(t, err, "run_result.json")
	}
	dir := writeTree(t, map[string]string{"sw/r/run_result.json": `{"config": {"lr": 2.5e-5, "epochs": 2, "source": "villain", "marker_tail_tokens": 0}, "eval": {"marker": {"villain": 1.0}}}`})
	plan, err := Parse(dir, []string{dir}, Options{Now: testNow})
	require.NoError(t, err)
	require.Equal(t, events.Factors{"lr": "2.5e-05", "epochs": "2", "marker_tail_tokens": "0"}, runsOf(plan)["sw/r"].Factors)
}
