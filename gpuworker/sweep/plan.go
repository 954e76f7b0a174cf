package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"leakscope/events"
	"leakscope/presets/i81"
)

// gridPersonas are the selected i81 grid cells, in registry order.
func (s *Spec) gridPersonas() []Persona {
	if s.Bystanders.Grid != i81.Name {
		return nil
	}
	only := map[string]bool{}
	for _, k := range s.Bystanders.Only {
		only[k] = true
	}
	var out []Persona
	for _, c := range i81.Grid {
		if len(only) == 0 || only[c.Key] {
			out = append(out, Persona{Key: c.Key, Prompt: c.Prompt})
		}
	}
	return out
}

// EvalPersonas are the personas every adapter is evaluated under: the grid
// cells, then the assistant QC persona, then the custom ones.
func (s *Spec) EvalPersonas() []Persona {
	out := s.gridPersonas()
	if s.Bystanders.Assistant {
		out = append(out, Persona{Key: i81.Assistant.Key, Prompt: i81.Assistant.Prompt})
	}
	return append(out, s.Bystanders.Custom...)
}

// EmbedPersonas are the personas whose centroids are extracted: the sources
// then the eval personas (EXPERIMENT.md §5: 5 src_* + 130 bystanders).
func (s *Spec) EmbedPersonas() []Persona {
	var out []Persona
	for _, src := range s.Sources {
		out = append(out, Persona{Key: src.Key, Prompt: src.Prompt})
	}
	return append(out, s.EvalPersonas()...)
}

// PlannedCell is a bystander's cell of a run's plan, with its design
// factors: for a bystander of the i81 preset the factors it declares (kind,
// noun, trait, level; presets/i81/i81.json); none for the assistant and
// custom personas.
func PlannedCell(p Persona, expected int) events.PlannedCell {
	c := events.PlannedCell{Persona: p.Key, Expected: expected}
	if b, ok := i81.Preset.Bystander(p.Key); ok && len(b.Factors) > 0 {
		c.Factors = events.Factors{}
		for k, v := range b.Factors {
			c.Factors[k] = v
		}
	}
	return c
}

// EvalPlan is the plan of every eval run: each eval persona with n
// completions per eval question.
func (s *Spec) EvalPlan() []events.PlannedCell {
	var plan []events.PlannedCell
	for _, p := range s.EvalPersonas() {
		plan = append(plan, PlannedCell(p, s.Eval.N*len(s.EvalQuestions)))
	}
	return plan
}

// PlannedRuns are the sweep's eval runs as run_planned events (in plan
// order), published when the sweep is submitted so the live view counts
// the whole plan before any run starts. at stamps the events.
func (s *Spec) PlannedRuns(at time.Time) ([]events.Event, error) {
	var out []events.Event
	for _, j := range s.Plan() {
		if j.Kind != events.JobEval {
			continue
		}
		seed := j.Seed
		p := &events.RunPlanned{Sweep: s.Sweep, Seed: &seed, IsBase: j.Source == BaseSource, Factors: s.RunFactors(j.Source), Plan: s.EvalPlan()}
		if !p.IsBase {
			p.SourcePersona = j.Source
		}
		e, err := events.New(s.Experiment, j.RunID, at, p)
		if err != nil {
			return nil, fmt.Errorf("sweep %s: run %s: %w", s.Sweep, j.RunID, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// RunFactors are the run-level design factors of a source's runs (the
// sweep's, then the source's over them); nil when none. The base-model
// and embedding runs (BaseSource, EmbedSource) get the sweep's.
func (s *Spec) RunFactors(source string) events.Factors {
	out := events.Factors{}
	for k, v := range s.Factors {
		out[k] = v
	}
	if src, ok := s.Source(source); ok {
		for k, v := range src.Factors {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Source returns the source with key k.
func (s *Spec) Source(k string) (Source, bool) {
	for _, src := range s.Sources {
		if src.Key == k {
			return src, true
		}
	}
	return Source{}, false
}

// Negatives resolves a source's negatives to personas.
func (s *Spec) Negatives(src Source) []Persona {
	var out []Persona
	for _, n := range src.Negatives {
		for _, p := range s.NegativePool {
			if p.Key == n {
				out = append(out, p)
			}
		}
	}
	return out
}

// RunID names the eval run of a source and seed: "<sweep>-<source>-s<seed>".
// The sweep is in the name so two sweeps of one experiment never share a run.
func (s *Spec) RunID(source string, seed int64) string {
	return fmt.Sprintf("%s-%s-s%d", s.Sweep, source, seed)
}

// BaseRunID names the base-model eval run of a seed.
func (s *Spec) BaseRunID(seed int64) string { return s.RunID(BaseSource, seed) }

// EmbedRunID names the run holding a seed's embeddings and cosines.
func (s *Spec) EmbedRunID(seed int64) string { return s.RunID(EmbedSource, seed) }

// SHA256 identifies the spec's content (its JSON form).
func (s *Spec) SHA256() string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Reserved Source fields: the base-model eval and the embeddings of a seed.
const (
	BaseSource  = "base"
	EmbedSource = "all"
)

// Job is one unit of GPU work. ID is "<sweep>.<source>.s<seed>.<kind>"
// ("base" as the source of the base eval, "all" for embeddings).
type Job struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Source    string   `json:"source"`
	Seed      int64    `json:"seed"`
	RunID     string   `json:"run_id"`
	DependsOn []string `json:"depends_on,omitempty"`
}

// JobID is the ID of a sweep's job.
func JobID(sweep, source string, seed int64, kind string) string {
	return fmt.Sprintf("%s.%s.s%d.%s", sweep, source, seed, kind)
}

// Plan lists the sweep's jobs in submission order: per seed, the
// embeddings and base eval (no dependencies), then per source on-policy
// generation → training → eval.
func (s *Spec) Plan() []Job {
	var jobs []Job
	for _, seed := range s.Seeds {
		if s.Embedding.Enabled {
			jobs = append(jobs, Job{ID: JobID(s.Sweep, EmbedSource, seed, events.JobEmbed), Kind: events.JobEmbed, Source: EmbedSource, Seed: seed, RunID: s.EmbedRunID(seed)})
		}
		if s.Eval.BaseModel {
			jobs = append(jobs, Job{ID: JobID(s.Sweep, BaseSource, seed, events.JobEval), Kind: events.JobEval, Source: BaseSource, Seed: seed, RunID: s.BaseRunID(seed)})
		}
		for _, src := range s.Sources {
			run := s.RunID(src.Key, seed)
			gen := JobID(s.Sweep, src.Key, seed, events.JobOnPolicy)
			train := JobID(s.Sweep, src.Key, seed, events.JobTrain)
			jobs = append(jobs,
				Job{ID: gen, Kind: events.JobOnPolicy, Source: src.Key, Seed: seed, RunID: run},
				Job{ID: train, Kind: events.JobTrain, Source: src.Key, Seed: seed, RunID: run, DependsOn: []string{gen}},
				Job{ID: JobID(s.Sweep, src.Key, seed, events.JobEval), Kind: events.JobEval, Source: src.Key, Seed: seed, RunID: run, DependsOn: []string{train}})
		}
	}
	return jobs
}
