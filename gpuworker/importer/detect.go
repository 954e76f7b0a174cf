package importer

import (
	"regexp"
	"sort"
)

// Format names reported in FileReport.Format.
const (
	FormatCompletionList     = "per-completion-list"      // [{persona, question, completion, marker_present, …}]
	FormatPromptLengthList   = "prompt-length-control"    // [{condition, persona_prompt, question, completion_idx, completion, marker_present}]
	FormatRawCompletions     = "raw-completions"          // {persona: {question: [text]}}
	FormatMarkerEvalI81      = "marker-eval-i81"          // {persona: {rate, found, total, per_question}}
	FormatMarkerEvalStrict   = "marker-eval-strict"       // {model, config, per_persona{strict_*}, summary}
	FormatMarkerEvalLoose    = "marker-eval-strict-loose" // same with loose_*
	FormatMarkerEvalSingle   = "marker-eval-single-token" // {persona: {rate, found, total, category, related_to}}
	FormatI81CSV             = "i81-cells-csv"            // coherence_flags.csv
	FormatArmResults         = "arm-results"              // {persona: {indomain|generic: {markers, total, rate}}}
	FormatExpALeakage        = "expA-leakage"             // {training{marker}, leakage_results{persona{generic,domain,combined}}}
	FormatCosineMatrices     = "cosine-matrices"          // {layer_L: {persona_names, raw|assistant_subtracted|global_mean_subtracted|matrix}}
	FormatCosinePairs        = "cosine-pairs"             // {layerN: {_per_source_detail{src: [{persona, cosine_sim, …}]}}}
	FormatPhase0Cosines      = "phase0-cosines"           // {extraction_layer, pairwise_cosines{a:{b:v}}}
	FormatSingleTokenSummary = "single-token-summary"
	FormatCompiledAnalysis   = "compiled-analysis"
	FormatCosineFiltered     = "cosine-leakage-filtered"
	FormatHeadToHead         = "trait-ranking-head-to-head"
	FormatSymmetricSwap      = "trait-ranking-symmetric-swap"
	FormatRunResultLeakage   = "run-result-leakage"   // {seed, data{source_persona, neg_set, …}, eval{n_questions, …}, results{marker{all_personas{persona: rate}}}}
	FormatRunResultSweep     = "run-result-sweep"     // {config{lr, epochs, source, seed}, eval{marker{persona: rate}}, degeneration?}
	FormatRunResultsCompiled = "run-results-compiled" // [run-result-sweep, …]
)

type jsonFormat struct {
	name  string
	skip  string // recognised, not imported: why
	parse func(c *fileCtx, top jv) error
}

// derived are recognised derived summaries: imported data already holds
// their inputs, or their numbers cannot be re-derived into events. Each is
// recognised by all of its keys.
var derived = []struct {
	keys []string
	f    jsonFormat
}{
	{[]string{"source", "source_marker", "max_bystander", "mean_bystander", "n_personas"},
		jsonFormat{name: FormatSingleTokenSummary, skip: "derived summary of the marker_eval.json in the same folder (source rate, max/mean bystander rate)"}},
	{[]string{"sources", "n_personas", "categories", "results", "per_category"},
		jsonFormat{name: FormatCompiledAnalysis, skip: "derived summary of the single_token_100_persona marker_eval.json files (per-source rates and per-category statistics)"}},
	{[]string{"layer", "pooled", "related_only"},
		jsonFormat{name: FormatCosineFiltered, skip: "derived correlation statistics (ρ, p per category) of cosine_leakage_correlation.json"}},
	{[]string{"per_axis", "per_source", "permutation"},
		jsonFormat{name: FormatHeadToHead, skip: "derived analysis output (trait vs noun effects, permutation test) over person_full130, which is not published (EXPERIMENT.md §6.8, §8.1)"}},
	{[]string{"symmetric_swap_comparison", "per_axis_trait_effect_ranking"},
		jsonFormat{name: FormatSymmetricSwap, skip: "derived analysis output (symmetric noun/descriptor swap) over person_full130, which is not published (EXPERIMENT.md §6.8, §8.1)"}},
}

var (
	layerKeyRe    = regexp.MustCompile(`^layer_?([0-9]+)$`)
	completionKey = []string{"question", "completion", "marker_present"}
)

