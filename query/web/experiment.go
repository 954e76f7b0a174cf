package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"

	"leakscope/events/marker"
	"leakscope/query"
	"leakscope/query/api"
	"leakscope/query/webui"
)

// experimentParams are the experiment page's query parameters: the
// detector, a marker and the API's scope parameters.
// view=table draws the matrix as an HTML table (for copying and screen
// readers) instead of the heatmap.
var experimentParams = []string{"detector", "marker", "run", "seed", "sweep", "source", "where", "include_retracted", "view"}

type matrixRow struct {
	Name  string
	Href  string // the run's page, for rows of runs
	Cells []*query.Cell
}

// experimentPage draws the experiment's leakage matrix as the live page's
// compact heatmap (runs × bystanders grouped by the bystanders' design
// factors, webui's lsHeatmap; its data embedded as JSON, see heatData), or
// with ?view=table as a table (runs × bystanders, or bystanders × runs
// when there are more runs than bystanders); every cell opens its samples.
// The matrix's notes and the runs follow.
func experimentPage(w http.ResponseWriter, r *http.Request, e *query.Engine) {
	exp := r.PathValue("experiment")
	v := r.URL.Query()
	for k := range v {
		if !contains(experimentParams, k) {
			fail(w, http.StatusBadRequest, fmt.Errorf("unknown query parameter %q (known: %v)", k, experimentParams))
			return
		}
	}
	if vw := v.Get("view"); vw != "" && vw != "table" {
		fail(w, http.StatusBadRequest, fmt.Errorf("unknown view %q (known: table; none for the heatmap)", vw))
		return
	}
	if _, err := e.RunStates(r.Context(), exp); err != nil {
		fail(w, 0, err)
		return
	}
	scope, err := api.ScopeOf(r.Context(), e, exp, v)
	if err != nil {
		fail(w, 0, err)
		return
	}
	req := query.LeakageRequest{Experiment: exp, Detector: v.Get("detector"), Marker: v.Get("marker"), IncludeBase: true, Scope: scope}
	lk, err := e.Leakage(r.Context(), req)
	if err != nil {
		fail(w, 0, err)
		return
	}
	runs, err := e.Runs(r.Context(), exp)
	if err != nil {
		fail(w, 0, err)
		return
	}
	// Rows and columns: runs in the lake's order, bystanders sorted.
	var runIDs, personas []string
	at := map[[2]string]*query.Cell{}
	for i := range lk.Cells {
		c := &lk.Cells[i]
		if !contains(runIDs, c.RunID) {
			runIDs = append(runIDs, c.RunID)
		}
		if !contains(personas, c.Persona) {
			personas = append(personas, c.Persona)
		}
		at[[2]string{c.RunID, c.Persona}] = c
	}
	sort.Strings(personas)
	byRun := len(runIDs) <= len(personas)
	rowsOf, colsOf := runIDs, personas
	if !byRun {
		rowsOf, colsOf = personas, runIDs
	}
	rows := make([]matrixRow, 0, len(rowsOf))
	for _, a := range rowsOf {
		row := matrixRow{Name: a}
		if byRun {
			row.Href = runURL(exp, a)
		}
		for _, b := range colsOf {
			k := [2]string{a, b}
			if !byRun {
				k = [2]string{b, a}
			}
			row.Cells = append(row.Cells, at[k])
		}
		rows = append(rows, row)
	}
	var live []string
	isBase := map[string]bool{}
	for _, rs := range runs {
		live = liveSweeps(live, rs)
		isBase[rs.RunID] = rs.IsBase
	}
	baseRows := false
	for _, id := range runIDs {
		baseRows = baseRows || isBase[id]
	}
	words := distinguishing(runs)
	detector := lk.Request.Detector
	extra := cellExtra(detector, v.Get("marker"))
	other := url.Values{}
	for k, vals := range v {
		if k != "view" {
			other[k] = vals
		}
	}
	other.Set("view", "table")
	table := experimentURL(exp) + "?" + other.Encode()
	other.Del("view")
	heatmap := experimentURL(exp)
	if len(other) > 0 {
		heatmap += "?" + other.Encode()
	}
	render(w, webui.Page{Title: exp, Active: "Experiments", Head: matrixHead + webui.HeatmapHead,
		Crumbs: []webui.Crumb{{Name: "Experiments", Href: "/"}, {Name: exp}}},
		experimentBody, map[string]any{"Exp": exp, "L": lk, "Rows": rows, "Cols": colsOf, "ByRun": byRun, "Runs": runs,
			"Detectors": append(marker.Names(), marker.Recorded), "Detector": detector, "Marker": v.Get("marker"),
			"Extra": extra, "Scope": scope.String(), "Live": live, "Table": v.Get("view") == "table",
			"TableURL": table, "HeatmapURL": heatmap, "Heat": heatDataOf(exp, lk.Cells, runIDs, extra, words),
			"BaseRows": baseRows, "Words": words, "Synthetic": anySynthetic(runs)})
}

