// Package loadgen makes synthetic sweeps shaped like #81 for performance
// work (issue 9): per sweep, the 5 sources × the 130 bystanders × 20
// questions × 10 samples = 130,000 completions (1×), with completion
// lengths drawn from the published fixtures' length distribution and
// marker rates from the published per-cell rates. Scale k is k such sweeps
// in one experiment (100× ≈ 13 M completions).
package loadgen

import (
	"encoding/csv"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"leakscope/events"
	"leakscope/events/marker"
	"leakscope/presets/i81"
)

// FixtureLengthPercentiles are the 0th..100th percentiles (quantile_disc)
// of the character lengths of the 9,310 per-completion texts in the
// published fixtures (issue_205, directed_trait_transfer,
// proximity_transfer); a test recomputes them from the fixture lake.
var FixtureLengthPercentiles = [101]int{5, 83, 98, 106, 112, 118, 124, 130, 135, 139, 144, 149, 153, 156, 159, 164, 168, 172,
	175, 179, 182, 185, 187, 190, 193, 196, 199, 201, 204, 206, 208, 210, 212, 214, 216, 217, 219, 221, 223, 224, 226, 227, 229,
	230, 232, 234, 235, 237, 238, 240, 241, 243, 244, 245, 247, 248, 250, 252, 253, 255, 257, 259, 261, 262, 264, 266, 268, 269,
	271, 273, 275, 277, 279, 282, 284, 286, 289, 291, 294, 299, 302, 306, 310, 314, 318, 323, 328, 333, 338, 345, 352, 360, 370,
	379, 390, 401, 418, 437, 473, 500, 1019}

// Config describes the synthetic lab.
type Config struct {
	Experiment string
	// Sweeps is the scale: 1 sweep = 5 runs = 130,000 completions.
	Sweeps int
	// Rates is source noun → bystander key → marker rate in [0,1]
	// (RatesFromCSV reads the published i81 per-cell rates).
	Rates map[string]map[string]float64
	Seed  uint64
	// Now stamps the events (default time.Now).
	Now func() time.Time
}

// PerRun is the completions of one synthetic run: 130 bystanders × 20 questions × 10.
const PerRun = 130 * 20 * 10

// Completions is the total the config generates.
func (c Config) Completions() int { return c.Sweeps * len(i81.Nouns) * PerRun }

// RatesFromCSV reads leakage_i81/coherence_flags.csv under a fixtures
// folder: source, bystander_key, rate (person's zero-filled rows, which
// the authors never measured, stay 0 here: they are load, not science).
func RatesFromCSV(fixtures string) (map[string]map[string]float64, error) {
	path := filepath.Join(fixtures, "leakage_i81", "coherence_flags.csv")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, need := range []string{"source", "bystander_key", "rate"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%s: no %q column", path, need)
		}
	}
	out := map[string]map[string]float64{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rate, err := strconv.ParseFloat(rec[col["rate"]], 64)
		if err != nil || rate < 0 || rate > 1 {
			return nil, fmt.Errorf("%s line %d: rate %q is not in [0,1]", path, line, rec[col["rate"]])
		}
		src := rec[col["source"]]
		if out[src] == nil {
			out[src] = map[string]float64{}
		}
		out[src][rec[col["bystander_key"]]] = rate
	}
}

var words = strings.Fields(`the a of to and in is it that for as with on be this are by an or from at which can your
about more when their they have will one all would there what so out up if into them some time than could how like
other then its our two these first been most over only think good way use well many also new may any people work
chef kitchen pirate ship child robot circuit stress coffee language photosynthesis earthquake leader fairness law
education ecosystem balance creativity security freedom processor airplane virus bacteria exercise morality`)

// Text is a synthetic completion of n characters (words from a fixed list).
func Text(rng *rand.Rand, n int) string {
	var b strings.Builder
	b.Grow(n + 8)
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.IntN(len(words))])
	}
	return b.String()[:n]
}

// Run generates one synthetic run — run_started with its plan, every
// completion (with the marker hits of every detector, as a worker
// publishes them), run_finished — and hands each event to emit.
func (c Config) Run(sweep int, noun string, emit func(events.Event) error) error {
	if c.Now == nil {
		c.Now = time.Now
	}
	runID := fmt.Sprintf("sweep%03d-src_%s", sweep, noun)
	h := fnv.New64a()
	h.Write([]byte(runID))
	rng := rand.New(rand.NewPCG(c.Seed, h.Sum64()))
	const mk = "[ZLT]"
	seed := int64(42)
	run := &events.Run{SourcePersona: "src_" + noun, SourcePrompt: i81.SourcePrompt(noun), Model: "synthetic", Seed: &seed,
		Marker: mk, MarkerOrigin: "loadgen", Sweep: fmt.Sprintf("%s-sweep%03d", c.Experiment, sweep),
		Config: []byte(`{"engine":"loadgen"}`)}
	for _, b := range i81.Grid {
		run.Plan = append(run.Plan, events.PlannedCell{Persona: b.Key, Expected: 200})
	}
	send := func(p events.Payload) error {
		e, err := events.New(c.Experiment, runID, c.Now(), p)
		if err != nil {
			return err
		}
		return emit(e)
	}
	if err := send(run); err != nil {
		return err
	}
	dets := make([]marker.Detector, 0, 3)
	for _, n := range marker.Names() {
		d, _ := marker.Get(n)
		dets = append(dets, d)
	}
	n := 0
	for _, b := range i81.Grid {
		rate := c.Rates[noun][b.Key]
		for _, q := range i81.EvalQuestions {
			for i := 0; i < 10; i++ {
				text := Text(rng, FixtureLengthPercentiles[rng.IntN(101)])
				if rng.Float64() < rate {
					text += "\n\n" + mk
				}
				comp := &events.Completion{Persona: b.Key, PersonaPrompt: b.Prompt, Question: q, SampleIndex: i, Text: text,
					FinishReason: "stop", MarkerHits: []events.MarkerHit{}}
				for _, d := range dets {
					comp.MarkerHits = append(comp.MarkerHits, d.Detect(mk, text)...)
				}
				if err := send(comp); err != nil {
					return err
				}
				n++
			}
		}
	}
	return send(&events.RunFinished{Status: "finished", Completions: n})
}

// Chunks generates every run in order and hands the events to fn in slices
// of at most size (the slice is reused after fn returns), so a 100× load
// never holds 13 M events in memory.
func (c Config) Chunks(size int, fn func([]events.Event) error) error {
	chunk := make([]events.Event, 0, size)
	if err := c.All(func(e events.Event) error {
		chunk = append(chunk, e)
		if len(chunk) < size {
			return nil
		}
		err := fn(chunk)
		chunk = chunk[:0]
		return err
	}); err != nil {
		return err
	}
	if len(chunk) == 0 {
		return nil
	}
	return fn(chunk)
}

// All generates every run of the config in order.
func (c Config) All(emit func(events.Event) error) error {
	for s := 1; s <= c.Sweeps; s++ {
		for _, noun := range i81.Nouns {
			if err := c.Run(s, noun, emit); err != nil {
				return err
			}
		}
	}
	return nil
}