// detectJSON recognises a decoded file by its keys (never its name). Field
// types are not checked here, so a wrongly typed field is reported by the
// format's parser with its JSON path.
func detectJSON(top jv) (jsonFormat, error) {
	if recs, err := top.arr(); err == nil {
		keys := unionKeys(recs)
		switch {
		case len(recs) > 0 && keys["persona"] && hasAll(keys, completionKey):
			return jsonFormat{name: FormatCompletionList, parse: parseCompletionList}, nil
		case len(recs) > 0 && keys["condition"] && keys["persona_prompt"] && hasAll(keys, completionKey):
			return jsonFormat{name: FormatPromptLengthList, parse: parseCompletionList}, nil
		case len(recs) > 0 && allRunResults(recs):
			return jsonFormat{name: FormatRunResultsCompiled, skip: "derived summary: the run_result.json of every run folder beside it, concatenated (one item per run); the runs are imported from those files"}, nil
		}
		return jsonFormat{}, unknownShape("$", "unknown shape: array of %d items with keys %s", len(recs), keyList(sortedKeys(keys), 12))
	}
	m, err := top.obj()
	if err != nil {
		return jsonFormat{}, unknownShape("$", "unknown shape: top-level %s", typeName(top.v))
	}
	keys := map[string]bool{}
	for k := range m {
		keys[k] = true
	}
	for _, d := range derived {
		if hasAll(keys, d.keys) {
			return d.f, nil
		}
	}
	switch {
	case keys["per_persona"]:
		pp, _ := top.get("per_persona").v.(map[string]any)
		if err := resembles(pp, "$.per_persona", "a marker eval with strict/loose hit counts", "strict_hits, strict_rate, loose_hits or loose_rate", func(o map[string]any) bool {
			return has(o, "strict_hits", "strict_rate", "loose_hits", "loose_rate") > 0
		}); err != nil {
			return jsonFormat{}, err
		}
		if personaMembers(top.get("per_persona"))["loose_hits"] || personaMembers(top.get("per_persona"))["loose_rate"] {
			return jsonFormat{name: FormatMarkerEvalLoose, parse: parseMarkerEvalHits}, nil
		}
		return jsonFormat{name: FormatMarkerEvalStrict, parse: parseMarkerEvalHits}, nil
	case keys["leakage_results"] && keys["training"]:
		return jsonFormat{name: FormatExpALeakage, parse: parseExpALeakage}, nil
	case keys["results"] && keys["data"] && top.get("results").get("marker").has("all_personas"):
		return jsonFormat{name: FormatRunResultLeakage, parse: parseRunResultLeakage}, nil
	case isSweepRunResult(top):
		return jsonFormat{name: FormatRunResultSweep, parse: parseRunResultSweep}, nil
	case keys["pairwise_cosines"] && keys["extraction_layer"]:
		return jsonFormat{name: FormatPhase0Cosines, parse: parsePhase0Cosines}, nil
	case len(m) > 0 && allMatch(m, layerKeyRe):
		members := personaMembers(top)
		switch {
		case members["_per_source_detail"]:
			return jsonFormat{name: FormatCosinePairs, parse: parseCosinePairs}, nil
		case members["persona_names"]:
			return jsonFormat{name: FormatCosineMatrices, parse: parseCosineMatrices}, nil
		}
	case len(m) > 0 && allObjects(m):
		members := personaMembers(top)
		var f jsonFormat
		var what, carry string
		var carries func(map[string]any) bool
		switch {
		case members["category"] || members["related_to"]:
			f, what, carry = jsonFormat{name: FormatMarkerEvalSingle, parse: parseMarkerEvalSingle}, "a per-persona marker eval with categories", "category or related_to with rate/found/total"
			carries = func(o map[string]any) bool { return has(o, "category", "related_to") > 0 && countsLike(o) }
		case members["per_question"] || (members["found"] && members["total"]):
			f, what, carry = jsonFormat{name: FormatMarkerEvalI81, parse: parseMarkerEvalI81}, "a per-persona marker eval", "at least two of rate, found, total"
			carries = countsLike
		case members["indomain"] || members["generic"]:
			f, what, carry = jsonFormat{name: FormatArmResults, parse: parseArmResults}, "per-persona arm results", "indomain or generic"
			carries = func(o map[string]any) bool { return has(o, "indomain", "generic") > 0 }
		case len(members) > 0 && allArrays(top):
			f, what, carry = jsonFormat{name: FormatRawCompletions, parse: parseRawCompletions}, "raw completions", "question → list of completion texts"
			carries = textLists
		}
		if carries != nil {
			if err := resembles(m, "$", what, carry, carries); err != nil {
				return jsonFormat{}, err
			}
			return f, nil
		}
	}
	return jsonFormat{}, unknownShape("$", "unknown shape: top-level object with keys %s", keyList(sortedKeys(keys), 12))
}

