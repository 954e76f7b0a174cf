package webui

import "sort"

// Column is one column of a heatmap of runs × bystanders (the live page's
// and the experiment page's): a bystander persona with the design factors
// its plan or cells declare (none for a persona outside the design, e.g.
// the assistant).
type Column struct {
	Persona string            `json:"persona"`
	Factors map[string]string `json:"factors,omitempty"`
}

// GroupColumns orders cols for the heatmap (in place) and returns the
// factors that group them, outermost first. Factors are ranked by how many
// columns declare them (most first), then by how often their value changes
// along the given order (fewest first: the outer loop of a nested design
// changes least), then by name; a factor with one value groups nothing and
// is left out. Columns are then sorted by their values in that order (each
// factor's values in order of first appearance), keeping the given order
// within a group; columns without a grouping factor come last. It returns
// an empty, non-nil slice when nothing groups.
func GroupColumns(cols []Column) []string {
	type stat struct {
		name          string
		have, changes int
		values        map[string]int // value → rank of first appearance
		last          string
		seen          bool
	}
	stats := map[string]*stat{}
	for _, b := range cols {
		for f, v := range b.Factors {
			st := stats[f]
			if st == nil {
				st = &stat{name: f, values: map[string]int{}}
				stats[f] = st
			}
			st.have++
			if _, ok := st.values[v]; !ok {
				st.values[v] = len(st.values)
			}
			if st.seen && st.last != v {
				st.changes++
			}
			st.last, st.seen = v, true
		}
	}
	var order []*stat
	for _, st := range stats {
		if len(st.values) > 1 {
			order = append(order, st)
		}
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.have != b.have {
			return a.have > b.have
		}
		if a.changes != b.changes {
			return a.changes < b.changes
		}
		return a.name < b.name
	})
	groupBy := make([]string, len(order))
	for i, st := range order {
		groupBy[i] = st.name
	}
	key := func(b Column) []int {
		k := make([]int, len(order))
		for i, st := range order {
			v, ok := b.Factors[st.name]
			if !ok {
				k[i] = len(st.values) // after every value of the factor
				continue
			}
			k[i] = st.values[v]
		}
		return k
	}
	sort.SliceStable(cols, func(i, j int) bool {
		ki, kj := key(cols[i]), key(cols[j])
		for x := range ki {
			if ki[x] != kj[x] {
				return ki[x] < kj[x]
			}
		}
		return false
	})
	return groupBy
}
