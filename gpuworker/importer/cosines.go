package importer

import (
	"fmt"
	"math"
	"strings"

	"leakscope/events"
)

// cosineSymTol is how far m[i][j] and m[j][i] may differ (float32 round-off).
const cosineSymTol = 1e-4

// centeringKeys maps matrix member names to events centerings
// (EXPERIMENT.md §8.3); "matrix" is the uncentered matrix of
// phase_minus1_persona_vectors.
var centeringKeys = []struct{ key, centering string }{
	{"raw", events.CenteringRaw},
	{"matrix", events.CenteringRaw},
	{"assistant_subtracted", events.CenteringAssistantSubtracted},
	{"global_mean_subtracted", events.CenteringGlobalMeanSubtracted},
}

// parseCosineMatrices imports persona cosine matrices (EXPERIMENT.md §8.3):
//
//	{layer_L: {persona_names: [n], raw|matrix: [n][n], assistant_subtracted?: [n][n], global_mean_subtracted?: [n][n]}}
//
// One Cosine (Set "matrix") per (layer, centering); cosines are in [-1,1].
func parseCosineMatrices(c *fileCtx, top jv) error {
	keys, err := top.keys()
	if err != nil {
		return err
	}
	layers, num := sortedLayers(keys)
	s := c.seg(c.loc.Run)
	n := 0
	var zeroRows []string
	for _, lk := range layers {
		ln := top.get(lk)
		if _, err := ln.obj(); err != nil {
			return err
		}
		names, err := personaNames(ln.get("persona_names"))
		if err != nil {
			return err
		}
		raw, inLayer := 0, 0
		for _, ck := range centeringKeys {
			mn := ln.get(ck.key)
			if !mn.present() {
				continue
			}
			if ck.centering == events.CenteringRaw {
				if raw++; raw > 1 {
					return errAt(mn.path, "layer has both raw and matrix: two uncentered matrices")
				}
			}
			mat, err := readMatrix(mn, len(names))
			if err != nil {
				return err
			}
			for i, row := range mat {
				if allZero(row) {
					zeroRows = append(zeroRows, fmt.Sprintf("%s %s row %s", lk, ck.key, names[i]))
				}
			}
			ev := &events.Cosine{Set: "matrix", Layer: num[lk], Centering: ck.centering, Personas: names, Matrix: mat}
			if err := c.add(s, mn.path, ev); err != nil {
				return err
			}
			n++
			inLayer++
		}
		if inLayer == 0 {
			return errAt(ln.path, "layer holds no matrix (want raw, matrix, assistant_subtracted or global_mean_subtracted)")
		}
	}
	c.note("%d cosine matrices over %d layers; token and aggregation method are not stated in the file (Method empty)", n, len(layers))
	if len(zeroRows) > 0 {
		c.note("all-zero rows (a vector that is zero after centering has no cosine; the 0 is a placeholder): %s", keyList(zeroRows, 8))
	}
	return nil
}

// personaNames reads a list of distinct, non-empty persona names.
func personaNames(n jv) ([]string, error) {
	items, err := n.arr()
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errAt(n.path, "is empty")
	}
	seen := map[string]bool{}
	names := make([]string, len(items))
	for i, it := range items {
		if names[i], err = it.str(); err != nil {
			return nil, err
		}
		if names[i] == "" || seen[names[i]] {
			return nil, errAt(it.path, "%q is empty or repeated", names[i])
		}
		seen[names[i]] = true
	}
	return names, nil
}

// readMatrix reads a symmetric size×size matrix of cosines.
func readMatrix(n jv, size int) ([][]float64, error) {
	rows, err := n.arr()
	if err != nil {
		return nil, err
	}
	if len(rows) != size {
		return nil, errAt(n.path, "has %d rows for %d personas", len(rows), size)
	}
	mat := make([][]float64, size)
	for i, r := range rows {
		cells, err := r.arr()
		if err != nil {
			return nil, err
		}
		if len(cells) != size {
			return nil, errAt(r.path, "has %d columns for %d personas", len(cells), size)
		}
		mat[i] = make([]float64, size)
		for j, v := range cells {
			if mat[i][j], err = cosineValue(v); err != nil {
				return nil, err
			}
		}
	}
	if err := checkSymmetric(n.path, mat); err != nil {
		return nil, err
	}
	return mat, nil
}

func cosineValue(n jv) (float64, error) {
	f, err := n.num()
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || f < -1-1e-4 || f > 1+1e-4 {
		return 0, errAt(n.path, "%v is not a cosine (outside [-1,1])", f)
	}
	return f, nil
}

func checkSymmetric(path string, mat [][]float64) error {
	for i := range mat {
		for j := i + 1; j < len(mat); j++ {
			if math.Abs(mat[i][j]-mat[j][i]) > cosineSymTol {
				return errAt(fmt.Sprintf("%s[%d][%d]", path, i, j), "%v differs from [%d][%d] = %v: a cosine matrix is symmetric", mat[i][j], j, i, mat[j][i])
			}
		}
	}
	return nil
}

