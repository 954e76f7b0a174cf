package web

import (
	"html/template"
	"sort"
	"strconv"
	"strings"

	"leakscope/query"
)

// runKind is the badge a run gets beside its ID: "embeddings" for a base
// run that measured only cosine pairs (the base model's embeddings, no
// completions), "base" for the untrained reference model's run, "" else.
func runKind(rs query.RunSummary) string {
	switch {
	case rs.IsBase && rs.Completions == 0 && rs.CosinePairs > 0:
		return "embeddings"
	case rs.IsBase:
		return "base"
	}
	return ""
}

// anySynthetic is true when one of runs came from the replay engine.
func anySynthetic(runs []query.RunSummary) bool {
	for _, r := range runs {
		if r.Synthetic {
			return true
		}
	}
	return false
}

// syntheticBadge is the badge pages of replay-engine runs show.
const syntheticBadge = template.HTML(`<span class="ls-tag ls-synthetic" title="made by the replay engine's synthetic leakage model: no language model was trained or sampled">synthetic data</span>`)

// distinguishing maps each run ID to the "k=v" words that tell it apart
// from the experiment's other runs: the factors, seed and source whose
// values differ between runs ("" when nothing differs).
func distinguishing(runs []query.RunSummary) map[string]string {
	vals := map[string]map[string]bool{}
	words := make([]map[string]string, len(runs))
	for i, r := range runs {
		w := map[string]string{}
		for k, v := range r.Factors {
			w[k] = v
		}
		if r.Seed != nil {
			w["seed"] = strconv.FormatInt(*r.Seed, 10)
		}
		if r.SourcePersona != "" {
			w["source"] = r.SourcePersona
		}
		words[i] = w
	}
	keys := map[string]bool{}
	for _, w := range words {
		for k := range w {
			keys[k] = true
		}
	}
	for k := range keys {
		vals[k] = map[string]bool{}
		for _, w := range words {
			vals[k][w[k]] = true // a run without k counts as ""
		}
	}
	var differ []string
	for k, vs := range vals {
		if len(vs) > 1 {
			differ = append(differ, k)
		}
	}
	sort.Strings(differ)
	out := make(map[string]string, len(runs))
	for i, r := range runs {
		var parts []string
		for _, k := range differ {
			if v, ok := words[i][k]; ok {
				parts = append(parts, k+"="+v)
			}
		}
		out[r.RunID] = strings.Join(parts, " ")
	}
	return out
}
