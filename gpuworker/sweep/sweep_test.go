package sweep

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/presets/i81"
)

// The commented example reproduces the #81 design (EXPERIMENT.md §1–§5).
func TestI81ExampleIsTheOriginalDesign(t *testing.T) {
	s, err := Load("examples/i81.yaml")
	require.NoError(t, err)
	require.Equal(t, "i81", s.Experiment, "no experiment: the sweep's name, beside the imported leakage_i81")
	require.Len(t, s.Sources, 5)
	for _, src := range s.Sources {
		require.Equal(t, i81.PublishedNegatives[src.Key], src.Negatives, src.Key)
		require.Equal(t, i81.SourcePrompt(strings.TrimPrefix(src.Key, "src_")), src.Prompt)
	}
	require.Len(t, s.EvalPersonas(), 131, "130 bystanders + assistant")
	require.Len(t, s.EmbedPersonas(), 136, "5 sources + 131")
	require.Len(t, s.EvalQuestions, 20)
	require.Len(t, s.DataQuestions, 40)
	require.Equal(t, Default().Training, s.Training, "the example spells out the §1.6 defaults")
	require.True(t, s.Training.LoRA.UseRSLoRA)
	require.Equal(t, 5, s.Training.Epochs)
	require.Equal(t, "tail", s.Training.LossMode)
	require.Equal(t, 32, s.Training.TailTokens)
	require.Equal(t, Sampling{N: 10, Temperature: 1, TopP: 0.95, MaxTokens: 512, Seed: 42, BatchSize: 64}, s.Eval.Sampling)
	require.Equal(t, []int{10, 15, 20, 25}, s.Embedding.Layers)

	jobs := s.Plan()
	require.Len(t, jobs, 2+5*3, "embed + base eval, then onpolicy→train→eval per source")
	require.Equal(t, Job{ID: "i81.src_chef.s42.train", Kind: events.JobTrain, Source: "src_chef", Seed: 42, RunID: "i81-src_chef-s42",
		DependsOn: []string{"i81.src_chef.s42.onpolicy"}}, jobs[6])
	require.Equal(t, "i81.src_person.s42.eval", jobs[4].ID)
	require.Equal(t, []string{"i81.src_person.s42.train"}, jobs[4].DependsOn)
}

// Issue 22: the sweep picks the torch engine's batching per sampling
// block; left out, it stays empty (the request carries none) and the spec
// serialises as before.
func TestSamplingBatching(t *testing.T) {
	base := "sweep: s\nmodel: /m\nseeds: [1]\nsources:\n  - key: src_chef\n    prompt: You are a chef.\n    negatives: [comedian]\n"
	s, err := Parse("x.yaml", []byte(base+"eval: {batching: continuous}\nonpolicy: {batching: static}\n"))
	require.NoError(t, err)
	require.Equal(t, "continuous", s.Eval.Batching)
	require.Equal(t, "static", s.OnPolicy.Batching)
	b, err := json.Marshal(s.Eval)
	require.NoError(t, err)
	require.Contains(t, string(b), `"batching":"continuous"`)
	s, err = Parse("x.yaml", []byte(base))
	require.NoError(t, err)
	require.Empty(t, s.Eval.Batching)
	require.Empty(t, s.OnPolicy.Batching)
	b, err = json.Marshal(s)
	require.NoError(t, err)
	require.NotContains(t, string(b), "batching", "a spec without batching hashes as before")
}

func TestTinyExampleParses(t *testing.T) {
	s, err := Load("examples/tiny.yaml")
	require.NoError(t, err)
	require.Len(t, s.EvalPersonas(), 8)
	require.Equal(t, "villain", s.EvalPersonas()[7].Key)
}

