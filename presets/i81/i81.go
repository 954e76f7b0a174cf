// Package i81 is the preset of the authors' issue #81 (EXPERIMENT.md
// §1–§3, §6): the 130-bystander noun × trait × level grid, the five
// source personas, the original personas of the negative pool, the eval
// and data questions, and the estimand parameters the published numbers
// pin. The design lives in i81.json (embedded); this package only exposes
// it under the names importers, sweep specs, loadgen, estimands and
// figures use.
package i81

import (
	_ "embed"
	"sort"

	"leakscope/events"
	"leakscope/presets"
)

//go:embed i81.json
var data []byte

// Preset is the #81 preset as loaded from i81.json.
var Preset = presets.MustParse("presets/i81/i81.json", data)

// Name is the preset's name, as sweep files select its grid (bystanders.grid: i81).
var Name = Preset.Name

// The factor names of the #81 design: noun, trait and level are the
// factors i81.json declares (its "factors", in order); kind is the factor
// its bystander families set (A1: the noun × trait × level grid, A2: the
// pure nouns). Cells carry them as events.Factors under these names; the
// #81 estimands and importers read them through these constants.
const (
	FactorKind  = "kind"
	FactorNoun  = "noun"
	FactorTrait = "trait"
	FactorLevel = "level"
)

// The values of kind that i81.json's bystander families set.
const (
	KindGrid = "A1" // a noun × trait × level cell
	KindNoun = "A2" // a pure-noun cell
)

// The factorial's factors (EXPERIMENT.md §3, `bystanders_i81.py`), in the
// authors' order.
var (
	Nouns  = Preset.Values(FactorNoun)
	Traits = Preset.Values(FactorTrait)
	Levels = Preset.Values(FactorLevel)
)

// Factors are the persona factors a #81 bystander carries.
var Factors = []string{FactorKind, FactorNoun, FactorTrait, FactorLevel}

// A1Key is the bystander key of noun × trait × level: "A1__chef__Openness__L1".
func A1Key(noun, trait, level string) string { return "A1__" + noun + "__" + trait + "__" + level }

// A2Key is the bystander key of the pure noun persona: "A2__chef".
func A2Key(noun string) string { return "A2__" + noun }

// Bystander is one bystander of the grid; Trait and Level are empty for
// the pure-noun (A2) cells. Factors are the same four as the preset
// declares them (kind, noun, trait, level; a copy), as cells carry them.
type Bystander struct {
	Key, Kind, Noun, Trait, Level string
	Prompt                        string // the bystander's system prompt
	Factors                       events.Factors
}

// Grid lists the 130 bystanders in registry order (all A1 cells noun →
// trait → level, then the A2 cells), and ByKey indexes them.
var Grid, ByKey = buildGrid()

func buildGrid() ([]Bystander, map[string]Bystander) {
	grid := make([]Bystander, 0, len(Preset.Bystanders))
	by := map[string]Bystander{}
	for _, p := range Preset.Bystanders {
		f := make(events.Factors, len(p.Factors))
		for k, v := range p.Factors {
			f[k] = v
		}
		b := Bystander{Key: p.Key, Prompt: p.Prompt, Kind: f[FactorKind], Noun: f[FactorNoun], Trait: f[FactorTrait], Level: f[FactorLevel], Factors: f}
		grid = append(grid, b)
		by[b.Key] = b
	}
	return grid, by
}

// Persona is a key and its system prompt.
type Persona struct{ Key, Prompt string }

// Sources are the 5 source personas of #81 (§1.1): src_<noun> → "You are a <noun>.".
func Sources() []Persona {
	out := make([]Persona, 0, len(Preset.Sources))
	for _, s := range Preset.Sources {
		out = append(out, Persona{Key: s.Key, Prompt: s.Prompt})
	}
	return out
}

// SourcePrompt is the system prompt of the source named noun ("chef" →
// "You are a chef."), for a noun of the grid or not (§1.1).
func SourcePrompt(noun string) string {
	if s, ok := Preset.SourceNamed(noun); ok {
		return s.Prompt
	}
	return "You are a " + noun + "."
}

// OwnCell is the key of the bystander that is source s itself ("chef" or
// "src_chef" → "A2__chef"), or "" for a source outside the preset.
func OwnCell(s string) string {
	src, _ := Preset.SourceNamed(s)
	return src.OwnCell
}

// EvalQuestions are the 20 EVAL_QUESTIONS every bystander cell is sampled
// on (§2.1), in order; DataQuestions the 40 DATA_QUESTIONS of on-policy
// training data (§1.3), disjoint from them.
var (
	EvalQuestions = Preset.Questions["eval"]
	DataQuestions = Preset.Questions["data"]
)

// OriginalPersonas are the 10 original personas of the negative pool
// (§1.2), in registry order.
var OriginalPersonas = func() []Persona {
	out := make([]Persona, 0, len(Preset.NegativePool))
	for _, p := range Preset.NegativePool {
		out = append(out, Persona{Key: p.Key, Prompt: p.Prompt})
	}
	return out
}()

// Assistant is the assistant QC persona evaluated beside the bystanders (§2.1).
var Assistant = Persona{Key: Preset.Personas["assistant"].Key, Prompt: Preset.Personas["assistant"].Prompt}

// PublishedNegatives are the negatives recomputed with PYTHONHASHSEED=0 on
// CPython 3.11 (§1.2, [U]: the ones actually used were never logged).
// Sweep specs name negatives explicitly; these are the i81 example's.
var PublishedNegatives = Preset.Negatives

// PilotSlice is the 35 bystanders `person` was evaluated on in the CSV
// (§2.5): the 5 A2 keys plus sorted(A1 keys)[::4][:30].
var PilotSlice = buildPilotSlice()

func buildPilotSlice() map[string]bool {
	var a1 []string
	pilot := map[string]bool{}
	for _, c := range Grid {
		if c.Kind == KindGrid {
			a1 = append(a1, c.Key)
		} else {
			pilot[c.Key] = true
		}
	}
	sort.Strings(a1)
	for i, n := 0, 0; i < len(a1) && n < 30; i, n = i+4, n+1 {
		pilot[a1[i]] = true
	}
	return pilot
}
