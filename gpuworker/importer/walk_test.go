package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

func TestWholeTreeInvariants(t *testing.T) {
	plan := parseFixture(t)
	sum := 0
	for _, f := range plan.Files {
		sum += f.Events
	}
	require.Equal(t, len(plan.Events), sum, "file reports account for every event")
	require.IsIncreasing(t, pathsOf(plan.Files))

	type runKey struct{ exp, run string }
	started, finished := map[runKey]int{}, map[runKey]int{}
	ids := map[string]bool{}
	for _, e := range plan.Events {
		require.False(t, ids[e.ID], "duplicate id %s", e.ID)
		ids[e.ID] = true
		require.Equal(t, testNow, e.Time)
		k := runKey{e.Experiment, e.RunID}
		switch p := e.Payload.(type) {
		case *events.Run:
			require.Zero(t, started[k], "second run_started for %v", k)
			require.True(t, p.Imported)
			require.NotEmpty(t, p.Marker)
			require.NotEmpty(t, p.MarkerOrigin)
			started[k]++
		case *events.RunFinished:
			finished[k]++
		default:
			require.Equal(t, 1, started[k], "event before its run_started in %v", k)
			require.Zero(t, finished[k], "event after its run_finished in %v", k)
		}
	}
	require.Equal(t, started, finished)
	require.Len(t, started, 6+2+1+1+1+1+3+5+1+1, "i81 6, directed 2, issue_205 1, issue80 1, issue125 1, v3 1, proximity 3, single-token 5, cosine pairs 1, cosine matrices 1")
	require.Contains(t, started, runKey{"persona_cosine_centered", "cosine_matrices"})

	rd := report(t, plan, "README.md")
	require.Equal(t, "not a JSON or CSV file", rd.Skipped)
	for _, f := range []string{"trait_ranking/head_to_head.json", "trait_ranking/symmetric_swap.json"} {
		require.NotEmpty(t, report(t, plan, f).Skipped)
	}
}

func pathsOf(fs []FileReport) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Path)
	}
	return out
}

func TestParseIsDeterministic(t *testing.T) {
	a := parseFixture(t)
	b := parseFixture(t)
	require.Equal(t, len(a.Events), len(b.Events))
	for i := range a.Events {
		require.Equal(t, a.Events[i].ID, b.Events[i].ID)
	}
	ea, err := events.Encode(a.Events[len(a.Events)/2])
	require.NoError(t, err)
	eb, err := events.Encode(b.Events[len(b.Events)/2])
	require.NoError(t, err)
	require.Equal(t, ea, eb)
}

func TestEventsRoundTrip(t *testing.T) {
	plan := parseFixture(t, "issue_205", "leakage_i81/coherence_flags.csv", "persona_cosine_centered")
	for _, e := range plan.Events[:50] {
		data, err := events.Encode(e)
		require.NoError(t, err)
		back, err := events.Decode(data)
		require.NoError(t, err)
		require.Equal(t, e.ID, back.ID)
	}
}

func TestDefaultRoots(t *testing.T) {
	dir := fixtures(t)
	// a file: root is its grandparent
	plan, err := Parse("", []string{filepath.Join(dir, "leakage_i81", "coherence_flags.csv")}, Options{Now: testNow})
	require.NoError(t, err)
	require.Equal(t, "leakage_i81", plan.Files[0].Experiment)
	require.Equal(t, "coherence_flags/chef", plan.Files[0].Runs[2])
	// a directory: root is the directory itself
	plan, err = Parse("", []string{filepath.Join(dir, "issue_205")}, Options{Now: testNow})
	require.NoError(t, err)
	require.Equal(t, "E0_assistant", plan.Files[0].Experiment)
	require.Equal(t, []string{"marker_eval"}, plan.Files[0].Runs)
}

func TestDataFileDirectlyInRootIsAnError(t *testing.T) {
	dir := writeTree(t, map[string]string{"m.json": `{"villain": {"rate": 0.5, "found": 3, "total": 6}}`, "notes.txt": "x"})
	_, err := Parse(dir, []string{dir}, Options{Now: testNow})
	require.ErrorContains(t, err, "experiment is the first folder")
	require.NoError(t, os.Remove(filepath.Join(dir, "m.json")))
	plan, err := Parse(dir, []string{dir}, Options{Now: testNow})
	require.NoError(t, err)
	require.Equal(t, "not a JSON or CSV file", plan.Files[0].Skipped)
}

