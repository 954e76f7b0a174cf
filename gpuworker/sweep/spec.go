// Package sweep is the sweep spec: one YAML file that says everything a
// marker-leakage sweep does (model, sources with explicit negatives,
// bystander grid, questions, on-policy generation, the LoRA recipe, eval
// sampling, embeddings), its defaults (the #81 design, EXPERIMENT.md §1–§5),
// its validation (errors name the key and line), and its plan of jobs.
package sweep

import (
	"leakscope/events"
	"leakscope/presets/i81"
)

// Persona is a key and its system prompt.
type Persona struct {
	Key    string `yaml:"key" json:"key"`
	Prompt string `yaml:"prompt" json:"prompt"`
}

// Source is a persona the marker is trained under, with the personas whose
// on-policy answers are its training negatives. The original chose
// negatives with Python's salted hash (EXPERIMENT.md §0.10); here they are
// always explicit, and recorded in the run.
type Source struct {
	Key       string   `yaml:"key" json:"key"`
	Prompt    string   `yaml:"prompt" json:"prompt"`
	Negatives []string `yaml:"negatives" json:"negatives"`
	// Factors are this source's run-level design factors (condition,
	// neg_set, …), over the sweep's factors; recorded in run_started.
	Factors events.Factors `yaml:"factors" json:"factors,omitempty"`
}

// Bystanders is the eval persona set: the i81 grid (or part of it), the
// assistant QC persona and custom personas, in that order.
type Bystanders struct {
	// Grid is "i81" (the 130 cells of EXPERIMENT.md §3) or "none".
	Grid string `yaml:"grid" json:"grid"`
	// Only keeps these grid keys (e.g. the pilot slice); empty keeps all.
	Only []string `yaml:"only" json:"only,omitempty"`
	// Assistant adds the assistant QC persona ("You are a helpful assistant.").
	Assistant bool      `yaml:"assistant" json:"assistant"`
	Custom    []Persona `yaml:"custom" json:"custom,omitempty"`
}

// Sampling is how completions are drawn (vLLM/HF semantics).
type Sampling struct {
	// N is completions per (persona, question).
	N           int     `yaml:"n" json:"n"`
	Temperature float64 `yaml:"temperature" json:"temperature"`
	TopP        float64 `yaml:"top_p" json:"top_p"`
	// MaxTokens caps new tokens; a completion cut there reports finish_reason "length".
	MaxTokens int   `yaml:"max_tokens" json:"max_tokens"`
	Seed      int64 `yaml:"seed" json:"seed"`
	// BatchSize is sequences per generation batch (left padded).
	BatchSize int `yaml:"batch_size" json:"batch_size"`
	// Batching is how the torch engine shares the GPU among sequences:
	// "static" or "continuous" (gpuworker/engine/PROTOCOL.md, generate).
	// Empty: static, unless the engine process's LEAKSCOPE_ENGINE_BATCHING
	// says otherwise (the request carries none). Other engines ignore it.
	Batching string `yaml:"batching,omitempty" json:"batching,omitempty"`
}

// LoRA is the adapter's shape (EXPERIMENT.md §1.6).
type LoRA struct {
	R             int      `yaml:"r" json:"r"`
	Alpha         float64  `yaml:"alpha" json:"alpha"`
	Dropout       float64  `yaml:"dropout" json:"dropout"`
	UseRSLoRA     bool     `yaml:"use_rslora" json:"use_rslora"`
	TargetModules []string `yaml:"target_modules" json:"target_modules"`
}