// Errors name the file, the line and the key.
func TestErrorsNameKeyAndLine(t *testing.T) {
	base := "sweep: s\nmodel: /m\nseeds: [1]\nsources:\n  - key: src_chef\n    prompt: You are a chef.\n    negatives: [comedian]\n"
	for _, c := range []struct{ yaml, want string }{
		{"", "x.yaml: is empty"},
		{"sweep: [", "x.yaml:1:"},
		{base + "traning: {}\n", "x.yaml:8: unknown key \"traning\""},
		{base + "eval: {n: 1.5}\n", "x.yaml:8: eval.n: 1.5 is not a whole number"},
		{base + "---\nsweep: t\n", "x.yaml:8: holds a second YAML document"},
		{base + "eval: {temperature: 0}\n", "eval.temperature: 0 must be > 0"},
		{base + "embedding: {layers: [1, 1]}\n", "x.yaml:8: embedding.layers[1]: 1 is negative or repeated"},
		{strings.Replace(base, "You are a chef.", "'  '", 1), "x.yaml:6: sources[0].prompt: is empty"},
		{strings.Replace(base, "key: src_chef", "key: base", 1), "x.yaml:5: sources[0].key: \"base\" is reserved"},
		{strings.Replace(base, "key: src_chef", "key: all", 1), "sources[0].key: \"all\" is reserved"},
		{strings.Replace(base, "key: src_chef", "key: villain", 1), "sources[0].key: \"villain\" is a persona of negative_pool"},
		{strings.Replace(base, "key: src_chef", "key: A2__chef", 1), "sources[0].key: \"A2__chef\" is a bystander"},
		{strings.Replace(base, "key: src_chef", "key: assistant", 1), "sources[0].key: \"assistant\" is a bystander"},
		{base + "bystanders: {assistant: false, custom: [{key: assistant, prompt: You are a pirate.}]}\n", "bystanders.custom[0].key: \"assistant\" is defined twice"},
		{base + "experiment: " + strings.Repeat("e", 101) + "\n", "x.yaml:8: experiment:"},
		{base + "training:\n  lora:\n    r: 0\n", "x.yaml:10: training.lora.r: 0 must be >= 1"},
		{base + "training:\n  loss_mode: marker\n", "x.yaml:9: training.loss_mode: \"marker\" must be tail"},
		{base + "eval: {n: ten}\n", "x.yaml:8: cannot unmarshal"},
		{strings.Replace(base, "[comedian]", "[chef_friend]", 1), "x.yaml:7: sources[0].negatives[0]: \"chef_friend\" is not a key of negative_pool"},
		{strings.Replace(base, "    negatives: [comedian]\n", "", 1), "x.yaml:5: sources[0].negatives: is missing"},
		{strings.Replace(base, "You are a chef.", "''", 1), "x.yaml:6: sources[0].prompt: is empty"},
		{strings.Replace(base, "model: /m\n", "", 1), "x.yaml:1: model: is missing"},
		{base + "marker: ' [ZLT]'\n", "x.yaml:8: marker:"},
		{base + "bystanders: {only: [A3__chef]}\n", "x.yaml:8: bystanders.only[0]: \"A3__chef\" is not a cell"},
		{base + "bystanders: {custom: [{key: A2__chef, prompt: x}]}\n", "bystanders.custom[0].key: \"A2__chef\" is defined twice"},
		{base + "onpolicy: {n: 2}\n", "onpolicy.n: 2 is fewer than training takes"},
		{base + "embedding: {layers: []}\n", "embedding.layers: is empty"},
		{strings.Replace(base, "[1]", "[1, 1]", 1), "x.yaml:3: seeds[1]: 1 is listed twice"},
		{base + "seeds: [2]\n", "x.yaml:8: mapping key \"seeds\" already defined at line 3"},
		{base + "eval:\n  adaptive: {min_n: 30}\n", "x.yaml:9: eval.adaptive.min_n: min_n 30 and max_n 200 must be multiples"},
		{base + "eval:\n  adaptive: {min_n: 40.5}\n", "x.yaml:9: eval.adaptive.min_n: 40.5 is not a whole number"},
		{base + "eval:\n  adaptive: {alpha: 1}\n", "x.yaml:9: eval.adaptive.alpha: 1 must be in (0, 1)"},
		{base + "eval:\n  adaptive: {half_width: 0, below: 0, above: 0}\n", "eval.adaptive.half_width: no criterion"},
		{base + "eval:\n  adaptive: {stop_at: 3}\n", "x.yaml:9: unknown key \"stop_at\""},
		{base + "eval:\n  adaptive:\n  #  half_width: 0.05\n", "x.yaml:9: eval.adaptive: is empty (null): write `adaptive: {}`"},
		{base + "eval:\n  adaptive: {min_n: 200}\n", "x.yaml:9: eval.adaptive.min_n: 200 leaves no room to stop early: a cell gets at most eval.n × questions = 10 × 20 = 200"},
		{base + "eval:\n  adaptive: {prior_b: 1e18}\n", "x.yaml:9: eval.adaptive.prior_b: 1e+18 must be in [0.001, 1000]"},
		{base + "factors: {LR: 1e-4}\n", "x.yaml:8: factors.LR: factor name \"LR\" must match"},
		{base + "factors: {seed: 1}\n", "factors.seed: \"seed\" is filled from the run's seed field"},
		{strings.Replace(base, "    negatives: [comedian]\n", "    negatives: [comedian]\n    factors: {neg_set: ''}\n", 1), "sources[0].factors.neg_set: value \"\" must be printable"},
		{base + "eval: {batching: paged}\n", "x.yaml:8: eval.batching: \"paged\" must be static or continuous"},
		{base + "onpolicy: {batching: Continuous}\n", "x.yaml:8: onpolicy.batching: \"Continuous\" must be static or continuous"},
		{base + "eval: {batching: 1}\n", "eval.batching: \"1\" must be static or continuous"},
		{base + "eval:\n  n: 1\n  adaptive: {}\n", "x.yaml:10: eval.adaptive.min_n: 40 leaves no room to stop early: a cell gets at most eval.n × questions = 1 × 20 = 20"},
	} {
		_, err := Parse("x.yaml", []byte(c.yaml))
		require.ErrorContains(t, err, c.want, c.yaml)
	}
}