func allZero(row []float64) bool {
	for _, v := range row {
		if v != 0 {
			return false
		}
	}
	return true
}

// parsePhase0Cosines imports proximity_transfer/phase0_cosines.json
// (EXPERIMENT.md §8.2):
//
//	{model, seed, extraction_layer, num_prompts, pairwise_cosines: {a: {b: cos}}, …}
//
// as one raw Cosine matrix (Set "matrix") at extraction_layer, personas
// sorted. Every row must name the same personas.
func parsePhase0Cosines(c *fileCtx, top jv) error {
	s := c.seg(c.loc.Run)
	if err := runMetaFromConfig(c, s, top); err != nil {
		return err
	}
	if err := s.setSeed(top.get("seed")); err != nil {
		return err
	}
	layer, err := top.get("extraction_layer").count()
	if err != nil {
		return err
	}
	pc := top.get("pairwise_cosines")
	names, err := pc.keys()
	if err != nil {
		return err
	}
	mat := make([][]float64, len(names))
	for i, a := range names {
		rn := pc.get(a)
		cols, err := rn.keys()
		if err != nil {
			return err
		}
		if strings.Join(cols, "\x00") != strings.Join(names, "\x00") {
			return errAt(rn.path, "row names %d personas %s, the matrix has %s", len(cols), keyList(cols, 4), keyList(names, 4))
		}
		mat[i] = make([]float64, len(names))
		for j, b := range names {
			if mat[i][j], err = cosineValue(rn.get(b)); err != nil {
				return err
			}
		}
	}
	if err := checkSymmetric(pc.path, mat); err != nil {
		return err
	}
	ev := &events.Cosine{Set: "matrix", Layer: layer, Centering: events.CenteringRaw, Personas: names, Matrix: mat}
	if err := c.add(s, pc.path, ev); err != nil {
		return err
	}
	c.note("pairwise_cosines → one raw %d×%d matrix at layer %d, personas sorted; cosines_to_assistant/cosines_to_pstar/candidates are not imported (they are rows of the matrix or prompts)", len(names), len(names), layer)
	return nil
}

// parseCosinePairs imports single_token_100_persona/cosine_leakage_correlation.json
// (EXPERIMENT.md §8.2):
//
//	{layerN: {src: {spearman_rho, …, n_pairs}, _aggregate, _per_category,
//	          _per_source_detail: {src: [{persona, cosine_sim, leakage_rate, category}]}}}
//
// One Cosine per (layer, source), Set = source, pairs A = source, B = persona.
// n_pairs, when given, must equal the detail list's length.
func parseCosinePairs(c *fileCtx, top jv) error {
	keys, err := top.keys()
	if err != nil {
		return err
	}
	layers, num := sortedLayers(keys)
	s := c.seg(c.loc.Run)
	n, pairs := 0, 0
	for _, lk := range layers {
		ln := top.get(lk)
		det := ln.get("_per_source_detail")
		sources, err := det.keys()
		if err != nil {
			return err
		}
		for _, src := range sources {
			items, err := det.get(src).arr()
			if err != nil {
				return err
			}
			if st := ln.get(src); st.present() && st.has("n_pairs") {
				np, err := st.get("n_pairs").count()
				if err != nil {
					return err
				}
				if np != len(items) {
					return errAt(st.get("n_pairs").path, "%d disagrees with the %d pairs in _per_source_detail", np, len(items))
				}
			}
			ev := &events.Cosine{Set: src, Layer: num[lk], Centering: events.CenteringRaw, Pairs: []events.CosinePair{}}
			seen := map[string]bool{}
			for _, it := range items {
				persona, err := it.get("persona").str()
				if err != nil {
					return err
				}
				if seen[persona] {
					return errAt(it.get("persona").path, "%q is listed twice for source %s", persona, src)
				}
				seen[persona] = true
				cos, err := cosineValue(it.get("cosine_sim"))
				if err != nil {
					return err
				}
				if lr := it.get("leakage_rate"); lr.present() {
					if _, err := lr.fraction(); err != nil {
						return err
					}
				}
				if cat := it.get("category"); cat.present() {
					if _, err := cat.str(); err != nil {
						return err
					}
				}
				ev.Pairs = append(ev.Pairs, events.CosinePair{A: src, B: persona, Cosine: cos})
			}
			if len(ev.Pairs) == 0 {
				return errAt(det.get(src).path, "no pairs")
			}
			if err := c.add(s, det.get(src).path, ev); err != nil {
				return err
			}
			n++
			pairs += len(ev.Pairs)
		}
	}
	c.note("%d pair lists (%d pairs) over %d layers; centering is not stated in the file: imported as raw; per-pair leakage_rate and category are validated but not carried (the rates are the marker_eval.json cells); the published Spearman/Pearson values are not imported", n, pairs, len(layers))
	return nil
}
