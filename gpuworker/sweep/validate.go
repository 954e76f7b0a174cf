package sweep

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	"leakscope/events"
	"leakscope/presets/i81"
)

// keyRe keeps persona and sweep keys usable in job IDs, run IDs, KV keys
// and NATS subjects.
var keyRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$`)

func bad(key, format string, a ...any) error {
	return &Error{Key: key, Reason: fmt.Sprintf(format, a...)}
}

// Validate checks every key; the error names the first bad one.
func (s *Spec) Validate() error {
	switch {
	case s.Sweep == "":
		return bad("sweep", "is missing: name the sweep (letters, digits, _ and -)")
	case !keyRe.MatchString(s.Sweep):
		return bad("sweep", "%q must match %s", s.Sweep, keyRe)
	case !events.ValidExperiment(s.Experiment):
		return bad("experiment", "%q must match %s", s.Experiment, keyRe)
	case s.Model == "":
		return bad("model", "is missing: the path of a Hugging Face model directory on the GPU machines")
	case s.DType != "bfloat16" && s.DType != "float32":
		return bad("dtype", "%q must be bfloat16 or float32", s.DType)
	case len(s.Seeds) == 0:
		return bad("seeds", "is missing: list the training seeds, e.g. [42]")
	case len(s.Sources) == 0:
		return bad("sources", "is missing: list at least one source persona with its negatives")
	}
	if err := events.CheckMarker(s.Marker); err != nil {
		return bad("marker", "%v", err)
	}
	seeds := map[int64]bool{}
	for i, sd := range s.Seeds {
		if seeds[sd] {
			return bad(fmt.Sprintf("seeds[%d]", i), "%d is listed twice", sd)
		}
		seeds[sd] = true
	}
	pool := map[string]string{}
	for i, p := range s.NegativePool {
		if err := checkPersona(fmt.Sprintf("negative_pool[%d]", i), p, pool); err != nil {
			return err
		}
	}
	// A source key names runs and jobs and keys the on-policy answers and
	// centroids: it must not be a reserved word, a negative or a bystander.
	srcs := map[string]string{BaseSource: "reserved", EmbedSource: "reserved"}
	for _, p := range s.EvalPersonas() {
		srcs[p.Key] = "a bystander"
	}
	for k := range pool {
		srcs[k] = "a persona of negative_pool"
	}
	for i, src := range s.Sources {
		k := fmt.Sprintf("sources[%d]", i)
		if what := srcs[src.Key]; what != "" && keyRe.MatchString(src.Key) {
			if what == "reserved" {
				what = "reserved for the base-model and embedding jobs"
			}
			return bad(k+".key", "%q is %s: give the source a key of its own (e.g. src_%s)", src.Key, what, src.Key)
		}
		if err := checkPersona(k, Persona{src.Key, src.Prompt}, srcs); err != nil {
			return err
		}
		srcs[src.Key] = "another source"
		if src.Negatives == nil {
			return bad(k+".negatives", "is missing: name the negative personas explicitly (keys of negative_pool), or [] for none")
		}
		seen := map[string]bool{}
		for j, n := range src.Negatives {
			nk := fmt.Sprintf("%s.negatives[%d]", k, j)
			switch {
			case pool[n] == "":
				return bad(nk, "%q is not a key of negative_pool", n)
			case seen[n]:
				return bad(nk, "%q is listed twice", n)
			case pool[n] == src.Prompt:
				return bad(nk, "%q has the source's own prompt", n)
			}
			seen[n] = true
		}
	}
	if err := checkFactors("factors", s.Factors); err != nil {
		return err
	}
	for i, src := range s.Sources {
		if err := checkFactors(fmt.Sprintf("sources[%d].factors", i), src.Factors); err != nil {
			return err
		}
	}
	if err := s.validateBystanders(); err != nil {
		return err
	}
	switch {
	case len(s.EvalQuestions) == 0:
		return bad("eval_questions", "is empty (leave it out for the 20 of EXPERIMENT.md §2.1)")
	case len(s.DataQuestions) == 0:
		return bad("data_questions", "is empty (leave it out for the 40 of EXPERIMENT.md §1.3)")
	}
	for _, qs := range []struct {
		key string
		q   []string
	}{{"eval_questions", s.EvalQuestions}, {"data_questions", s.DataQuestions}} {
		seen := map[string]bool{}
		for i, q := range qs.q {
			if q == "" || seen[q] {
				return bad(fmt.Sprintf("%s[%d]", qs.key, i), "is empty or repeated")
			}
			seen[q] = true
		}
	}
	if err := checkSampling("onpolicy", s.OnPolicy); err != nil {
		return err
	}
	if s.OnPolicy.N < max(s.Training.PositivesPerQuestion, s.Training.NegativesPerQuestion) {
		return bad("onpolicy.n", "%d is fewer than training takes per question (%d positives, %d negatives)",
			s.OnPolicy.N, s.Training.PositivesPerQuestion, s.Training.NegativesPerQuestion)
	}
	if err := checkSampling("eval", s.Eval.Sampling); err != nil {
		return err
	}
	if r := s.StoppingRule(); r != nil {
		if r.MinN >= r.MaxN {
			return bad("eval.adaptive.min_n", "%d leaves no room to stop early: a cell gets at most eval.n × questions = %d × %d = %d", r.MinN, s.Eval.N, r.Questions, r.MaxN)
		}
		if err := r.Validate("eval.adaptive."); err != nil {
			var fe *events.FieldError
			if errors.As(err, &fe) {
				key := fe.Field
				if key == "eval.adaptive.max_n" || key == "eval.adaptive.questions" {
					key = "eval.n" // derived: n × questions
				}
				return bad(key, "%s", fe.Reason)
			}
			return err
		}
	}
	if err := s.Training.validate(); err != nil {
		return err
	}
	if s.Embedding.Enabled {
		if len(s.Embedding.Layers) == 0 {
			return bad("embedding.layers", "is empty: list decoder layers, e.g. [10, 15, 20, 25]")
		}
		seen := map[int]bool{}
		for i, l := range s.Embedding.Layers {
			if l < 0 || seen[l] {
				return bad(fmt.Sprintf("embedding.layers[%d]", i), "%d is negative or repeated", l)
			}
			seen[l] = true
		}
		if s.Embedding.Position != events.PositionLastPromptToken {
			return bad("embedding.position", "%q: only %s exists (EXPERIMENT.md §5)", s.Embedding.Position, events.PositionLastPromptToken)
		}
	}
	return nil
}

func checkPersona(key string, p Persona, seen map[string]string) error {
	switch {
	case !keyRe.MatchString(p.Key):
		return bad(key+".key", "%q must match %s", p.Key, keyRe)
	case strings.TrimSpace(p.Prompt) == "":
		// An empty system slot injects Qwen's default system prompt (EXPERIMENT.md §10.9).
		return bad(key+".prompt", "is empty: every persona needs an explicit system prompt")
	case seen[p.Key] != "":
		return bad(key+".key", "%q is defined twice", p.Key)
	}
	seen[p.Key] = p.Prompt
	return nil
}

func (s *Spec) validateBystanders() error {
	b := s.Bystanders
	if b.Grid != i81.Name && b.Grid != "none" {
		return bad("bystanders.grid", "%q must be i81 (the 130 cells of EXPERIMENT.md §3) or none", b.Grid)
	}
	for i, k := range b.Only {
		if _, ok := i81.ByKey[k]; !ok || b.Grid != i81.Name {
			return bad(fmt.Sprintf("bystanders.only[%d]", i), "%q is not a cell of the i81 grid", k)
		}
	}
	grid := map[string]string{}
	for _, p := range s.gridPersonas() {
		grid[p.Key] = p.Prompt
	}
	// "assistant" is the QC persona's key (assistant-subtracted cosines use it), even when it is off.
	grid[i81.Assistant.Key] = i81.Assistant.Prompt
	for i, p := range b.Custom {
		if err := checkPersona(fmt.Sprintf("bystanders.custom[%d]", i), p, grid); err != nil {
			return err
		}
	}
	if len(s.EvalPersonas()) == 0 {
		return bad("bystanders", "selects no persona to evaluate")
	}
	return nil
}

func checkSampling(key string, s Sampling) error {
	switch {
	case s.N < 1:
		return bad(key+".n", "%d must be >= 1", s.N)
	case !(s.Temperature > 0) || math.IsInf(s.Temperature, 0):
		return bad(key+".temperature", "%v must be > 0 (sampling; the engine does not decode greedily)", s.Temperature)
	case !(s.TopP > 0 && s.TopP <= 1):
		return bad(key+".top_p", "%v must be in (0, 1]", s.TopP)
	case s.MaxTokens < 1:
		return bad(key+".max_tokens", "%d must be >= 1", s.MaxTokens)
	case s.BatchSize < 1:
		return bad(key+".batch_size", "%d must be >= 1", s.BatchSize)
	case s.Batching != "" && s.Batching != "static" && s.Batching != "continuous":
		return bad(key+".batching", "%q must be static or continuous (the torch engine's generate batching)", s.Batching)
	}
	return nil
}

func (t Training) validate() error {
	switch {
	case t.PositivesPerQuestion < 1:
		return bad("training.positives_per_question", "%d must be >= 1", t.PositivesPerQuestion)
	case t.NegativesPerQuestion < 0:
		return bad("training.negatives_per_question", "%d must be >= 0", t.NegativesPerQuestion)
	case t.LossMode != "tail" && t.LossMode != "marker_only":
		return bad("training.loss_mode", "%q must be tail (what #81 ran, EXPERIMENT.md §0.1) or marker_only", t.LossMode)
	case t.LossMode == "tail" && t.TailTokens < 1:
		return bad("training.tail_tokens", "%d must be >= 1 with loss_mode tail", t.TailTokens)
	case t.LoRA.R < 1:
		return bad("training.lora.r", "%d must be >= 1", t.LoRA.R)
	case !(t.LoRA.Alpha > 0):
		return bad("training.lora.alpha", "%v must be > 0", t.LoRA.Alpha)
	case !(t.LoRA.Dropout >= 0 && t.LoRA.Dropout < 1):
		return bad("training.lora.dropout", "%v must be in [0, 1)", t.LoRA.Dropout)
	case len(t.LoRA.TargetModules) == 0:
		return bad("training.lora.target_modules", "is empty")
	case !(t.LearningRate > 0) || math.IsInf(t.LearningRate, 0):
		return bad("training.learning_rate", "%v must be > 0", t.LearningRate)
	case t.LRScheduler != "cosine" && t.LRScheduler != "linear" && t.LRScheduler != "constant":
		return bad("training.lr_scheduler", "%q must be cosine, linear or constant", t.LRScheduler)
	case !(t.WarmupRatio >= 0 && t.WarmupRatio < 1):
		return bad("training.warmup_ratio", "%v must be in [0, 1)", t.WarmupRatio)
	case t.Epochs < 1:
		return bad("training.epochs", "%d must be >= 1", t.Epochs)
	case t.BatchSize < 1:
		return bad("training.batch_size", "%d must be >= 1", t.BatchSize)
	case t.GradAccum < 1:
		return bad("training.grad_accum", "%d must be >= 1", t.GradAccum)
	case t.MaxLength < 16:
		return bad("training.max_length", "%d must be >= 16", t.MaxLength)
	case !(t.WeightDecay >= 0):
		return bad("training.weight_decay", "%v must be >= 0", t.WeightDecay)
	case t.LoggingSteps < 1:
		return bad("training.logging_steps", "%d must be >= 1", t.LoggingSteps)
	}
	return nil
}

// checkFactors validates design factors under key (their names and values
// as run_started will carry them).
func checkFactors(key string, f events.Factors) error {
	err := f.Validate(key)
	var fe *events.FieldError
	if errors.As(err, &fe) {
		return bad(fe.Field, "%s", fe.Reason)
	}
	return err
}
