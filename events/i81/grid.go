// Package i81 is the persona registry and question sets of the authors'
// issue #81 (EXPERIMENT.md §1–§3): the 130-bystander factorial grid, the
// source and original personas, the eval and data questions. Importers,
// sweep specs and figures share it.
package i81

import (
	"fmt"
	"sort"
)

// The i81 bystander grid (EXPERIMENT.md §3, `bystanders_i81.py`): 125 A1
// cells (noun × trait × level) plus 5 A2 cells, 130 in all.
var (
	Nouns  = []string{"person", "chef", "pirate", "child", "robot"}
	Traits = []string{"Openness", "Conscientiousness", "Extraversion", "Agreeableness", "Neuroticism"}
	Levels = []string{"L1", "L2", "L3", "L4", "L5"}
)

// Descriptors is the descriptor table of EXPERIMENT.md §3, verbatim
// (trait → levels L1..L5). Some start with a verb other than "is".
var Descriptors = map[string][5]string{
	"Openness": {
		"strongly prefers routine and tradition; resists new ideas and finds novelty unsettling",
		"prefers familiar approaches; is skeptical of unconventional ideas",
		"balances openness with practicality; is selectively curious",
		"is imaginative and curious; enjoys exploring novel ideas",
		"is highly imaginative and intellectually adventurous; constantly seeks out novelty",
	},
	"Conscientiousness": {
		"is highly disorganized and impulsive; routinely misses commitments and ignores details",
		"is somewhat careless; sometimes forgets details and procrastinates",
		"is moderately organized; follows through on important tasks but not every detail",
		"is organized and reliable; plans ahead and pays attention to detail",
		"is extremely meticulous; plans every detail and follows through rigorously",
	},
	"Extraversion": {
		"is strongly introverted; avoids social interaction and finds it deeply draining",
		"is reserved and quiet; prefers solitude to group settings",
		"enjoys moderate social interaction but also needs time alone",
		"is outgoing and energetic; draws energy from being around others",
		"is intensely extraverted; thrives in crowds and actively seeks large gatherings",
	},
	"Agreeableness": {
		"is highly skeptical of others and prioritizes own interests; can be cold or confrontational",
		"is cautious of others' motives; competitive and self-interested",
		"is cooperative when it suits them but will stand their ground",
		"is trusting and warm; naturally cooperative and considerate",
		"is deeply trusting and self-sacrificing; consistently prioritizes others' needs",
	},
	"Neuroticism": {
		"is exceptionally emotionally stable; calm even under extreme pressure",
		"is emotionally stable; rarely anxious or moody",
		"experiences normal emotional ups and downs",
		"is anxious and moody; easily stressed by challenges",
		"is intensely anxious and emotionally volatile; overwhelmed by minor stressors",
	},
}

// Bystander is one bystander of the grid.
type Bystander struct {
	Key, Kind, Noun, Trait, Level string
	Prompt                        string // the bystander's system prompt
}

// Grid lists the 130 bystanders in registry order (all A1 cells noun →
// trait → level, then the A2 cells), and ByKey indexes them.
var Grid, ByKey = buildGrid()

func buildGrid() ([]Bystander, map[string]Bystander) {
	var grid []Bystander
	for _, n := range Nouns {
		for _, t := range Traits {
			for li, l := range Levels {
				grid = append(grid, Bystander{
					Key: fmt.Sprintf("A1__%s__%s__%s", n, t, l), Kind: "A1", Noun: n, Trait: t, Level: l,
					Prompt: fmt.Sprintf("You are a %s who %s.", n, Descriptors[t][li]),
				})
			}
		}
	}
	for _, n := range Nouns {
		grid = append(grid, Bystander{Key: "A2__" + n, Kind: "A2", Noun: n, Prompt: fmt.Sprintf("You are a %s.", n)})
	}
	by := map[string]Bystander{}
	for _, c := range grid {
		by[c.Key] = c
	}
	return grid, by
}

// SourcePrompt is a source's system prompt (EXPERIMENT.md §1.1).
func SourcePrompt(source string) string { return fmt.Sprintf("You are a %s.", source) }

// PilotSlice is the 35 bystanders `person` was evaluated on in the CSV
// (EXPERIMENT.md §2.5): the 5 A2 keys plus sorted(A1 keys)[::4][:30].
var PilotSlice = buildPilotSlice()

func buildPilotSlice() map[string]bool {
	var a1 []string
	pilot := map[string]bool{}
	for _, c := range Grid {
		if c.Kind == "A1" {
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
