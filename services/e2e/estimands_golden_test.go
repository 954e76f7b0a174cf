package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/presets/i81"
	"leakscope/query/api"
	"leakscope/query/estimands"
)

// analyze runs an estimand over the fixtures lake and returns its rows by
// first column.
func analyze(t *testing.T, name, experiment string, params map[string]string) (map[string][]any, *estimands.Result) {
	t.Helper()
	e := openEngine(t, importedFixtures(t))
	res, err := estimands.Run(context.Background(), e, name, experiment, params)
	require.NoError(t, err, name)
	rows := map[string][]any{}
	for _, r := range res.Rows {
		rows[fmt.Sprint(r[0])] = r
	}
	return rows, res
}

// Every recomputable row of EXPERIMENT.md §9, to its printed precision.
func TestPublishedI81Estimands(t *testing.T) {
	rows, res := analyze(t, "self-implant", "leakage_i81", nil)
	for s, want := range map[string]float64{"person": 93.0, "chef": 92.5, "pirate": 86.0, "child": 98.5, "robot": 95.0} {
		require.InDelta(t, want, rows[s][1], 1e-9, s)
	}
	require.Contains(t, strings.Join(res.Notes, "\n"), "H1 (rate > 0.80 for every source in scope): true", "H1 holds for all five")

	rows, _ = analyze(t, "a2-matrix", "leakage_i81", map[string]string{"sources": "person"})
	// Pilot person A2: robot 87.5, child 15.5, chef 5.5, pirate 0.0 (columns in Nouns order).
	for i, want := range []float64{93.0, 5.5, 0.0, 15.5, 87.5} {
		require.InDelta(t, want, rows["person"][i+1], 1e-9, i81.Nouns[i])
	}

	rows, res = analyze(t, "cross-noun", "leakage_i81", nil)
	for s, want := range map[string]float64{"person": 27.125, "chef": 37.5, "pirate": 0.375, "child": 24.5, "robot": 3.5} {
		require.InDelta(t, want, rows[s][1], 1e-9, s)
	}
	require.Contains(t, strings.Join(res.Notes, "\n"), "27.3", "the authors' slip is flagged")

	rows, _ = analyze(t, "coherence", "leakage_i81", nil)
	for s, want := range map[string][3]float64{"person": {35, 0.428, 23}, "chef": {130, 0.413, 89}, "pirate": {130, 0.444, 89}, "child": {130, 0.468, 79}, "robot": {130, 0.484, 75}} {
		require.Equal(t, int(want[0]), rows[s][1], s)
		require.InDelta(t, want[1], rows[s][2], 5e-4, s)
		require.Equal(t, int(want[2]), rows[s][3], s)
	}
}

func TestPublishedH2AndVariants(t *testing.T) {
	for variant, want := range map[string]map[string][2]any{
		estimands.H2Pinned:   {"chef": {6.25, 2.00}, "pirate": {84.25, 0.0}, "child": {66.50, 4.25}, "robot": {91.25, 0.75}},
		estimands.H2OwnNoun:  {"chef": {6.25, 3.25}, "pirate": {84.25, 3.75}, "child": {66.5, 11.0}, "robot": {91.25, 2.25}},
		estimands.H2Coherent: {"chef": {nil, 2.25}, "pirate": {84.75, 0.50}, "child": {73.0, 3.5}, "robot": {90.25, 1.0}},
	} {
		rows, _ := analyze(t, "h2", "leakage_i81", map[string]string{"variant": variant})
		for s, w := range want {
			if w[0] == nil {
				require.Nil(t, rows[s][1], "%s %s is undefined: all own-noun cells are low-coherence", variant, s)
			} else {
				require.InDelta(t, w[0], rows[s][1], 1e-9, "%s %s NOUN", variant, s)
			}
			require.InDelta(t, w[1], rows[s][2], 1e-9, "%s %s TRAIT", variant, s)
		}
	}
	rows, _ := analyze(t, "h2", "leakage_i81", nil)
	require.InDelta(t, 3.125, rows["chef"][3], 1e-9)
	require.InDelta(t, 15.647, rows["child"][3], 1e-3)
	require.InDelta(t, 121.667, rows["robot"][3], 1e-3)
	require.Nil(t, rows["pirate"][3], "infinite ratio (trait effect 0)")
}

