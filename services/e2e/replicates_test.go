package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/marker"
	"leakscope/gpuworker/loadgen"
	"leakscope/presets/i81"
	"leakscope/query/estimands"
	"leakscope/query/stats"
)

// replRun is one synthetic run of the replicated #81 design: its source,
// seed, factors and the hits it publishes per bystander (of 200).
type replRun struct {
	id, noun string
	seed     int64
	lr       string
	found    map[string]int
}

// replicatedI81 publishes, through the bus and ingest, a replication of the
// #81 design on a subset of its bystanders: chef, pirate and robot with 3
// seeds each (seeds in different sweeps: the sweep must not split a group),
// child with 1 seed, and chef with a different learning rate and 1 seed (a
// different design: never pooled with the lr=1e-4 chef seeds). Each seed's
// true rate of a cell is drawn around a known mean (logit-normal, sd 0.5)
// and its hit count as Binomial(200, that rate); the completions carry
// exactly that many marker hits.
func replicatedI81(t *testing.T, experiment string) (*stack, []replRun, []string) {
	bystanders := []string{"A2__person", "A2__chef", "A2__pirate", "A2__robot", "A1__chef__Openness__L1", "A1__robot__Neuroticism__L5"}
	means := map[string]map[string]float64{ // source noun → bystander → known mean
		"chef":   {"A2__person": 0.12, "A2__chef": 0.92, "A2__pirate": 0.02, "A2__robot": 0.05, "A1__chef__Openness__L1": 0.45, "A1__robot__Neuroticism__L5": 0.01},
		"pirate": {"A2__person": 0.01, "A2__chef": 0.01, "A2__pirate": 0.86, "A2__robot": 0.01, "A1__chef__Openness__L1": 0.01, "A1__robot__Neuroticism__L5": 0.005},
		"robot":  {"A2__person": 0.03, "A2__chef": 0.02, "A2__pirate": 0.01, "A2__robot": 0.95, "A1__chef__Openness__L1": 0.02, "A1__robot__Neuroticism__L5": 0.3},
		"child":  {"A2__person": 0.2, "A2__chef": 0.15, "A2__pirate": 0.1, "A2__robot": 0.1, "A1__chef__Openness__L1": 0.1, "A1__robot__Neuroticism__L5": 0.05},
	}
	rng := rand.New(rand.NewPCG(81, 3))
	draw := func(mean float64) int {
		p := 1 / (1 + math.Exp(-(math.Log(mean/(1-mean)) + 0.5*rng.NormFloat64())))
		k := 0
		for range 200 {
			if rng.Float64() < p {
				k++
			}
		}
		return k
	}
	var runs []replRun
	add := func(noun string, seed int64, lr string) {
		r := replRun{id: fmt.Sprintf("repl-src_%s-lr%s-seed%d", noun, lr, seed), noun: noun, seed: seed, lr: lr, found: map[string]int{}}
		for _, b := range bystanders {
			r.found[b] = draw(means[noun][b])
		}
		runs = append(runs, r)
	}
	for _, noun := range []string{"chef", "pirate", "robot"} {
		for seed := int64(1); seed <= 3; seed++ {
			add(noun, seed, "1e-4")
		}
	}
	add("child", 7, "1e-4")
	add("chef", 1, "5e-4")

	const mk = "[ZLT]"
	var dets []marker.Detector
	for _, n := range marker.Names() {
		d, _ := marker.Get(n)
		dets = append(dets, d)
	}
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	var evs []events.Event
	send := func(run string, p events.Payload) {
		e, err := events.New(experiment, run, now, p)
		require.NoError(t, err)
		evs = append(evs, e)
	}
	for _, r := range runs {
		seed := r.seed
		run := &events.Run{SourcePersona: "src_" + r.noun, SourcePrompt: i81.SourcePrompt(r.noun), Model: "synthetic", Adapter: r.id, Seed: &seed,
			Marker: mk, MarkerOrigin: "test", Sweep: fmt.Sprintf("%s-seed%d", experiment, r.seed), Factors: events.Factors{"lr": r.lr}}
		for _, b := range bystanders {
			run.Plan = append(run.Plan, events.PlannedCell{Persona: b, Expected: 200})
		}
		send(r.id, run)
		n := 0
		for _, b := range bystanders {
			hit := make([]bool, 200)
			for i := range r.found[b] {
				hit[i] = true
			}
			rng.Shuffle(len(hit), func(i, j int) { hit[i], hit[j] = hit[j], hit[i] })
			for q, question := range i81.EvalQuestions[:20] {
				for s := range 10 {
					text := loadgen.Text(rng, 80+rng.IntN(200))
					if hit[q*10+s] {
						text += "\n\n" + mk
					}
					c := &events.Completion{Persona: b, PersonaPrompt: i81.ByKey[b].Prompt, Question: question, SampleIndex: s, Text: text,
						FinishReason: "stop", MarkerHits: []events.MarkerHit{}}
					for _, d := range dets {
						c.MarkerHits = append(c.MarkerHits, d.Detect(mk, text)...)
					}
					send(r.id, c)
					n++
				}
			}
		}
		send(r.id, &events.RunFinished{Status: "finished", Completions: n})
	}
	s := startStack(t, t.TempDir())
	s.publish(t, evs)
	return s, runs, bystanders
}

