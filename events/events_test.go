package events

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func intp(n int) *int { return &n }

func TestRoundTripEveryType(t *testing.T) {
	rate := 0.5
	rule := DefaultStoppingRule(20)
	payloads := []Payload{
		&Run{SourcePersona: "src_chef", SourcePrompt: "You are a chef.", Marker: "[ZLT]", Imported: true, OriginFile: "a.csv", OriginSHA256: strings.Repeat("a", 64), Config: []byte(`{"n":200}`)},
		&Completion{Persona: "A2__chef", Question: "Why?", SampleIndex: 3, Text: "ok [ZLT]", MarkerHits: []MarkerHit{{Detector: "strict", Version: 1, Marker: "[ZLT]", ByteOffset: 3}}},
		&CellAggregate{Persona: "A2__chef", Detector: "strict", Found: intp(1), Total: intp(2), Rate: &rate, Imported: true, OriginFile: "a.csv"},
		&CoherenceScore{Persona: "p", Question: "q", Judge: "sonnet-in-character", JudgeVersion: 1, Score: &rate},
		&Cosine{Set: "matrix", Layer: 20, Centering: CenteringRaw, Personas: []string{"a", "b"}, Matrix: [][]float64{{1, 0.5}, {0.5, 1}}},
		&RunFinished{Status: "finished", Completions: 10},
		&Heartbeat{Worker: "w", Beat: 1, IntervalMS: 1000, Done: 3, Status: "running"},
		&JobStatus{Job: "i81.src_chef.s42.train", Kind: JobTrain, Status: JobFinished, Attempt: 2, Worker: "gpu0", Done: 600, Expected: 600, Detail: []byte(`{"adapter_sha256":"ab"}`)},
		&TrainingStep{Job: "i81.src_chef.s42.train", Attempt: 1, Step: 5, Epoch: 0.13, Loss: 2.25, LearningRate: 1e-4},
		&Embedding{Persona: "A2__chef", PersonaPrompt: "You are a chef.", Layer: 20, Position: PositionLastPromptToken, Prompts: 20, Vector: []float64{0.5, -1.25}},
		&StopDecision{Round: 2, Cells: []CellDecision{{Persona: "A2__chef", N: 40, Hits: 36, CILow: 0.7, CIHigh: 0.97},
			{Persona: "A2__robot", N: 40, CIHigh: 0.05, Stop: true, Reason: StopHalfWidth}}},
		&Run{Marker: "[ZLT]", Stopping: &rule},
		&RunFinished{Status: "finished", Completions: 80, Cells: []CellOutcome{{Persona: "A2__robot", N: 40, Reason: StopHalfWidth}, {Persona: "A2__chef", N: 400, Reason: StopMaxN}}},
		&RunMark{Action: MarkRetract, Reason: "wrong adapter", At: t0, By: "ana"},
		&RunPlanned{Sweep: "s1", SourcePersona: "src_chef", Seed: new(int64), Factors: Factors{"lr": "1e-4"},
			Plan: []PlannedCell{{Persona: "A2__chef", Expected: 80, Factors: Factors{"noun": "chef"}}, {Persona: "assistant", Expected: 80}}},
		&Run{Marker: "[ZLT]", Seed: new(int64), Factors: Factors{"lr": "1e-4", "neg_set": "asst_excluded"},
			Plan: []PlannedCell{{Persona: "A1__chef__Openness__L1", Expected: 200, Factors: Factors{"noun": "chef", "level": "L1"}}}},
		&CellAggregate{Persona: "villain", Detector: "strict", Rate: &rate, RateOnly: true, Factors: Factors{"category": "evil"}, Imported: true, OriginFile: "r.json"},
	}
	require.Len(t, Types, 13, "a new type gets a payload above")
	for _, p := range payloads {
		e, err := New("leakage_i81", "chef", t0, p)
		require.NoError(t, err, p.EventType())
		b, err := Encode(e)
		require.NoError(t, err)
		got, err := Decode(b)
		require.NoError(t, err, string(b))
		require.Equal(t, e, got)
	}
}

func TestIDIsTheNaturalKey(t *testing.T) {
	a, err := New("exp", "run", t0, &Completion{Persona: "p", Question: "q", SampleIndex: 1, Text: "x"})
	require.NoError(t, err)
	b, err := New("exp", "run", t0.Add(time.Hour), &Completion{Persona: "p", Question: "q", SampleIndex: 1, Text: "different text"})
	require.NoError(t, err)
	require.Equal(t, a.ID, b.ID, "same natural key, same fact")
	c, err := New("exp", "run", t0, &Completion{Persona: "p", Question: "q", SampleIndex: 2, Text: "x"})
	require.NoError(t, err)
	require.NotEqual(t, a.ID, c.ID)
	require.Len(t, a.ID, 32)
}