// H3: child is 19 under every seed; the total stays within the published
// reproduction range 40–43. Seed 1000 (the default) gives 10/7/19/6 = 42,
// the published split; the deterministic Wald form gives 10/6/19/6 = 41.
func TestPublishedH3(t *testing.T) {
	rows, _ := analyze(t, "h3", "leakage_i81", nil)
	require.Equal(t, []any{10, 7, 19, 6, 42}, []any{rows["chef"][1], rows["pirate"][1], rows["child"][1], rows["robot"][1], rows["total"][1]})
	for _, seed := range []string{"1", "2", "3"} {
		rows, _ := analyze(t, "h3", "leakage_i81", map[string]string{"seed": seed})
		require.Equal(t, 19, rows["child"][1], "seed %s", seed)
		require.GreaterOrEqual(t, rows["total"][1], 40, "seed %s", seed)
		require.LessOrEqual(t, rows["total"][1], 43, "seed %s", seed)
	}
	rows, _ = analyze(t, "h3", "leakage_i81", map[string]string{"rule": estimands.H3Wald})
	require.Equal(t, []any{10, 6, 19, 6, 41}, []any{rows["chef"][1], rows["pirate"][1], rows["child"][1], rows["robot"][1], rows["total"][1]})
}

// Per-source head-to-head exactly as head_to_head.json for the four full sources.
func TestPublishedHeadToHead(t *testing.T) {
	file := publishedHeadToHead(t)
	rows, _ := analyze(t, "head-to-head", "leakage_i81", nil)
	for _, s := range []string{"chef", "pirate", "child", "robot"} {
		w := file.PerSource[s]
		if w.Total == 0 {
			w = file.PerSource["src_"+s]
		}
		require.Equal(t, w.Total, rows[s][1], s)
		require.InDelta(t, w.TraitLeak, rows[s][2], 1e-9, s)
		require.InDelta(t, w.NounLeak, rows[s][3], 1e-9, s)
		require.Equal(t, w.NounWins, rows[s][4], s)
		require.InDelta(t, w.Ratio, rows[s][5], 1e-3, s)
	}
	// Per axis on the four sources (the published per-axis values need person_full130):
	// descriptor Δleak Agr 18.03, Ext 17.13, Neu 16.19, Ope 16.40, Con 16.07 pp;
	// noun-swap O 3.65, C 3.81, E 3.84, A 3.29, N 3.34 pp.
	axis, _ := analyze(t, "head-to-head", "leakage_i81", map[string]string{"by": "axis"})
	for tr, w := range map[string][2]float64{"Agreeableness": {18.03, 3.29}, "Extraversion": {17.13, 3.84}, "Neuroticism": {16.19, 3.34}, "Openness": {16.40, 3.65}, "Conscientiousness": {16.07, 3.81}} {
		require.InDelta(t, w[0], axis[tr][1], 0.005, tr)
		require.InDelta(t, w[1], axis[tr][2], 0.005, tr)
	}
	sw, _ := analyze(t, "symmetric-swap", "leakage_i81", nil)
	require.InDelta(t, 3.585, sw["noun"][2], 1e-3)
	require.InDelta(t, 2.25, sw["noun"][3], 1e-9)
	require.InDelta(t, 2.638, sw["descriptor"][2], 1e-3)
	require.InDelta(t, 1.75, sw["descriptor"][3], 1e-9)
	_, perm := analyze(t, "axis-permutation", "leakage_i81", nil)
	require.InDelta(t, 1.96, perm.Rows[0][1], 1e-9)
	require.InDelta(t, 0.966, perm.Rows[0][2], 0.01, "4-source p; RNG-dependent")
	require.NotNil(t, perm.Provenance.Seed)
	require.Equal(t, uint64(42), *perm.Provenance.Seed)
	_, rank := analyze(t, "trait-ranking", "leakage_i81", nil)
	require.Len(t, rank.Rows, 25)
	require.Equal(t, []any{"all", 1, "Agreeableness", "L1"}, rank.Rows[0][:4], "Agreeableness L1 ranks first")
	require.InDelta(t, 23.10, rank.Rows[0][4], 0.005)
	require.Equal(t, 20, rank.Rows[0][6])
}

// cosine-leakage on single_token_100_persona reproduces the authors' SciPy
// ρ from cosines and rates stored in the lake, at every layer.
func TestPublishedCosineLeakage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixturesDir(t), "single_token_100_persona", "cosine_leakage_correlation.json"))
	require.NoError(t, err)
	var file map[string]map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &file))
	for _, layer := range []string{"10", "15", "20", "25"} {
		rows, res := analyze(t, "cosine-leakage", "single_token_100_persona", map[string]string{"layer": layer})
		require.Len(t, res.Rows, 6)
		for src, body := range file["layer"+layer] {
			var pub struct {
				Rho float64 `json:"spearman_rho"`
				R   float64 `json:"pearson_r"`
				N   int     `json:"n_pairs"`
			}
			require.NoError(t, json.Unmarshal(body, &pub))
			name := src
			if src == "_aggregate" {
				name = "all"
			} else if src[0] == '_' {
				continue
			}
			require.Equal(t, pub.N, rows[name][1], "%s layer %s", src, layer)
			require.InDelta(t, pub.Rho, rows[name][2], 1e-3, "%s layer %s ρ", src, layer)
			require.InDelta(t, pub.R, rows[name][4], 1e-3, "%s layer %s r", src, layer)
		}
	}
	_, err = estimands.Run(context.Background(), openEngine(t, importedFixtures(t)), "h4", "leakage_i81", nil)
	require.ErrorIs(t, err, estimands.ErrNoData, "the i81 cosines were never published")
	_, res := analyze(t, "near-twin", "proximity_transfer", nil)
	found := false
	for _, r := range res.Rows {
		if r[1] == "doctor" && r[2] == "tutor" {
			found = true
			require.InDelta(t, 78.0, r[6], 1e-9, "doctor 0.98 vs tutor 0.20 under the doctor model")
		}
	}
	require.True(t, found, "the matched control is a near-twin of P*: %v", res.Rows)
}

