package query

import (
	"context"
	"fmt"
	"time"
)

// RunDetail is one run's configuration and provenance, its loss curve and
// the job attempts that made it.
type RunDetail struct {
	RunSummary
	Model        string `json:"model"`
	Adapter      string `json:"adapter"`
	SourcePrompt string `json:"source_prompt"`
	MarkerOrigin string `json:"marker_origin"`
	BaseRun      string `json:"base_run"`
	CodeVersion  string `json:"code_version"`
	// ConfigJSON, PlanJSON and StoppingJSON are the run_started event's
	// JSON as stored ("" when absent).
	ConfigJSON   string `json:"config_json"`
	PlanJSON     string `json:"plan_json"`
	StoppingJSON string `json:"stopping_json"`
	// Status and Error are the run_finished event's ("" while none).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Training is the loss curve (training_steps), ordered by job, attempt, step.
	Training []TrainingStep `json:"training"`
	// Jobs are the run's job attempts (job_status), oldest first.
	Jobs []JobAttempt `json:"jobs"`
}

// TrainingStep is one logged optimizer step: Loss in nats per label token.
type TrainingStep struct {
	Job          string  `json:"job"`
	Attempt      int64   `json:"attempt"`
	Step         int64   `json:"step"`
	Epoch        float64 `json:"epoch"`
	Loss         float64 `json:"loss"`
	LearningRate float64 `json:"learning_rate"`
}

// JobAttempt is one job_status event of the run: Detail is its JSON (what
// the attempt produced: artifact names, hashes, timings).
type JobAttempt struct {
	Job      string    `json:"job"`
	Kind     string    `json:"kind"`
	Status   string    `json:"status"`
	Attempt  int64     `json:"attempt"`
	Worker   string    `json:"worker"`
	Error    string    `json:"error,omitempty"`
	Done     int64     `json:"done"`
	Expected int64     `json:"expected"`
	Detail   string    `json:"detail,omitempty"`
	Time     time.Time `json:"time"`
}

// Run returns one run's detail. Errors: ErrUnknownExperiment; ErrNotFound
// when the experiment has no such run.
func (e *Engine) Run(ctx context.Context, experiment, run string) (*RunDetail, error) {
	runs, err := e.Runs(ctx, experiment)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, e.unknownExperiment(ctx, experiment)
	}
	d := &RunDetail{Training: []TrainingStep{}, Jobs: []JobAttempt{}}
	found := false
	for _, r := range runs {
		if r.RunID == run {
			d.RunSummary, found = r, true
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: run %q is not in experiment %q", ErrNotFound, run, experiment)
	}
	res, err := e.DB.Query(ctx, `SELECT r.model, r.adapter, r.source_prompt, r.marker_origin, r.base_run, r.code_version,
       coalesce(r.config_json, ''), coalesce(r.plan_json, ''), coalesce(r.stopping_json, ''),
       (SELECT max(status) FROM run_finished f WHERE f.experiment = $1 AND f.run_id = $2),
       (SELECT max(error) FROM run_finished f WHERE f.experiment = $1 AND f.run_id = $2)
FROM runs r WHERE r.experiment = $1 AND r.run_id = $2 ORDER BY r.event_time LIMIT 1`, experiment, run)
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", run, err)
	}
	if len(res.Rows) == 1 {
		r := res.Rows[0]
		d.Model, d.Adapter, d.SourcePrompt, d.MarkerOrigin, d.BaseRun, d.CodeVersion = str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5])
		d.ConfigJSON, d.PlanJSON, d.StoppingJSON, d.Status, d.Error = str(r[6]), str(r[7]), str(r[8]), str(r[9]), str(r[10])
	}
	res, err = e.DB.Query(ctx, `SELECT job, attempt, step, epoch, loss, learning_rate FROM training_steps
WHERE experiment = $1 AND run_id = $2 ORDER BY job, attempt, step`, experiment, run)
	if err != nil {
		return nil, fmt.Errorf("read training steps of run %s: %w", run, err)
	}
	for _, r := range res.Rows {
		d.Training = append(d.Training, TrainingStep{Job: str(r[0]), Attempt: i64(r[1]), Step: i64(r[2]), Epoch: f64(r[3]), Loss: f64(r[4]), LearningRate: f64(r[5])})
	}
	res, err = e.DB.Query(ctx, `SELECT job, kind, status, attempt, worker, error, done, expected, coalesce(detail, ''), event_time FROM job_status
WHERE experiment = $1 AND run_id = $2 ORDER BY event_time, job, attempt`, experiment, run)
	if err != nil {
		return nil, fmt.Errorf("read job attempts of run %s: %w", run, err)
	}
	for _, r := range res.Rows {
		j := JobAttempt{Job: str(r[0]), Kind: str(r[1]), Status: str(r[2]), Attempt: i64(r[3]), Worker: str(r[4]), Error: str(r[5]),
			Done: i64(r[6]), Expected: i64(r[7]), Detail: str(r[8])}
		if t, ok := r[9].(time.Time); ok {
			j.Time = t.UTC()
		}
		d.Jobs = append(d.Jobs, j)
	}
	return d, nil
}

func f64(v any) float64 {
	if p := f64p(v); p != nil {
		return *p
	}
	return 0
}