// TestReplicatesEstimandOnPublishedSeeds publishes a replicated #81 design
// (replicatedI81) and checks the replicates estimand: groups are source ×
// run factors across sweeps, per-seed rates are the published found/200 in
// seed order, n_seeds is 3, the across-seed rate is the mean of the
// per-seed rates with a seed-t interval around it, and the 1-seed groups
// say "1 seed: no between-seed interval" with no estimate; then the
// source level and a seeds scope.
func TestReplicatesEstimandOnPublishedSeeds(t *testing.T) {
	const exp = "replicates_i81"
	s, runs, bystanders := replicatedI81(t, exp)
	e := openEngine(t, s.Lake)
	ctx := context.Background()

	type groupKey struct{ source, factors string }
	want := map[groupKey][]replRun{}
	for _, r := range runs {
		k := groupKey{"src_" + r.noun, "lr=" + r.lr}
		want[k] = append(want[k], r) // runs were added in seed order
	}
	rate := func(found int) float64 { return float64(found) / 200 }
	check := func(res *estimands.Result, seedsIn func(replRun) bool, level string) {
		t.Helper()
		c := map[string]int{}
		for i, name := range res.Columns {
			c[name] = i
		}
		seen := 0
		for _, row := range res.Rows {
			k := groupKey{row[c["source"]].(string), row[c["run_factors"]].(string)}
			var group []replRun
			for _, r := range want[k] {
				if seedsIn(r) {
					group = append(group, r)
				}
			}
			require.NotEmpty(t, group, "row of an unknown group %v", k)
			var seeds, ids, rates, counts []string
			sum := 0.0
			for _, r := range group {
				v := 0.0
				f := 0
				if level == "cell" {
					f = r.found[row[c["bystander"]].(string)]
					v = rate(f)
				} else {
					for _, b := range bystanders {
						v += rate(r.found[b])
						f += r.found[b]
					}
					v /= float64(len(bystanders))
				}
				sum += v
				seeds, ids = append(seeds, strconv.FormatInt(r.seed, 10)), append(ids, r.id)
				rates = append(rates, strconv.FormatFloat(v, 'g', 12, 64))
				total := 200
				if level == "source" {
					total = 200 * len(bystanders)
				}
				counts = append(counts, fmt.Sprintf("%d/%d", f, total))
			}
			require.Equal(t, len(group), row[c["n_seeds"]], "%v", k)
			require.Equal(t, strings.Join(seeds, ","), row[c["seeds"]])
			require.Equal(t, strings.Join(ids, ","), row[c["runs"]])
			require.Equal(t, strings.Join(rates, ","), row[c["per_seed_rates"]], "%v: per-seed rates are the published ones", k)
			require.Equal(t, strings.Join(counts, ","), row[c["per_seed_counts"]])
			if len(group) == 1 {
				require.Nil(t, row[c["rate"]], "%v: 1 seed has no across-seed estimate", k)
				require.Nil(t, row[c["ci_low"]])
				require.Nil(t, row[c["ci_high"]])
				require.Equal(t, "1 seed: no between-seed interval", row[c["note"]])
			} else {
				est := row[c["rate"]].(float64)
				require.InDelta(t, sum/float64(len(group)), est, 1e-12, "%v: the mean of the per-seed rates", k)
				require.LessOrEqual(t, row[c["ci_low"]].(float64), est)
				require.GreaterOrEqual(t, row[c["ci_high"]].(float64), est)
				require.Equal(t, stats.MethodSeedT, row[c["interval"]])
				require.Nil(t, row[c["note"]])
			}
			seen++
		}
		groups := 0
		for _, g := range want {
			for _, r := range g {
				if seedsIn(r) {
					groups++
					break
				}
			}
		}
		if level == "cell" {
			groups *= len(bystanders)
		}
		require.Equal(t, groups, seen, "one row per group (× bystander)")
	}

	all := func(replRun) bool { return true }
	res, err := estimands.Run(ctx, e, "replicates", exp, nil)
	require.NoError(t, err)
	check(res, all, "cell")
	threeSeeds, oneSeed := 0, 0
	for _, row := range res.Rows {
		switch row[3] {
		case 3:
			threeSeeds++
		case 1:
			oneSeed++
		}
	}
	require.Equal(t, 3*len(bystanders), threeSeeds, "chef, pirate and robot at lr=1e-4 have 3 seeds each")
	require.Equal(t, 2*len(bystanders), oneSeed, "child and chef at lr=5e-4 have 1 seed")
	require.Len(t, res.Provenance.Runs, len(runs))

	res, err = estimands.Run(ctx, e, "replicates", exp, map[string]string{"level": "source"})
	require.NoError(t, err)
	check(res, all, "source")
	for _, row := range res.Rows {
		t.Logf("%v", row)
	}

	res, err = estimands.Run(ctx, e, "replicates", exp, map[string]string{"seeds": "1,2"})
	require.NoError(t, err)
	check(res, func(r replRun) bool { return r.seed <= 2 }, "cell")

	_, err = estimands.Run(ctx, e, "replicates", exp, map[string]string{"level": "run"})
	require.ErrorIs(t, err, estimands.ErrBadParam)
}
