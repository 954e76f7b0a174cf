// Package engine is the Go side of the GPU engine: the Engine interface the
// job executor drives, the request and reply types of the JSON-lines
// protocol (PROTOCOL.md beside this file), and Process, which runs the
// Python engine (leakscope_engine, beside this file) as a child process.
package engine

import (
	"context"
	"encoding/json"
)

// Info is the hello result: library versions and the GPU, recorded in every run.
type Info struct {
	Protocol      int     `json:"protocol"`
	EngineVersion string  `json:"engine_version"`
	Python        string  `json:"python"`
	Torch         *string `json:"torch"`
	Transformers  *string `json:"transformers"`
	PEFT          *string `json:"peft"`
	CUDA          bool    `json:"cuda"`
	GPU           *string `json:"gpu"`
}

// LoadRequest loads a Hugging Face model directory and optionally a LoRA adapter.
type LoadRequest struct {
	Model   string  `json:"model"`
	Adapter *string `json:"adapter"`
	DType   string  `json:"dtype"`
}

// Loaded describes the loaded model.
type Loaded struct {
	ModelType         string  `json:"model_type"`
	NumLayers         int     `json:"num_layers"`
	HiddenSize        int     `json:"hidden_size"`
	ModelConfigSHA256 string  `json:"model_config_sha256"`
	AdapterSHA256     *string `json:"adapter_sha256"`
}

// Prompt is one (persona, question) to sample SampleIndices completions of.
type Prompt struct {
	Key           string `json:"key"`
	System        string `json:"system"`
	User          string `json:"user"`
	SampleIndices []int  `json:"sample_indices,omitempty"`
}

// GenerateRequest samples completions (temperature/top-p sampling, left-padded batches).
type GenerateRequest struct {
	Prompts      []Prompt `json:"prompts"`
	Temperature  float64  `json:"temperature"`
	TopP         float64  `json:"top_p"`
	MaxNewTokens int      `json:"max_new_tokens"`
	Seed         int64    `json:"seed"`
	BatchSize    int      `json:"batch_size"`
	// Batching is "static", "continuous" or empty (not sent: the engine's
	// "auto", its LEAKSCOPE_ENGINE_BATCHING or static).
	Batching string `json:"batching,omitempty"`
}

// Generated is one sampled completion. FinishReason is "stop" or "length"
// (cut at max_new_tokens: an end-of-text marker may be lost).
type Generated struct {
	Key              string `json:"key"`
	User             string `json:"user"`
	SampleIndex      int    `json:"sample_index"`
	Text             string `json:"text"`
	PromptTokens     int    `json:"prompt_tokens"`
	CompletionTokens int    `json:"completion_tokens"`
	FinishReason     string `json:"finish_reason"`
}

// TrainRequest trains a marker LoRA (PROTOCOL.md, op train). Examples is
// []sweep.Example marshalled; the engine package does not import sweep.
type TrainRequest struct {
	Examples              json.RawMessage `json:"examples"`
	OutDir                string          `json:"out_dir"`
	LossMode              string          `json:"loss_mode"`
	TailTokens            int             `json:"tail_tokens"`
	LoRA                  json.RawMessage `json:"lora"`
	LearningRate          float64         `json:"learning_rate"`
	LRScheduler           string          `json:"lr_scheduler"`
	WarmupRatio           float64         `json:"warmup_ratio"`
	Epochs                int             `json:"epochs"`
	BatchSize             int             `json:"batch_size"`
	GradAccum             int             `json:"grad_accum"`
	MaxLength             int             `json:"max_length"`
	WeightDecay           float64         `json:"weight_decay"`
	Seed                  int64           `json:"seed"`
	LoggingSteps          int             `json:"logging_steps"`
	GradientCheckpointing bool            `json:"gradient_checkpointing"`
}

// TrainLog is one logged optimizer step.
type TrainLog struct {
	Step         int     `json:"step"`
	Epoch        float64 `json:"epoch"`
	Loss         float64 `json:"loss"`
	LearningRate float64 `json:"learning_rate"`
}

// Trained is the train result.
type Trained struct {
	AdapterDir    string  `json:"adapter_dir"`
	AdapterSHA256 string  `json:"adapter_sha256"`
	Steps         int     `json:"steps"`
	Epochs        int     `json:"epochs"`
	FinalLoss     float64 `json:"final_loss"`
	MeanLoss      float64 `json:"mean_loss"`
	Examples      int     `json:"examples"`
	Positives     int     `json:"positives"`
	LabelTokens   int     `json:"label_tokens"`
	Seconds       float64 `json:"seconds"`
}

// EmbedRequest extracts persona centroids (EXPERIMENT.md §5).
type EmbedRequest struct {
	Prompts  []Prompt `json:"prompts"`
	Layers   []int    `json:"layers"`
	Position string   `json:"position"`
}

// Centroid is the mean hidden state of one key at one layer.
type Centroid struct {
	Key      string    `json:"key"`
	Layer    int       `json:"layer"`
	NPrompts int       `json:"n_prompts"`
	Vector   []float64 `json:"vector"`
}

// Embedded is the embed result.
type Embedded struct {
	HiddenSize int        `json:"hidden_size"`
	Centroids  []Centroid `json:"centroids"`
}

// Engine is what a job executor drives. Generate and Train call their
// callback for every streamed item, in order, from the calling goroutine;
// a callback error aborts the call.
type Engine interface {
	Hello(ctx context.Context) (Info, error)
	Load(ctx context.Context, req LoadRequest) (Loaded, error)
	Generate(ctx context.Context, req GenerateRequest, each func(Generated) error) error
	Train(ctx context.Context, req TrainRequest, each func(TrainLog) error) (Trained, error)
	Embed(ctx context.Context, req EmbedRequest) (Embedded, error)
	Close() error
}

// Error is an error reply. BadRequest errors will fail again on retry.
type Error struct {
	Op, Message string
	BadRequest  bool
}

func (e *Error) Error() string {
	kind := "runtime"
	if e.BadRequest {
		kind = "bad request"
	}
	return "engine " + e.Op + " (" + kind + "): " + e.Message
}