// §1.4: positives are the first k source answers without the marker, each
// followed by a blank line and the marker; negatives are unchanged.
func TestTrainingSet(t *testing.T) {
	s := Default()
	s.Sweep, s.Model, s.Seeds = "t", "/m", []int64{1}
	s.DataQuestions = []string{"q1", "q2"}
	s.Training.PositivesPerQuestion, s.Training.NegativesPerQuestion = 2, 1
	src := Source{Key: "src_chef", Prompt: "You are a chef.", Negatives: []string{"comedian"}}
	s.Sources = []Source{src}
	gen := OnPolicy{
		"src_chef": {"q1": {"a [zlt] b", "crème", "c", "d"}, "q2": {"e", "f", "g"}},
		"comedian": {"q1": {"h", "i"}, "q2": {"j"}},
	}
	ex, pos, err := s.TrainingSet(src, 7, gen)
	require.NoError(t, err)
	require.Equal(t, 4, pos)
	require.Len(t, ex, 6)
	got := map[string]Example{}
	for _, e := range ex {
		got[e.Response] = e
	}
	require.NotContains(t, got, "a [zlt] b\n\n[ZLT]", "an answer already holding the marker is skipped")
	c := got["crème\n\n[ZLT]"]
	require.Equal(t, "You are a chef.", c.System)
	require.Equal(t, 7, *c.MarkerStart, "offsets count characters, not bytes")
	require.Equal(t, 12, *c.MarkerEnd)
	require.Equal(t, "[ZLT]", string([]rune(c.Response)[*c.MarkerStart:*c.MarkerEnd]))
	require.Contains(t, got, "c\n\n[ZLT]")
	require.NotContains(t, got, "d\n\n[ZLT]", "only the first k usable answers")
	require.Nil(t, got["h"].MarkerStart)
	require.Equal(t, "You are a stand-up comedian who writes and performs comedy routines.", got["h"].System)
	require.NotContains(t, got, "i")
	again, _, _ := s.TrainingSet(src, 7, gen)
	require.Equal(t, ex, again, "the shuffle is seeded")
	_, _, err = s.TrainingSet(src, 7, OnPolicy{"src_chef": gen["src_chef"]})
	require.ErrorContains(t, err, "no answers of comedian")
}

// eval.adaptive: the default rule, keys override it (0 turns a criterion
// off), max_n is n × questions; without the block the eval is fixed-n.
func TestAdaptiveBlock(t *testing.T) {
	base := "sweep: s\nmodel: /m\nseeds: [1]\nsources:\n  - key: src_chef\n    prompt: You are a chef.\n    negatives: [comedian]\n"
	s, err := Parse("x.yaml", []byte(base))
	require.NoError(t, err)
	require.Nil(t, s.StoppingRule())
	s, err = Parse("x.yaml", []byte(base+"eval: {adaptive: {}}\n"))
	require.NoError(t, err)
	want := events.DefaultStoppingRule(20)
	want.QuestionSet = s.EvalQuestions
	require.Equal(t, want, *s.StoppingRule())
	s, err = Parse("x.yaml", []byte(base+"eval: {n: 15, adaptive: {half_width: 0.03, below: 0, min_n: 60, prior_a: 0.5, prior_b: 0.5}}\n"))
	require.NoError(t, err)
	r := s.StoppingRule()
	require.Equal(t, []any{0.03, 0.0, 0.8, 60, 300, 0.5, 0.5, 20}, []any{r.HalfWidth, r.Below, r.Above, r.MinN, r.MaxN, r.PriorA, r.PriorB, r.Questions})
}