// resembles decides between a file of a known per-persona shape and one
// that merely looks like it (e.g. an alignment eval {scores, summary} whose
// summary has a per_question member): the format claims the file only when
// more than half of the objects under path carry its members (carries); a
// file it claims with some objects lacking them is malformed, and its
// parser says where. Otherwise the error is ErrUnknownShape, which
// --skip-unknown lists as skipped.
func resembles(m map[string]any, path, what, carry string, carries func(map[string]any) bool) error {
	n := 0
	for _, v := range m {
		if o, ok := v.(map[string]any); ok && carries(o) {
			n++
		}
	}
	if 2*n > len(m) {
		return nil
	}
	return unknownShape(path, "unknown shape: looks like %s, but only %d of %d objects carry %s", what, n, len(m), carry)
}

// has counts the members of o among keys (present, whatever their value).
func has(o map[string]any, keys ...string) int {
	n := 0
	for _, k := range keys {
		if _, ok := o[k]; ok {
			n++
		}
	}
	return n
}

// countsLike: an object with at least two of rate, found and total.
func countsLike(o map[string]any) bool { return has(o, "rate", "found", "total") >= 2 }

// textLists: an object whose every member is a list, with texts in them
// (a string among the items, or no items at all): an alignment eval's
// lists of score objects are not completions. A single non-string item in
// lists of texts is a malformed file, left to the parser.
func textLists(o map[string]any) bool {
	items := 0
	for _, v := range o {
		a, ok := v.([]any)
		if !ok {
			return false
		}
		for _, x := range a {
			items++
			if _, ok := x.(string); ok {
				return true
			}
		}
	}
	return items == 0
}

// isSweepRunResult recognises a single_token_sweep run_result.json: a
// config object with lr and epochs, and eval.marker an object.
func isSweepRunResult(n jv) bool {
	cfg := n.get("config")
	return cfg.has("lr") && cfg.has("epochs") && n.get("eval").get("marker").isObj()
}

// allRunResults: every item of an array is a sweep run_result object.
func allRunResults(recs []jv) bool {
	for _, r := range recs {
		if !isSweepRunResult(r) {
			return false
		}
	}
	return true
}

// unionKeys is the set of member names over an array's object items.
func unionKeys(recs []jv) map[string]bool {
	keys := map[string]bool{}
	for _, r := range recs {
		if m, ok := r.v.(map[string]any); ok {
			for k := range m {
				keys[k] = true
			}
		}
	}
	return keys
}

// personaMembers is the set of member names over the object values of n.
func personaMembers(n jv) map[string]bool {
	keys := map[string]bool{}
	m, _ := n.v.(map[string]any)
	for _, v := range m {
		if o, ok := v.(map[string]any); ok {
			for k := range o {
				keys[k] = true
			}
		}
	}
	return keys
}

func hasAll(keys map[string]bool, want []string) bool {
	for _, k := range want {
		if !keys[k] {
			return false
		}
	}
	return true
}

func allMatch(m map[string]any, re *regexp.Regexp) bool {
	for k := range m {
		if !re.MatchString(k) {
			return false
		}
	}
	return true
}

func allObjects(m map[string]any) bool {
	for _, v := range m {
		if _, ok := v.(map[string]any); !ok {
			return false
		}
	}
	return true
}

// allArrays: every value of every value of n is an array ({p: {q: [...]}}).
func allArrays(n jv) bool {
	m, _ := n.v.(map[string]any)
	for _, v := range m {
		o, _ := v.(map[string]any)
		for _, x := range o {
			if _, ok := x.([]any); !ok {
				return false
			}
		}
	}
	return true
}

// sortedLayers returns the layer keys of m in numeric layer order with their numbers.
func sortedLayers(keys []string) ([]string, map[string]int) {
	num := map[string]int{}
	for _, k := range keys {
		sm := layerKeyRe.FindStringSubmatch(k)
		n := 0
		for _, ch := range sm[1] {
			n = n*10 + int(ch-'0')
			if n > 1<<20 {
				break
			}
		}
		num[k] = n
	}
	out := append([]string(nil), keys...)
	sort.SliceStable(out, func(i, j int) bool {
		if num[out[i]] != num[out[j]] {
			return num[out[i]] < num[out[j]]
		}
		return out[i] < out[j]
	})
	return out, num
}
