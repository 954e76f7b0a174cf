package importer

import (
	"strings"

	"leakscope/events/marker"
)

// parseArmResults imports directed_trait_transfer <cond>_marker/arm_a_results.json
// (EXPERIMENT.md §8.2):
//
//	{persona: {indomain: {markers, total, rate}, generic: {markers, total, rate}}}
//
// markers = completions flagged (case-insensitive " [ZLT]" substring, i.e.
// strict). One strict CellAggregate per (persona, slice) with Slice = the
// slice name.
func parseArmResults(c *fileCtx, top jv) error {
	personas, err := top.keys()
	if err != nil {
		return err
	}
	s := c.seg(c.loc.Run)
	n := 0
	for _, p := range personas {
		pn := top.get(p)
		slices, err := pn.keys()
		if err != nil {
			return err
		}
		for _, sl := range slices {
			sn := pn.get(sl)
			k, err := readCounts(sn, "markers", "total", "rate")
			if err != nil {
				return err
			}
			ev := c.cell(p, marker.Strict, k)
			ev.Slice = sl
			if err := c.add(s, sn.path, ev); err != nil {
				return err
			}
			n++
		}
	}
	c.note("%d (persona, slice) aggregates, detector strict", n)
	return nil
}

// parseExpALeakage imports proximity_transfer expA_leakage.json
// (EXPERIMENT.md §8.2):
//
//	{seed, p_star, p_star_description, training{base_model, marker:"\n\n[PROX]", …},
//	 leakage_results{persona: {generic|domain|combined: {markers, total, rate, ci_low, ci_high}}}, …}
//
// One strict CellAggregate per (persona, generic|domain) with its Wilson CI;
// combined must be generic + domain and is not imported. The run's source
// persona is p_star; Config is the training object.
func parseExpALeakage(c *fileCtx, top jv) error {
	s := c.seg(c.loc.Run)
	tr := top.get("training")
	if _, err := tr.obj(); err != nil {
		return err
	}
	if m, err := tr.get("marker").str(); err != nil {
		return err
	} else if strings.TrimSpace(m) != m {
		c.note("training.marker %q is stored with surrounding whitespace; the run marker is %q", m, strings.TrimSpace(m))
	}
	if bm := tr.get("base_model"); bm.present() {
		v, err := bm.str()
		if err != nil {
			return err
		}
		s.meta.Model = v
	}
	s.meta.Config = rawMember(c.data, "training")
	for _, f := range []struct {
		key string
		dst *string
	}{{"p_star", &s.meta.SourcePersona}, {"p_star_description", &s.meta.SourcePrompt}} {
		if n := top.get(f.key); n.present() {
			v, err := n.str()
			if err != nil {
				return err
			}
			*f.dst = v
		}
	}
	if err := s.setSeed(top.get("seed")); err != nil {
		return err
	}
	lr := top.get("leakage_results")
	personas, err := lr.keys()
	if err != nil {
		return err
	}
	for _, p := range personas {
		pn := lr.get(p)
		var parts [2]counts
		for i, sl := range []string{"generic", "domain"} {
			sn := pn.get(sl)
			k, err := readCounts(sn, "markers", "total", "rate")
			if err != nil {
				return err
			}
			parts[i] = k
			ev := c.cell(p, marker.Strict, k)
			ev.Slice = sl
			for _, ci := range []struct {
				key string
				dst **float64
			}{{"ci_low", &ev.CILow}, {"ci_high", &ev.CIHigh}} {
				if n := sn.get(ci.key); n.present() {
					v, err := n.fraction()
					if err != nil {
						return err
					}
					*ci.dst = ptr(v)
				}
			}
			if err := c.add(s, sn.path, ev); err != nil {
				return err
			}
		}
		cn := pn.get("combined")
		if cn.present() {
			k, err := readCounts(cn, "markers", "total", "rate")
			if err != nil {
				return err
			}
			if k.found != parts[0].found+parts[1].found || k.total != parts[0].total+parts[1].total {
				return errAt(cn.path, "combined %d of %d is not generic + domain = %d of %d", k.found, k.total, parts[0].found+parts[1].found, parts[0].total+parts[1].total)
			}
		}
	}
	c.note("%d personas × (generic, domain) aggregates with Wilson CIs, detector strict; combined (= generic + domain, checked) not imported; summary_table, correlation and post-training cosines not imported", len(personas))
	return nil
}
