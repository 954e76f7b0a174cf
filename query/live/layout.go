package live

import (
	"sort"

	"leakscope/events"
)

// Bystander is one column of the live heatmap: a persona the sweep's runs
// sample, with the design factors its plan declares (none for a persona
// outside the design, e.g. the assistant or a custom one).
type Bystander struct {
	Persona string         `json:"persona"`
	Factors events.Factors `json:"factors,omitempty"`
}

// layout orders the bystanders of a sweep's plans for the heatmap and
// names the factors that group them, outermost first. Factors are ranked
// by how many bystanders declare them (most first), then by how often
// their value changes along the producer's plan order (fewest first: the
// outer loop of a nested design changes least), then by name; a factor
// with one value groups nothing and is left out. Columns are then sorted
// by their values in that order (each factor's values in order of first
// appearance), keeping the plan order within a group; bystanders without
// a grouping factor come last, then those only completions named (extra).
func layout(plans [][]events.PlannedCell, extra []string) ([]Bystander, []string) {
	var cols []Bystander
	at := map[string]int{}
	for _, plan := range plans {
		for _, c := range plan {
			if i, ok := at[c.Persona]; ok {
				if len(cols[i].Factors) == 0 && len(c.Factors) > 0 {
					cols[i].Factors = c.Factors
				}
				continue
			}
			at[c.Persona] = len(cols)
			cols = append(cols, Bystander{Persona: c.Persona, Factors: c.Factors})
		}
	}
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
	key := func(b Bystander) []int {
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
	sort.Strings(extra)
	for _, p := range extra {
		if _, ok := at[p]; !ok {
			at[p] = -1
			cols = append(cols, Bystander{Persona: p})
		}
	}
	if cols == nil {
		cols = []Bystander{}
	}
	return cols, groupBy
}