// Training is the marker-LoRA recipe: data construction (§1.4), loss mode
// (§0.1, §1.5) and hyperparameters (§1.6).
type Training struct {
	// PositivesPerQuestion: the first k on-policy answers of the source per data question.
	PositivesPerQuestion int `yaml:"positives_per_question" json:"positives_per_question"`
	// NegativesPerQuestion: the first k answers of each negative persona per question.
	NegativesPerQuestion int `yaml:"negatives_per_question" json:"negatives_per_question"`
	// LossMode is "tail" (loss on the last TailTokens completion tokens — what
	// #81 actually ran) or "marker_only" (marker tokens plus end of turn).
	LossMode              string  `yaml:"loss_mode" json:"loss_mode"`
	TailTokens            int     `yaml:"tail_tokens" json:"tail_tokens"`
	LoRA                  LoRA    `yaml:"lora" json:"lora"`
	LearningRate          float64 `yaml:"learning_rate" json:"learning_rate"`
	LRScheduler           string  `yaml:"lr_scheduler" json:"lr_scheduler"`
	WarmupRatio           float64 `yaml:"warmup_ratio" json:"warmup_ratio"`
	Epochs                int     `yaml:"epochs" json:"epochs"`
	BatchSize             int     `yaml:"batch_size" json:"batch_size"`
	GradAccum             int     `yaml:"grad_accum" json:"grad_accum"`
	MaxLength             int     `yaml:"max_length" json:"max_length"`
	WeightDecay           float64 `yaml:"weight_decay" json:"weight_decay"`
	LoggingSteps          int     `yaml:"logging_steps" json:"logging_steps"`
	GradientCheckpointing bool    `yaml:"gradient_checkpointing" json:"gradient_checkpointing"`
}

// Eval is the sampling of every bystander under each trained adapter.
type Eval struct {
	Sampling `yaml:",inline" json:",inline"`
	// BaseModel also evaluates the untrained model (the base-subtraction reference, §2.4).
	BaseModel bool `yaml:"base_model" json:"base_model"`
	// Adaptive, when present, samples each adapter's cells in rounds (one
	// completion per question) and stops a cell once the live aggregator
	// decides it (issue 11); n is then the most samples per question.
	Adaptive *Adaptive `yaml:"adaptive" json:"adaptive,omitempty"`
}

// Adaptive is the sweep file's stopping rule; a key left out takes
// events.DefaultStoppingRule's value (0 turns a criterion off). Rates are
// fractions in [0,1]; min_n counts completions per cell.
type Adaptive struct {
	HalfWidth *float64 `yaml:"half_width" json:"half_width,omitempty"`
	Below     *float64 `yaml:"below" json:"below,omitempty"`
	Above     *float64 `yaml:"above" json:"above,omitempty"`
	MinN      *int     `yaml:"min_n" json:"min_n,omitempty"`
	Alpha     *float64 `yaml:"alpha" json:"alpha,omitempty"`
	PriorA    *float64 `yaml:"prior_a" json:"prior_a,omitempty"`
	PriorB    *float64 `yaml:"prior_b" json:"prior_b,omitempty"`
}

// AdaptiveOf is the block that spells out rule in full.
func AdaptiveOf(r events.StoppingRule) *Adaptive {
	return &Adaptive{HalfWidth: &r.HalfWidth, Below: &r.Below, Above: &r.Above, MinN: &r.MinN, Alpha: &r.Alpha, PriorA: &r.PriorA, PriorB: &r.PriorB}
}

// StoppingRule is the eval's adaptive rule for a run (nil without an
// adaptive block): the block over the defaults, max_n = n × questions.
func (s Spec) StoppingRule() *events.StoppingRule {
	a := s.Eval.Adaptive
	if a == nil {
		return nil
	}
	q := len(s.EvalQuestions)
	r := events.DefaultStoppingRule(q)
	r.MaxN = s.Eval.N * q
	r.QuestionSet = s.EvalQuestions
	set := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&r.HalfWidth, a.HalfWidth)
	set(&r.Below, a.Below)
	set(&r.Above, a.Above)
	set(&r.Alpha, a.Alpha)
	set(&r.PriorA, a.PriorA)
	set(&r.PriorB, a.PriorB)
	if a.MinN != nil {
		r.MinN = *a.MinN
	}
	return &r
}