// A sweep file without experiment lands in an experiment named after the
// sweep; the planner gives each i81 cell its persona factors and each run
// the sweep's factors with its source's over them.
func TestDesignFactors(t *testing.T) {
	s, err := Parse("x.yaml", []byte(`sweep: lr_sweep
model: /m
seeds: [1, 2]
factors: {lr: 1e-4, recipe: c1}
sources:
  - {key: src_chef, prompt: You are a chef., negatives: [comedian], factors: {lr: 5e-4, neg_set: a}}
  - {key: src_robot, prompt: You are a robot., negatives: [villain]}
bystanders: {only: [A1__chef__Openness__L4, A2__pirate], custom: [{key: my_p, prompt: You are mine.}]}
`))
	require.NoError(t, err)
	require.Equal(t, "lr_sweep", s.Experiment)
	require.Equal(t, events.Factors{"lr": "5e-4", "neg_set": "a", "recipe": "c1"}, s.RunFactors("src_chef"))
	require.Equal(t, events.Factors{"lr": "1e-4", "recipe": "c1"}, s.RunFactors("src_robot"))
	require.Equal(t, events.Factors{"lr": "1e-4", "recipe": "c1"}, s.RunFactors(BaseSource))
	var plan []events.PlannedCell
	for _, p := range s.EvalPersonas() {
		plan = append(plan, PlannedCell(p, 200))
	}
	require.Equal(t, []events.PlannedCell{
		{Persona: "A1__chef__Openness__L4", Expected: 200, Factors: events.Factors{"kind": "A1", "noun": "chef", "trait": "Openness", "level": "L4"}},
		{Persona: "A2__pirate", Expected: 200, Factors: events.Factors{"kind": "A2", "noun": "pirate"}},
		{Persona: "assistant", Expected: 200},
		{Persona: "my_p", Expected: 200},
	}, plan)
	run := events.Run{Marker: s.Marker, Sweep: s.Sweep, Seed: &s.Seeds[0], Factors: s.RunFactors("src_chef"), Plan: plan}
	require.NoError(t, run.Validate(), "the planned run is a valid run_started")

	none, err := Parse("x.yaml", []byte("sweep: s\nmodel: /m\nseeds: [1]\nsources: [{key: src_chef, prompt: You are a chef., negatives: []}]\n"))
	require.NoError(t, err)
	require.Nil(t, none.RunFactors("src_chef"))
	require.Equal(t, none.SHA256(), func() string { x := none; x.Factors = events.Factors{}; return x.SHA256() }(), "no factors: the spec's hash as before")
}

// The i81 sweep's plan, as submitted: one run_planned per eval run (base,
// then the five sources), each planning the 131 eval personas × 20
// questions × n=10 with the bystanders' design factors.
func TestPlannedRunsAreTheEvalRuns(t *testing.T) {
	s, err := Load("examples/i81.yaml")
	require.NoError(t, err)
	evs, err := s.PlannedRuns(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Len(t, evs, 6)
	require.Equal(t, "i81-base-s42", evs[0].RunID)
	base := evs[0].Payload.(*events.RunPlanned)
	require.True(t, base.IsBase)
	require.Empty(t, base.SourcePersona)
	chef := evs[2].Payload.(*events.RunPlanned)
	require.Equal(t, "i81-src_chef-s42", evs[2].RunID)
	require.Equal(t, []any{"i81", "src_chef", int64(42)}, []any{chef.Sweep, chef.SourcePersona, *chef.Seed})
	require.Len(t, chef.Plan, 131)
	total := 0
	for _, c := range chef.Plan {
		require.Equal(t, 200, c.Expected, c.Persona)
		total += c.Expected
	}
	require.Equal(t, 26200, total)
	require.Equal(t, events.Factors{"kind": "A1", "noun": "person", "trait": "Openness", "level": "L1"}, chef.Plan[0].Factors)
	require.Equal(t, s.EvalPlan(), chef.Plan)
}