// cellExtra are the parameters a cell's link carries to its samples.
func cellExtra(detector, mk string) []string {
	var kv []string
	if detector != "" && detector != marker.Strict {
		kv = append(kv, "detector", detector)
	}
	if mk != "" {
		kv = append(kv, "marker", mk)
	}
	return kv
}

// cellLink is a cell's samples page.
func cellLink(exp string, c *query.Cell, extra []string) string {
	ev := url.Values{}
	for i := 0; i+1 < len(extra); i += 2 {
		ev.Set(extra[i], extra[i+1])
	}
	return samplesURL(exp, c.RunID, c.Persona, ev)
}

// cellTitle is a cell's tooltip: counts, interval, origin.
func cellTitle(c *query.Cell) string {
	s := c.RunID + " × " + c.Persona + ": "
	switch {
	case c.Missing:
		return s + "missing (" + c.MissingReason + ")"
	case c.RateOnly:
		return s + "rate " + fmtRate(c.Rate) + " (the origin gave no count)"
	case c.Found != nil && c.Total != nil:
		s += fmt.Sprintf("%d/%d = %s", *c.Found, *c.Total, fmtRate(c.Rate))
		if c.CILow != nil && c.CIHigh != nil {
			s += fmt.Sprintf(", 95%% CI %s–%s", fmtRate(c.CILow), fmtRate(c.CIHigh))
		}
		return s + " (" + c.Origin + ")"
	}
	return s + "no count"
}

// cellText is what a matrix cell shows: the rate with 2 decimals.
func cellText(c *query.Cell) string {
	switch {
	case c.Missing:
		return "miss"
	case c.Rate == nil:
		return "–"
	}
	return fmt.Sprintf("%.2f", *c.Rate)
}

var matrixHead = template.HTML(`<style>
table.ls-matrix{border-collapse:collapse;font-size:11px}
table.ls-matrix th{font-weight:normal;white-space:nowrap;padding:1px 4px;background:var(--ls-panel)}
table.ls-matrix thead th{writing-mode:vertical-rl;transform:rotate(180deg);vertical-align:bottom;max-height:14em;overflow:hidden}
table.ls-matrix td{padding:0;border:1px solid #fff;min-width:2.6em;text-align:center}
table.ls-matrix td a{display:block;padding:2px 3px;text-decoration:none;font-variant-numeric:tabular-nums}
table.ls-matrix td.ls-none{background:var(--ls-pending)}
.ls-scroll{overflow:auto;max-height:80vh;border:1px solid var(--ls-line)}
ul.ls-notes li{margin:.2em 0}
</style>`)