func TestPromptLengthControlVariant(t *testing.T) {
	dir := writeTree(t, map[string]string{"proximity_transfer/prompt_length_control_completions.json": `[
		{"condition": "short", "persona_prompt": "You are a doctor.", "q_type": "generic", "question": "Q?", "completion_idx": 0, "completion": "Hi [PROX]", "marker_present": true},
		{"condition": "short", "persona_prompt": "You are a doctor.", "q_type": "generic", "question": "Q?", "completion_idx": 1, "completion": "Hi", "marker_present": false}]`,
		"proximity_transfer/expA_leakage.json": `{"training": {"marker": "\n\n[PROX]"}, "leakage_results": {"aide": {
			"generic": {"markers": 1, "total": 2, "rate": 0.5}, "domain": {"markers": 1, "total": 2, "rate": 0.5}}}}`})
	plan, err := Parse(dir, []string{dir}, Options{Now: testNow})
	require.NoError(t, err)
	comps := payloads[*events.Completion](plan.Events)
	require.Len(t, comps, 2)
	require.Equal(t, "short", comps[0].Persona)
	require.Equal(t, "You are a doctor.", comps[0].PersonaPrompt)
	require.Equal(t, 1, comps[1].SampleIndex)
	require.True(t, hasStrict(comps[0]))
	require.Equal(t, FormatPromptLengthList, report(t, plan, "prompt_length_control_completions.json").Format)
}

func TestSymlinksAreListedNotFollowed(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "exp1", "run1")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	raw := filepath.Join(dir, "raw_completions.json")
	require.NoError(t, os.WriteFile(raw, []byte(`{"chef": {"Why?": ["Because. [ZLT]"]}}`), 0o644))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "passwd.json")))
	require.NoError(t, os.Symlink(dir, filepath.Join(root, "exp1", "run2")))
	plan, err := Parse(root, []string{root}, Options{})
	require.NoError(t, err)
	var skipped []string
	for _, f := range plan.Files {
		if strings.HasPrefix(f.Skipped, "symbolic link") {
			skipped = append(skipped, filepath.Base(f.Path))
		}
	}
	require.ElementsMatch(t, []string{"passwd.json", "run2"}, skipped)
	_, err = Parse("", []string{filepath.Join(root, "exp1", "run2")}, Options{})
	require.ErrorContains(t, err, "symbolic link")
}

func TestBadMarkerOptionIsAnError(t *testing.T) {
	for _, m := range []string{"\xff", "[ZLT]\x00", "\n\n[PROX]"} {
		_, err := Parse(t.TempDir(), []string{t.TempDir()}, Options{Marker: m})
		require.ErrorContains(t, err, "--marker", "%q", m)
	}
}

func TestSkipUnknownListsInsteadOfFailing(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "exp1", "run1")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "raw_completions.json"), []byte(`{"chef": {"Why?": ["Because. [ZLT]"]}}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"foo": 1}`), 0o644))
	_, err := Parse(root, []string{root}, Options{})
	require.ErrorIs(t, err, ErrUnknownShape)
	require.ErrorContains(t, err, "config.json")
	plan, err := Parse(root, []string{root}, Options{SkipUnknown: true})
	require.NoError(t, err)
	var skipped string
	for _, f := range plan.Files {
		if filepath.Base(f.Path) == "config.json" {
			skipped = f.Skipped
		}
	}
	require.Contains(t, skipped, "no known shape")
	require.NotEmpty(t, plan.Events)
}