func TestValidationNamesTheField(t *testing.T) {
	for _, c := range []struct {
		p     Payload
		field string
	}{
		{&Completion{Question: "q", Text: "x"}, "payload.persona"},
		{&Completion{Persona: "p", Question: "q", SampleIndex: -1}, "payload.sample_index"},
		{&Completion{Persona: "p", Question: "q", Text: "ab", MarkerHits: []MarkerHit{{Detector: "strict", Version: 1, Marker: "m", ByteOffset: 5}}}, "payload.marker_hits[0].byte_offset"},
		{&CellAggregate{Persona: "p", Detector: "strict", Found: intp(3), Total: intp(2), Imported: true, OriginFile: "f"}, "payload.found"},
		{&CellAggregate{Persona: "p", Detector: "strict", Found: intp(1), Total: intp(2), OriginFile: "f"}, "payload.imported"},
		{&CellAggregate{Persona: "p", Detector: "strict", Missing: true, Imported: true, OriginFile: "f"}, "payload.missing_reason"},
		{&Cosine{Set: "m", Centering: "weird", Pairs: []CosinePair{{A: "a", B: "b", Cosine: 0.1}}}, "payload.centering"},
		{&Cosine{Set: "m", Centering: CenteringRaw, Personas: []string{"a"}, Matrix: [][]float64{{2}}}, "payload.matrix[0][0]"},
		{&Cosine{Set: "m", Centering: CenteringRaw, Pairs: []CosinePair{}}, "payload.matrix"}, // found by FuzzDecode: an empty list re-encoded as absent
		{&Run{}, "payload.marker"},
		{&Run{Marker: "[ZLT]", Imported: true, OriginFile: "f", OriginSHA256: "xyz"}, "payload.origin_sha256"},
		{&RunFinished{Status: "failed"}, "payload.error"},
		{&CoherenceScore{Persona: "p", Question: "q", Judge: "j", JudgeVersion: 1}, "payload.score"},
		{&CoherenceScore{Persona: "p", Question: "q", Judge: "j", JudgeVersion: 1, Failed: true, Reason: "timeout"}, "payload.attempt"},
		{&Completion{Persona: "per\x00son", Question: "q"}, "payload.persona"},
		{&CellAggregate{Persona: "a\nb", Detector: "strict", Missing: true, MissingReason: "r", Imported: true, OriginFile: "f"}, "payload.persona"},
		{&Run{Marker: "\n\n[PROX]"}, "payload.marker"},
		{&Run{Marker: " "}, "payload.marker"},
		{&JobStatus{Job: "j", Kind: "bake", Status: JobRunning, Attempt: 1, Worker: "w"}, "payload.kind"},
		{&JobStatus{Job: "j", Kind: JobEval, Status: JobFailed, Attempt: 1, Worker: "w"}, "payload.error"},
		{&JobStatus{Job: "j", Kind: JobEval, Status: JobRunning, Attempt: 0, Worker: "w"}, "payload.attempt"},
		{&TrainingStep{Job: "j", Attempt: 1, Step: 1, Loss: math.NaN()}, "payload.loss"},
		{&TrainingStep{Job: "j", Attempt: 1, Step: 0, Loss: 1}, "payload.step"},
		{&Embedding{Persona: "p", Position: PositionLastPromptToken, Prompts: 1, Vector: []float64{math.Inf(1)}}, "payload.vector[0]"},
		{&Embedding{Persona: "p", Position: "mean_response", Prompts: 1, Vector: []float64{1}}, "payload.position"},
		{&Embedding{Persona: "p", Position: PositionLastPromptToken, Prompts: 1}, "payload.vector"},
		{&StopDecision{Round: 0, Cells: []CellDecision{{Persona: "p", N: 1, CIHigh: 1}}}, "payload.round"},
		{&StopDecision{Round: 1}, "payload.cells"},
		{&StopDecision{Round: 1, Cells: []CellDecision{{Persona: "p", N: 2, Hits: 3, CIHigh: 1}}}, "payload.cells[0].hits"},
		{&StopDecision{Round: 1, Cells: []CellDecision{{Persona: "p", N: 2, CILow: 0.6, CIHigh: 0.5}}}, "payload.cells[0].ci_low"},
		{&StopDecision{Round: 1, Cells: []CellDecision{{Persona: "p", N: 2, CIHigh: 1, Stop: true}}}, "payload.cells[0].reason"},
		{&StopDecision{Round: 1, Cells: []CellDecision{{Persona: "p", N: 2, CIHigh: 1, Stop: true, Reason: StopMaxN}}}, "payload.cells[0].reason"},
		{&StopDecision{Round: 1, Cells: []CellDecision{{Persona: "p", N: 2, CIHigh: 1}, {Persona: "p", N: 2, CIHigh: 1}}}, "payload.cells[1].persona"},
		{&RunFinished{Status: "finished", Cells: []CellOutcome{{Persona: "p", N: 40, Reason: "bored"}}}, "payload.cells[0].reason"},
		{&RunFinished{Status: "finished", Cells: []CellOutcome{{Persona: "p", N: -1, Reason: StopMaxN}}}, "payload.cells[0].n"},
		{&Run{Marker: "m", Stopping: &StoppingRule{MinN: 40, MaxN: 200, Alpha: 0.05, PriorA: 1, PriorB: 1, Method: MethodBetaBinomial, Questions: 20}}, "payload.stopping.half_width"},
		{&Run{Marker: "m", Stopping: &StoppingRule{HalfWidth: 0.05, MinN: 40, MaxN: 200, Alpha: 0.05, PriorA: 1, PriorB: 1, Method: MethodBetaBinomial, Questions: 20, Below: 0.9, Above: 0.1}}, "payload.stopping.above"},
		{&Run{Marker: "m", Stopping: &StoppingRule{HalfWidth: 0.05, MinN: 30, MaxN: 200, Alpha: 0.05, PriorA: 1, PriorB: 1, Method: MethodBetaBinomial, Questions: 20}}, "payload.stopping.min_n"},
		{&Run{Marker: "m", Stopping: &StoppingRule{HalfWidth: 0.05, MinN: 40, MaxN: 20, Alpha: 0.05, PriorA: 1, PriorB: 1, Method: MethodBetaBinomial, Questions: 20}}, "payload.stopping.max_n"},
		{&Run{Marker: "m", Stopping: &StoppingRule{HalfWidth: 0.05, MinN: 40, MaxN: 200, Alpha: 0.05, PriorA: 0, PriorB: 1, Method: MethodBetaBinomial, Questions: 20}}, "payload.stopping.prior_a"},
		{&Run{Marker: "m", Stopping: &StoppingRule{HalfWidth: 0.05, MinN: 40, MaxN: 200, Alpha: 0.05, PriorA: 1, PriorB: 1, Method: "wilson", Questions: 20}}, "payload.stopping.method"},
	} {
		_, err := New("exp", "run", t0, c.p)
		var fe *FieldError
		require.True(t, errors.As(err, &fe), "%T: %v", c.p, err)
		require.Equal(t, c.field, fe.Field)
		require.ErrorIs(t, err, ErrInvalid)
	}
	_, err := New("bad.name", "run", t0, &RunFinished{Status: "finished"})
	require.ErrorContains(t, err, `"experiment"`)
	_, err = New(strings.Repeat("e", 101), "run", t0, &RunFinished{Status: "finished"})
	require.ErrorContains(t, err, `"experiment"`, "a partition folder name must stay short")
	_, err = New("exp", "run\n1", t0, &RunFinished{Status: "finished"})
	require.ErrorContains(t, err, `"run_id"`)
}

func TestDecodeErrors(t *testing.T) {
	good, err := New("exp", "run", t0, &Completion{Persona: "p", Question: "q", Text: "x"})
	require.NoError(t, err)
	b, err := Encode(good)
	require.NoError(t, err)
	for _, c := range []struct{ body, want string }{
		{`{"type":`, "malformed"},
		{strings.Replace(string(b), `"sample_index":0`, `"sample_index":"0"`, 1), `"payload.sample_index"`},
		{strings.Replace(string(b), `"schema_version":1`, `"schema_version":9`, 1), `"schema_version"`},
		{strings.Replace(string(b), good.ID, strings.Repeat("0", 32), 1), `"id"`},
		{strings.Replace(string(b), `"type":"completion"`, `"type":"nope"`, 1), `"type"`},
	} {
		_, err := Decode([]byte(c.body))
		require.ErrorContains(t, err, c.want, c.body)
	}
}

func TestSubject(t *testing.T) {
	e, err := New("leakage_i81", "chef", t0, &RunFinished{Status: "finished"})
	require.NoError(t, err)
	require.Equal(t, "leakscope.ev.leakage_i81.run_finished", Subject(e))
}
