package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"leakscope/events"
)

// Meta is what ingest knows about a message beyond the event itself.
type Meta struct {
	StreamSeq  uint64
	IngestedAt time.Time
}

// Row is one table row: values in the table's column order. Values are
// string, int64, float64, bool, time.Time or nil (NULL).
type Row []any

// Rows maps one event to the rows it becomes, keyed by table name.
func Rows(e events.Event, m Meta) (map[string][]Row, error) {
	head := Row{e.ID, e.RunID, e.Time, int64(e.SchemaVersion), int64(m.StreamSeq), m.IngestedAt}
	r := func(vals ...any) Row { return append(append(Row{}, head...), vals...) }
	switch p := e.Payload.(type) {
	case *events.Run:
		plan := ""
		if len(p.Plan) > 0 {
			b, err := json.Marshal(p.Plan)
			if err != nil {
				return nil, err
			}
			plan = string(b)
		}
		stopping, err := jsonOrNil(p.Stopping, p.Stopping != nil)
		if err != nil {
			return nil, err
		}
		factors, err := jsonOrNil(p.Factors, len(p.Factors) > 0)
		if err != nil {
			return nil, err
		}
		return one(TableRuns, r(p.SourcePersona, p.SourcePrompt, p.Model, p.Adapter, ptr(p.Seed), p.Marker, p.MarkerOrigin,
			p.IsBase, p.BaseRun, string(p.Config), p.CodeVersion, p.Imported, p.OriginFile, p.OriginSHA256, p.Sweep, plan, stopping, factors)), nil
	case *events.RunPlanned:
		plan, err := json.Marshal(p.Plan)
		if err != nil {
			return nil, err
		}
		factors, err := jsonOrNil(p.Factors, len(p.Factors) > 0)
		if err != nil {
			return nil, err
		}
		return one(TableRunPlans, r(p.Sweep, p.SourcePersona, ptr(p.Seed), p.IsBase, factors, string(plan))), nil
	case *events.RunMark:
		return one(TableRunMarks, r(p.Action, p.Tag, p.Reason, p.At.UTC(), p.By)), nil
	case *events.Heartbeat:
		return one(TableHeartbeats, r(p.Worker, int64(p.Beat), int64(p.IntervalMS), int64(p.Done), p.Status)), nil
	case *events.JobStatus:
		return one(TableJobStatus, r(p.Job, p.Kind, p.Status, int64(p.Attempt), p.Worker, p.Error, p.Final,
			int64(p.Done), int64(p.Expected), string(p.Detail))), nil
	case *events.TrainingStep:
		return one(TableTraining, r(p.Job, int64(p.Attempt), int64(p.Step), p.Epoch, p.Loss, p.LearningRate)), nil
	case *events.Embedding:
		vec, err := json.Marshal(p.Vector)
		if err != nil {
			return nil, err
		}
		return one(TableEmbeddings, r(p.Persona, p.PersonaPrompt, int64(p.Layer), p.Position, int64(p.Prompts),
			int64(len(p.Vector)), string(vec))), nil
	case *events.RunFinished:
		cells, err := jsonOrNil(p.Cells, len(p.Cells) > 0)
		if err != nil {
			return nil, err
		}
		return one(TableRunFinished, r(p.Status, p.Error, int64(p.Completions), cells, p.OriginSHA256)), nil
	case *events.StopDecision:
		out := map[string][]Row{}
		for _, c := range p.Cells {
			out[TableStops] = append(out[TableStops], r(int64(p.Round), c.Persona, int64(c.N), int64(c.Hits), c.CILow, c.CIHigh, c.Stop, c.Reason))
		}
		return out, nil
	case *events.Completion:
		out := map[string][]Row{TableCompletions: {r(p.Persona, p.PersonaPrompt, p.Question, p.QuestionSet, int64(p.SampleIndex), p.Text,
			intPtr(p.PromptTokens), intPtr(p.CompletionTokens), p.FinishReason, ptr(p.RecordedMarker), int64(len(p.MarkerHits)), p.Imported)}}
		for i, h := range p.MarkerHits {
			out[TableMarkerHits] = append(out[TableMarkerHits], r(int64(i), p.Persona, p.Question, p.QuestionSet, int64(p.SampleIndex),
				h.Detector, int64(h.Version), h.Marker, int64(h.ByteOffset)))
		}
		return out, nil
	case *events.CellAggregate:
		factors, err := jsonOrNil(p.Factors, len(p.Factors) > 0)
		if err != nil {
			return nil, err
		}
		return one(TableCells, r(p.Persona, p.PersonaPrompt, p.Category, p.Slice, p.Question, p.Detector,
			intPtr(p.Found), intPtr(p.Total), ptr(p.Rate), ptr(p.CILow), ptr(p.CIHigh), ptr(p.CoherenceMean), ptr(p.LowCoherence), ptr(p.NSFloor),
			p.Missing, p.MissingReason, p.Imported, p.OriginFile, factors, p.RateOnly, p.TotalOrigin)), nil
	case *events.CoherenceScore:
		var seed any
		if p.SelectionSeed != nil {
			seed = int64(*p.SelectionSeed)
		}
		return one(TableCoherence, r(p.Persona, p.Question, p.QuestionSet, int64(p.SampleIndex), p.CompletionID, p.Judge,
			int64(p.JudgeVersion), ptr(p.Score), p.Failed, p.Reason, int64(p.Attempt), p.Reply, seed,
			intPtr(p.InputTokens), intPtr(p.OutputTokens), p.Imported)), nil
	case *events.Cosine:
		var rows []Row
		add := func(a, b string, v float64) {
			rows = append(rows, r(int64(len(rows)), p.Set, int64(p.Layer), p.Centering, p.Method, a, b, v))
		}
		for i, row := range p.Matrix {
			for j, v := range row {
				add(p.Personas[i], p.Personas[j], v)
			}
		}
		for _, pr := range p.Pairs {
			add(pr.A, pr.B, pr.Cosine)
		}
		return map[string][]Row{TableCosines: rows}, nil
	}
	return nil, fmt.Errorf("dataset: no table for payload %T", e.Payload)
}

// DeadLetter is one rejected message.
type DeadLetter struct {
	StreamSeq  uint64
	Subject    string
	EventID    string
	EventType  string
	Experiment string // "" when unreadable: stored under experiment=_invalid
	RunID      string
	Reason     string
	Raw        []byte
	ReceivedAt time.Time
	// StreamError says why the dead-letter stream holds no copy ("" when
	// it does).
	StreamError string
}

// InvalidPartition holds dead letters whose experiment is unreadable.
const InvalidPartition = "_invalid"

// Row is the dead_letters row.
func (d DeadLetter) Row() Row {
	sum := sha256.Sum256(d.Raw)
	// Parquet strings are UTF-8 (DuckDB refuses a file that holds others).
	return Row{int64(d.StreamSeq), d.Subject, d.EventID, d.EventType, d.RunID, strings.ToValidUTF8(d.Reason, "\uFFFD"),
		strings.ToValidUTF8(string(d.Raw), "\uFFFD"), d.ReceivedAt, int64(len(d.Raw)), hex.EncodeToString(sum[:]), d.StreamError}
}

func one(table string, r Row) map[string][]Row { return map[string][]Row{table: {r}} }

func ptr[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func intPtr(p *int) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

// jsonOrNil is v as a JSON string, or nil (NULL) when present is false.
func jsonOrNil(v any, present bool) (any, error) {
	if !present {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}