var experimentBody = template.Must(template.New("exp").Funcs(funcs).Funcs(template.FuncMap{
	"cellLink": cellLink, "cellTitle": cellTitle, "cellText": cellText, "status": status,
}).Parse(`
{{if .Synthetic}}<p class="ls-panel" id="ls-synthetic">{{synthetic}} This experiment's runs came from the replay engine: their completions and rates are synthetic, made without a language model.</p>{{end}}
<div class="ls-panel"><form method="get" action="">
<label>Detector <select name="detector">{{range .Detectors}}<option{{if eq . $.Detector}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label>Marker <input name="marker" value="{{.Marker}}" placeholder="each run's own" size="10"></label>
<button type="submit">Show</button>
<span class="ls-muted">{{.L.DetectorRule}}{{if .Scope}} · scope {{.Scope}}{{end}}</span>
</form>
<div>Rates are fractions in [0, 1] (found/total); colour: <span class="ls-muted">viridis, 0 dark → 1 yellow, grey undefined</span>. Click a cell to read its completions.
· <a href="/figures/">figures</a>{{range .Live}} · <a href="/live/{{.}}">live sweep {{.}}</a>{{end}}</div></div>
<h2>Leakage matrix <span class="ls-muted">({{len .L.Cells}} cells{{if .BaseRows}}, base run included{{end}}; rows: {{if or .ByRun (not .Table)}}runs{{else}}bystanders{{end}})</span></h2>
{{if not .L.Cells}}<p class="ls-panel">No cells for this detector and scope.</p>{{else if not .Table}}
<p class="ls-muted">Bystanders grouped by their design factors. <a id="ls-as-table" href="{{.TableURL}}">As a table</a> (every rate as a number, for copying and screen readers).</p>
<div id="ls-heatmap"></div><div id="ls-heat-legend"></div>
<script type="application/json" id="ls-heat-data">{{.Heat}}</script>
<script>
(function(){
const d = JSON.parse(document.getElementById('ls-heat-data').textContent), e = lsEsc, at = new Map();
for(const c of d.cells) at.set(c.run+'\u0000'+c.persona, c);
const cellOf = (r, b) => at.get(r.run+'\u0000'+b.persona) || null;
const hm = lsHeatmap(document.getElementById('ls-heatmap'), {id: 'ls-hm', rowLabel: r => r.factors ? r.factors+' · '+r.run : r.run, alt: 'every value is listed by the link "As a table"',
  tip: (r, b, c) => {
    const f = b.factors ? Object.entries(b.factors).map(([k,v]) => e(k)+' '+e(v)).join(', ') : '';
    const t = '<b>'+e(b.persona)+'</b>'+(f ? ' <span style="opacity:.8">('+f+')</span>' : '')+'<br>run '+e(r.run)+(r.factors ? ' ('+e(r.factors)+')' : '');
    if(!c) return t+'<br>not in this run';
    return t+'<br>'+e(c.title)+(c.state === 'undefined' ? '<br>rate undefined' : '')+'<br><span style="opacity:.8">click: its completions</span>';
  },
  href: (r, b, c) => c ? c.href : null});
hm.set(d.rows, d.cols, d.group_by, cellOf);
lsHeatmapLegend(document.getElementById('ls-heat-legend'), [['scale', 'marker rate: a fraction in [0, 1], the static figures\' scale'],
  ['undefined', 'undefined: missing or no count (never a number)'], ['hatch', 'not in this run']]);
window.lsMatrix = {geo: hm.geo, data: d}; // for the browser tests
})();
</script>
{{else}}
<p class="ls-muted"><a id="ls-as-heatmap" href="{{.HeatmapURL}}">As a heatmap</a></p>
<div class="ls-scroll"><table class="ls-matrix" id="ls-matrix"><thead><tr><th></th>{{range .Cols}}<th title="{{.}}">{{.}}</th>{{end}}</tr></thead><tbody>
{{range .Rows}}<tr><th>{{if .Href}}<a href="{{.Href}}">{{.Name}}</a>{{else}}{{.Name}}{{end}}</th>{{range .Cells}}{{if .}}<td style="background:{{rateColor .Rate}}"><a class="ls-cell" data-run="{{.RunID}}" data-persona="{{.Persona}}" style="color:{{rateInk .Rate}}" href="{{cellLink $.Exp . $.Extra}}" title="{{cellTitle .}}">{{cellText .}}</a></td>{{else}}<td class="ls-none" title="not in this run"></td>{{end}}{{end}}</tr>
{{end}}</tbody></table></div>{{end}}
{{if .L.Notes}}<h2>Notes</h2><ul class="ls-notes">{{range .L.Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>Runs</h2>
<table class="ls" id="ls-exp-runs"><thead><tr><th>run</th><th>source</th><th>sweep</th><th>seed</th><th>factors</th><th>tags</th><th>marker</th><th>completions</th><th title="{{cellsTip}}">matrix cells</th><th>cosine pairs</th><th>status</th></tr></thead><tbody>
{{range .Runs}}<tr><td><a href="{{runURL .Experiment .RunID}}">{{.RunID}}</a>{{with runKind .}} <span class="ls-tag">{{.}}</span>{{end}}</td><td>{{.SourcePersona}}</td><td>{{.Sweep}}</td><td class="num">{{with .Seed}}{{deref .}}{{end}}</td><td class="mono">{{range $k, $v := .Factors}}{{$k}}={{$v}} {{end}}</td><td>{{range .Tags}}<span class="ls-tag">{{.}}</span>{{end}}</td><td class="mono">{{.Marker}}</td><td class="num">{{.Completions}}</td><td class="num">{{.MatrixCells}}</td><td class="num">{{.CosinePairs}}</td><td>{{status .}}</td></tr>
{{end}}</tbody></table>`))
