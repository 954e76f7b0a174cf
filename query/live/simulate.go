package live

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"

	"leakscope/events"
	"leakscope/query/stats"
)

// SimCell is one cell of a simulated sweep: its true marker rate in [0,1].
type SimCell struct {
	Key  string
	Rate float64
}

// ReadCellRates reads the per-cell rates of leakage_i81/coherence_flags.csv
// (columns source, bystander_key, rate, coherence_mean): one SimCell per
// row, keyed "<source>/<bystander>". The zero-filled person rows
// (EXPERIMENT.md §0.3: blank coherence) are missing cells and are skipped.
// Errors name the file (name), line and column.
func ReadCellRates(r io.Reader, name string) ([]SimCell, error) {
	cr := csv.NewReader(r)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, want := range []string{"source", "bystander_key", "rate", "coherence_mean"} {
		if _, ok := col[want]; !ok {
			return nil, fmt.Errorf("%s:1: no %q column", name, want)
		}
	}
	var out []SimCell
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if rec[col["source"]] == "person" && rec[col["coherence_mean"]] == "" {
			continue
		}
		p, err := strconv.ParseFloat(rec[col["rate"]], 64)
		if err != nil || !(p >= 0 && p <= 1) {
			return nil, fmt.Errorf("%s:%d: rate %q is not a rate in [0,1]", name, line, rec[col["rate"]])
		}
		out = append(out, SimCell{Key: rec[col["source"]] + "/" + rec[col["bystander_key"]], Rate: p})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no cells", name)
	}
	return out, nil
}

// SimResult compares adaptive sampling under a rule with fixed n per cell,
// over Reps simulated sweeps. Counts are completions; coverages are the
// fractions of (sweep, cell) whose reported 95 % interval holds the true
// rate: the confidence sequence at the stopping n for adaptive cells, the
// Wilson interval (z = 1.96) at fixed n.
type SimResult struct {
	Cells, Reps             int
	FixedN                  int
	Samples, FixedSamples   int64
	Saved                   float64 // 1 − Samples/FixedSamples
	Coverage, FixedCoverage float64
	MeanHalfWidth           float64 // adaptive, at the stopping n
	FixedMeanHalfWidth      float64 // Wilson at fixed n
	Reasons                 map[string]int64
	MeanN                   float64
	// Coverage over the cells whose true rate is not 0 (a rate of 0 lies
	// in every interval that starts at 0, so those cells cover trivially).
	CoverageNonZero, FixedCoverageNonZero float64
}

// Simulate replays a sweep's cells Reps times (seeded): each cell draws
// Bernoulli(rate) completions in rounds of rule.Questions, asks Decide at
// each round's end and stops as the worker would (decided, or at max_n);
// the same cell also draws fixedN completions for the fixed design.
// Completions within a cell are exchangeable here (only cell rates are
// published), so the rounds' stratification by question plays no part.
func Simulate(cells []SimCell, rule events.StoppingRule, fixedN, reps int, seed uint64) (SimResult, error) {
	if err := rule.Validate("stopping."); err != nil {
		return SimResult{}, err
	}
	if fixedN < 1 || reps < 1 || len(cells) == 0 {
		return SimResult{}, fmt.Errorf("simulate needs cells, fixed n >= 1 and reps >= 1 (got %d cells, n %d, reps %d)", len(cells), fixedN, reps)
	}
	rng := rand.New(rand.NewPCG(seed, 0x1eac5c09e))
	res := SimResult{Cells: len(cells), Reps: reps, FixedN: fixedN, Reasons: map[string]int64{}}
	var covered, fixedCovered, nz, nzCovered, nzFixedCovered int64
	var half, fixedHalf float64
	for range reps {
		for _, c := range cells {
			hits, n := 0, 0
			var d events.CellDecision
			for n < rule.MaxN {
				for range rule.Questions {
					if rng.Float64() < c.Rate {
						hits++
					}
				}
				n += rule.Questions
				var err error
				if d, err = Decide(rule, c.Key, hits, n); err != nil {
					return res, err
				}
				if d.Stop {
					break
				}
			}
			reason := d.Reason
			if !d.Stop {
				reason = events.StopMaxN
			}
			res.Reasons[reason]++
			res.Samples += int64(n)
			in := d.CILow <= c.Rate && c.Rate <= d.CIHigh
			if in {
				covered++
			}
			half += (d.CIHigh - d.CILow) / 2

			fh := 0
			for range fixedN {
				if rng.Float64() < c.Rate {
					fh++
				}
			}
			lo, hi, _ := stats.Wilson(fh, fixedN, stats.Z95)
			fixedIn := lo <= c.Rate && c.Rate <= hi
			if fixedIn {
				fixedCovered++
			}
			fixedHalf += (hi - lo) / 2
			if c.Rate > 0 {
				nz++
				if in {
					nzCovered++
				}
				if fixedIn {
					nzFixedCovered++
				}
			}
		}
	}
	total := float64(reps * len(cells))
	res.FixedSamples = int64(fixedN) * int64(reps*len(cells))
	res.Saved = 1 - float64(res.Samples)/float64(res.FixedSamples)
	res.Coverage, res.FixedCoverage = float64(covered)/total, float64(fixedCovered)/total
	res.MeanHalfWidth, res.FixedMeanHalfWidth = half/total, fixedHalf/total
	res.MeanN = float64(res.Samples) / total
	if nz > 0 {
		res.CoverageNonZero, res.FixedCoverageNonZero = float64(nzCovered)/float64(nz), float64(nzFixedCovered)/float64(nz)
	}
	return res, nil
}
