package live

import (
	"sort"

	"leakscope/events"
	"leakscope/query/webui"
)

// Bystander is one column of the live heatmap: a persona the sweep's runs
// sample, with the design factors its plan declares (none for a persona
// outside the design, e.g. the assistant or a custom one). The experiment
// page's stored heatmap has the same columns.
type Bystander = webui.Column

// layout orders the bystanders of a sweep's plans for the heatmap and
// names the factors that group them, outermost first: the plans' personas
// in plan order, grouped by webui.GroupColumns (the experiment page groups
// its stored matrix the same way); then those only completions named
// (extra), sorted, which group nothing.
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
	groupBy := webui.GroupColumns(cols)
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
