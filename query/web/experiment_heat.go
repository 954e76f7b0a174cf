package web

import (
	"sort"

	"leakscope/query"
	"leakscope/query/webui"
)

// heatData is what the experiment page's heatmap draws (embedded as JSON
// in the page, #ls-heat-data): rows are runs in the lake's order, cols the
// bystanders grouped by their design factors (webui.GroupColumns, as on
// the live page), cells one per measured or listed (run, bystander).
type heatData struct {
	Rows    []heatRow      `json:"rows"`
	Cols    []webui.Column `json:"cols"`
	GroupBy []string       `json:"group_by"`
	Cells   []heatCell     `json:"cells"`
}

type heatRow struct {
	Run  string `json:"run"`
	Href string `json:"href"` // the run's page
	// Factors are the words that tell the run from the others
	// ("lr=1e-4 seed=2"; distinguishing), "" when none differ.
	Factors string `json:"factors,omitempty"`
}

// heatCell is one cell: state "done" with a rate (a fraction in [0, 1]),
// or "undefined" (missing, or no rate: drawn grey, never as a number);
// title is the table's tooltip (counts, interval, origin), href its
// samples page.
type heatCell struct {
	Run     string   `json:"run"`
	Persona string   `json:"persona"`
	State   string   `json:"state"`
	Rate    *float64 `json:"rate"`
	Title   string   `json:"title"`
	Href    string   `json:"href"`
}

// heatDataOf lays out cells for the heatmap; runs gives the rows' order
// and extra the parameters a cell's link carries (cellExtra); words
// label each run by what tells it apart (distinguishing).
func heatDataOf(exp string, cells []query.Cell, runs []string, extra []string, words map[string]string) heatData {
	d := heatData{Rows: make([]heatRow, 0, len(runs)), Cols: []webui.Column{}, Cells: make([]heatCell, 0, len(cells))}
	for _, r := range runs {
		d.Rows = append(d.Rows, heatRow{Run: r, Href: runURL(exp, r), Factors: words[r]})
	}
	at := map[string]int{}
	for i := range cells {
		c := &cells[i]
		if j, ok := at[c.Persona]; !ok {
			at[c.Persona] = len(d.Cols)
			d.Cols = append(d.Cols, webui.Column{Persona: c.Persona, Factors: c.Factors})
		} else if len(d.Cols[j].Factors) == 0 && len(c.Factors) > 0 {
			d.Cols[j].Factors = c.Factors
		}
		hc := heatCell{Run: c.RunID, Persona: c.Persona, State: "done", Rate: c.Rate, Title: cellTitle(c), Href: cellLink(exp, c, extra)}
		if c.Missing || c.Rate == nil {
			hc.State, hc.Rate = "undefined", nil
		}
		d.Cells = append(d.Cells, hc)
	}
	// Bystanders sorted by name first, as in the table; grouping keeps
	// that order within a group.
	sort.SliceStable(d.Cols, func(i, j int) bool { return d.Cols[i].Persona < d.Cols[j].Persona })
	d.GroupBy = webui.GroupColumns(d.Cols)
	return d
}