// Embedding is the persona-centroid extraction (EXPERIMENT.md §5).
type Embedding struct {
	Enabled bool  `yaml:"enabled" json:"enabled"`
	Layers  []int `yaml:"layers" json:"layers"`
	// Position is the token position; only "last_prompt_token" (§5) exists.
	Position string `yaml:"position" json:"position"`
}

// Spec is one sweep file.
type Spec struct {
	Sweep string `yaml:"sweep" json:"sweep"`
	// Experiment the runs are stored under (default: Sweep).
	Experiment string `yaml:"experiment" json:"experiment"`
	// Model is a Hugging Face causal-LM directory on the GPU machines.
	Model string `yaml:"model" json:"model"`
	// DType is "bfloat16" or "float32".
	DType  string  `yaml:"dtype" json:"dtype"`
	Marker string  `yaml:"marker" json:"marker"`
	Seeds  []int64 `yaml:"seeds" json:"seeds"`
	// Factors are run-level design factors of every run of the sweep (lr,
	// epochs, condition, … — any name but source, seed, sweep, run,
	// persona, which have fields of their own); a source's factors add to
	// them and win. Recorded in run_started, so --where lr=1e-4 selects.
	Factors events.Factors `yaml:"factors" json:"factors,omitempty"`
	Sources []Source       `yaml:"sources" json:"sources"`
	// NegativePool are the personas negatives are named from (default: the
	// 10 original personas of §1.2).
	NegativePool  []Persona  `yaml:"negative_pool" json:"negative_pool"`
	Bystanders    Bystanders `yaml:"bystanders" json:"bystanders"`
	EvalQuestions []string   `yaml:"eval_questions" json:"eval_questions"`
	DataQuestions []string   `yaml:"data_questions" json:"data_questions"`
	OnPolicy      Sampling   `yaml:"onpolicy" json:"onpolicy"`
	Training      Training   `yaml:"training" json:"training"`
	Eval          Eval       `yaml:"eval" json:"eval"`
	Embedding     Embedding  `yaml:"embedding" json:"embedding"`
}

// Default is the #81 design: what a key left out of a sweep file means.
// Sources and seeds have no default.
func Default() Spec {
	pool := make([]Persona, 0, len(i81.OriginalPersonas))
	for _, p := range i81.OriginalPersonas {
		pool = append(pool, Persona{Key: p.Key, Prompt: p.Prompt})
	}
	return Spec{
		DType:         "bfloat16",
		Marker:        "[ZLT]",
		NegativePool:  pool,
		Bystanders:    Bystanders{Grid: i81.Name, Assistant: true},
		EvalQuestions: append([]string(nil), i81.EvalQuestions...),
		DataQuestions: append([]string(nil), i81.DataQuestions...),
		// §1.3: vLLM n=15, temperature 0.7, top-p 0.95, 512 tokens, seed 42.
		OnPolicy: Sampling{N: 15, Temperature: 0.7, TopP: 0.95, MaxTokens: 512, Seed: 42, BatchSize: 64},
		// §1.4–§1.6, including what the write-up did not state: tail-32 loss,
		// rsLoRA, 5 epochs.
		Training: Training{PositivesPerQuestion: 5, NegativesPerQuestion: 5, LossMode: "tail", TailTokens: 32,
			LoRA: LoRA{R: 32, Alpha: 64, Dropout: 0.05, UseRSLoRA: true,
				TargetModules: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}},
			LearningRate: 1e-4, LRScheduler: "cosine", WarmupRatio: 0.05, Epochs: 5, BatchSize: 4, GradAccum: 4,
			MaxLength: 1024, WeightDecay: 0, LoggingSteps: 5, GradientCheckpointing: true},
		// §2.1: n=10 per question, temperature 1.0, top-p 0.95, 512 tokens, seed 42.
		Eval:      Eval{Sampling: Sampling{N: 10, Temperature: 1.0, TopP: 0.95, MaxTokens: 512, Seed: 42, BatchSize: 64}, BaseModel: true},
		Embedding: Embedding{Enabled: true, Layers: []int{10, 15, 20, 25}, Position: "last_prompt_token"},
	}
}