func TestAnalyzeOverHTTP(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	srv := httptest.NewServer(api.Handler(e, estimands.Analyzer{Engine: e}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/analyze/h2?experiment=leakage_i81&variant=own-noun")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var res estimands.Result
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
	require.Equal(t, "h2", res.Estimand)
	require.Equal(t, "own-noun", res.Provenance.Params["variant"])
	require.Len(t, res.Provenance.Runs, 4)
	require.Equal(t, 4*130, res.Provenance.CellsUsed)
	require.Len(t, res.Provenance.Fingerprint, 64)
	for path, code := range map[string]int{"/api/analyze/h2": 400, "/api/analyze/nope?experiment=leakage_i81": 400,
		"/api/analyze/h2?experiment=leakage_i81&variant=best": 400, "/api/analyze/h4?experiment=leakage_i81": 400, "/api/analyze": 200} {
		r, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		r.Body.Close()
		require.Equal(t, code, r.StatusCode, path)
	}
}

// cell-rates over the i81 CSV: person's measured cells are exactly the
// pilot slice, the floor test agrees with the authors' ns_floor on every
// measured cell, and our seeded bootstrap lands near theirs.
func TestCellRatesAgainstTheCSV(t *testing.T) {
	e := openEngine(t, importedFixtures(t))
	ctx := context.Background()
	person, err := estimands.Run(ctx, e, "cell-rates", "leakage_i81", map[string]string{"sources": "person", "bootstrap": "200"})
	require.NoError(t, err)
	require.Len(t, person.Rows, 35)
	pilot := i81.PilotSlice
	for _, r := range person.Rows {
		require.True(t, pilot[r[1].(string)], r[1])
	}
	onlyPilot, err := estimands.Run(ctx, e, "cell-rates", "leakage_i81", map[string]string{"bystanders": "pilot", "bootstrap": "50"})
	require.NoError(t, err)
	require.Len(t, onlyPilot.Rows, 5*35)

	res, err := estimands.Run(ctx, e, "cell-rates", "leakage_i81", nil)
	require.NoError(t, err)
	require.Len(t, res.Rows, 4*130+35)
	csv, err := e.SQL(ctx, `SELECT split_part(run_id, '/', 2), persona, ci_low, ci_high, ns_floor FROM cells
WHERE experiment = 'leakage_i81' AND NOT missing AND run_id <> 'coherence_flags/base_model' AND question = ''`)
	require.NoError(t, err)
	type k struct{ s, b string }
	orig := map[k][]any{}
	for _, r := range csv.Rows {
		orig[k{r[0].(string), r[1].(string)}] = r[2:]
	}
	maxDiff := 0.0
	for _, r := range res.Rows {
		o := orig[k{r[0].(string), r[1].(string)}]
		require.NotNil(t, o, r[:2])
		require.Equal(t, o[2], r[11], "ns_floor of %v", r[:2])
		maxDiff = max(maxDiff, abs(o[0].(float64)-r[7].(float64)), abs(o[1].(float64)-r[8].(float64)))
	}
	require.Less(t, maxDiff, 0.03, "bootstrap bounds within RNG noise of the authors' (largest difference %.4f)", maxDiff)
	t.Logf("largest difference to the CSV's bootstrap bounds: %.4f", maxDiff)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// headToHead is head_to_head.json's per-source block (EXPERIMENT.md §6.8).
type headToHead struct {
	PerSource map[string]struct {
		Total     int     `json:"total_cells"`
		NounWins  int     `json:"noun_wins_leak"`
		Ratio     float64 `json:"median_ratio_leak"`
		TraitLeak float64 `json:"median_trait_leak"`
		NounLeak  float64 `json:"median_noun_leak"`
	} `json:"per_source"`
}

// publishedHeadToHead reads the fixture's head_to_head.json.
func publishedHeadToHead(t *testing.T) headToHead {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixturesDir(t), "leakage_i81", "trait_ranking", "head_to_head.json"))
	require.NoError(t, err)
	var file headToHead
	require.NoError(t, json.Unmarshal(raw, &file))
	return file
}
