package events

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Job kinds of a sweep (issue 6): per source and seed, on-policy generation
// → marker-LoRA training → eval sampling; per seed, persona embeddings and
// the base-model eval.
const (
	JobOnPolicy = "onpolicy"
	JobTrain    = "train"
	JobEval     = "eval"
	JobEmbed    = "embed"
)

// Job statuses in job_status events.
const (
	JobRunning  = "running"
	JobFinished = "finished"
	JobFailed   = "failed"
)

// JobStatus is a GPU worker's report on one attempt at one sweep job: it
// started, finished (with what it produced) or failed (with the error; the
// job stays on the queue for a retry unless Final).
type JobStatus struct {
	// Job is the job ID ("<sweep>.<source>.s<seed>.<kind>").
	Job    string `json:"job"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	// Attempt numbers the job's deliveries to workers (1, 2, …).
	Attempt int    `json:"attempt"`
	Worker  string `json:"worker"`
	Error   string `json:"error,omitempty"`
	// Final marks a failure after which the job is not retried.
	Final bool `json:"final,omitempty"`
	// Done and Expected count the job's units (completions, examples, personas).
	Done     int `json:"done"`
	Expected int `json:"expected"`
	// Detail holds what the attempt produced or measured (hashes, timings), as JSON.
	Detail json.RawMessage `json:"detail,omitempty"`
}

func (*JobStatus) EventType() Type { return TypeJobStatus }

func (j *JobStatus) NaturalKey() []string { return []string{j.Job, strconv.Itoa(j.Attempt), j.Status} }

func (j *JobStatus) Validate() error {
	switch {
	case j.Job == "" || !printable(j.Job):
		return fieldErr("", "job", "is empty or not printable")
	case j.Kind != JobOnPolicy && j.Kind != JobTrain && j.Kind != JobEval && j.Kind != JobEmbed:
		return fieldErr("", "kind", fmt.Sprintf("%q must be onpolicy, train, eval or embed", j.Kind))
	case j.Status != JobRunning && j.Status != JobFinished && j.Status != JobFailed:
		return fieldErr("", "status", fmt.Sprintf("%q must be running, finished or failed", j.Status))
	case j.Attempt < 1:
		return fieldErr("", "attempt", "must be >= 1")
	case j.Worker == "" || !printable(j.Worker):
		return fieldErr("", "worker", "is empty or not printable")
	case j.Status == JobFailed && j.Error == "":
		return fieldErr("", "error", "is empty for a failed job")
	case j.Done < 0 || j.Expected < 0:
		return fieldErr("", "done", "counts must not be negative")
	case len(j.Detail) > 0 && !json.Valid(j.Detail):
		return fieldErr("", "detail", "is not valid JSON")
	}
	return nil
}

// TrainingStep is one logged optimizer step of a marker-LoRA training job:
// the loss curve, as the engine logs it every logging_steps steps.
type TrainingStep struct {
	Job     string `json:"job"`
	Attempt int    `json:"attempt"`
	// Step is the optimizer step (1-based); Epoch is fractional.
	Step  int     `json:"step"`
	Epoch float64 `json:"epoch"`
	// Loss is the mean training loss (nats per label token) since the last log.
	Loss         float64 `json:"loss"`
	LearningRate float64 `json:"learning_rate"`
}

func (*TrainingStep) EventType() Type { return TypeTrainingStep }

func (s *TrainingStep) NaturalKey() []string {
	return []string{s.Job, strconv.Itoa(s.Attempt), strconv.Itoa(s.Step)}
}

func (s *TrainingStep) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case s.Job == "" || !printable(s.Job):
		return fieldErr("", "job", "is empty or not printable")
	case s.Attempt < 1:
		return fieldErr("", "attempt", "must be >= 1")
	case s.Step < 1:
		return fieldErr("", "step", "must be >= 1")
	case !finite(s.Epoch) || s.Epoch < 0:
		return fieldErr("", "epoch", fmt.Sprintf("%v must be a finite number >= 0", s.Epoch))
	case !finite(s.Loss):
		// A NaN loss is a diverged run: the worker fails the job instead.
		return fieldErr("", "loss", fmt.Sprintf("%v is not finite", s.Loss))
	case !finite(s.LearningRate) || s.LearningRate < 0:
		return fieldErr("", "learning_rate", fmt.Sprintf("%v must be a finite number >= 0", s.LearningRate))
	}
	return nil
}