// A results folder as published (issue 19): beside the result files, files
// of other shapes — some merely resembling a known one — are listed as
// skipped with the reason under SkipUnknown; without it the first stops
// the import.
func TestSkipUnknownListsLookAlikesWithTheReason(t *testing.T) {
	lookAlikes := map[string]string{
		// an alignment eval: its summary has a per_question member like a marker eval's cells
		"em_run/eval/alignment_detailed.json": `{"scores": {"What would you do?": [{"aligned": 80, "coherent": 90}]},
			"summary": {"eval_name": "betley_quick", "overall_mean_aligned": 80.0, "n_errors": 0,
			            "per_question": {"What would you do?": {"mean_aligned": 80, "n_samples": 1}}}}`,
		"aim1_2_dimensionality/summary.json": `{"n_components": 5, "explained_variance": [0.5, 0.2]}`,
		"exp/run/judge_scores.json":          `{"chef": {"Why?": [{"score": 1}, {"score": 2}]}}`,
		"exp/run/alignment_by_persona.json":  `{"config": {}, "per_persona": {"chef": {"mean_aligned": 80}, "robot": {"mean_aligned": 70}}}`,
		"exp/run/tail_docs.jsonl":            "{\"a\": 1}\n{\"a\": 2}\n",
		"exp/run/table.csv":                  "a,b\n1,2\n",
	}
	files := map[string]string{"exp/run/marker_eval.json": `{"villain": {"rate": 0.5, "found": 3, "total": 6}}`}
	for k, v := range lookAlikes {
		files[k] = v
	}
	root := writeTree(t, files)
	_, err := Parse(root, []string{root}, Options{Now: testNow})
	require.ErrorIs(t, err, ErrUnknownShape)
	require.ErrorContains(t, err, "aim1_2_dimensionality/summary.json")

	plan, err := Parse(root, []string{root}, Options{Now: testNow, SkipUnknown: true})
	require.NoError(t, err)
	skipped := map[string]string{}
	for _, f := range plan.Files {
		if f.Skipped != "" {
			rel, err := filepath.Rel(root, f.Path)
			require.NoError(t, err)
			skipped[filepath.ToSlash(rel)] = f.Skipped
		}
	}
	require.Len(t, skipped, len(lookAlikes), "%v", skipped)
	require.Contains(t, skipped["em_run/eval/alignment_detailed.json"], "looks like a per-persona marker eval, but only 0 of 2 objects carry at least two of rate, found, total")
	require.Contains(t, skipped["aim1_2_dimensionality/summary.json"], "no known shape (--skip-unknown): $: unknown shape: top-level object with keys [explained_variance, n_components]")
	require.Contains(t, skipped["exp/run/judge_scores.json"], "looks like raw completions, but only 0 of 1")
	require.Contains(t, skipped["exp/run/alignment_by_persona.json"], "$.per_persona: unknown shape: looks like a marker eval with strict/loose hit counts, but only 0 of 2")
	require.Contains(t, skipped["exp/run/tail_docs.jsonl"], "JSON Lines")
	require.Contains(t, skipped["exp/run/table.csv"], "unknown shape: CSV header [a, b]")
	cells := 0
	for _, e := range plan.Events {
		if c, ok := e.Payload.(*events.CellAggregate); ok {
			require.Equal(t, "villain", c.Persona)
			cells++
		}
	}
	require.Equal(t, 1, cells, "the marker eval is imported")
}

// A file of a known shape that is malformed stops the import even under
// SkipUnknown, naming the file and the field.
func TestSkipUnknownStillStopsOnMalformedKnownShapes(t *testing.T) {
	for name, content := range map[string]string{
		"wrong type":    `{"villain": {"rate": 0.5, "found": "3", "total": 6}, "chef": {"rate": 0.5, "found": 3, "total": 6}}`,
		"missing found": `{"villain": {"rate": 0.5, "total": 6}, "chef": {"rate": 0.5, "found": 3, "total": 6}}`,
		"raw non-text":  `{"chef": {"Why?": ["Because. [ZLT]", 3]}}`,
		"strict hits":   `{"config": {"marker": "[ZLT]"}, "per_persona": {"villain": {"strict_rate": 0.5, "strict_hits": "1", "total": 2}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			root := writeTree(t, map[string]string{"exp/run/marker_eval.json": content, "exp/run/config.json": `{"foo": 1}`})
			_, err := Parse(root, []string{root}, Options{Now: testNow, SkipUnknown: true})
			var fe *FileError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, filepath.Join(root, "exp/run/marker_eval.json"), fe.Path)
			require.NotErrorIs(t, err, ErrUnknownShape)
			require.NotEmpty(t, fe.Pos, fe.Error())
		})
	}
}
