package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"leakscope/query"
	"leakscope/query/webui"
)

type homeExperiment struct {
	Name        string
	Runs        []homeRun
	Completions int64
	Cells       int64
	Retracted   int
	Unfinished  int
	// Synthetic is true when a run came from the replay engine.
	Synthetic bool
	// LiveSweeps are the sweeps with a run still without run_finished.
	LiveSweeps []string
}

type homeRun struct {
	query.RunSummary
	FactorText string   // "lr=1e-4 neg_set=a"
	Search     string   // what the search box matches, lower case
	Filters    []string // "factor=value" tokens the factor filter matches
}

// homePage lists every experiment with its runs; a search box and a
// factor filter narrow the list in the browser.
func homePage(w http.ResponseWriter, r *http.Request, e *query.Engine) {
	runs, err := e.Runs(r.Context(), "")
	if err != nil {
		fail(w, 0, err)
		return
	}
	var exps []*homeExperiment
	byName := map[string]*homeExperiment{}
	filters := map[string]bool{}
	for _, rs := range runs {
		x := byName[rs.Experiment]
		if x == nil {
			x = &homeExperiment{Name: rs.Experiment}
			byName[rs.Experiment] = x
			exps = append(exps, x)
		}
		hr := homeRun{RunSummary: rs}
		var fs, toks []string
		for _, k := range rs.Factors.Keys() {
			fs = append(fs, k+"="+rs.Factors[k])
		}
		toks = append(toks, fs...)
		if rs.Seed != nil {
			toks = append(toks, "seed="+strconv.FormatInt(*rs.Seed, 10))
		}
		if rs.Sweep != "" {
			toks = append(toks, "sweep="+rs.Sweep)
		}
		if rs.SourcePersona != "" {
			toks = append(toks, "source="+rs.SourcePersona)
		}
		for _, t := range toks {
			filters[t] = true
		}
		hr.FactorText, hr.Filters = strings.Join(fs, " "), toks
		hr.Search = strings.ToLower(strings.Join(append([]string{rs.Experiment, rs.RunID, rs.SourcePersona, rs.Sweep, rs.Marker, hr.FactorText}, rs.Tags...), " "))
		x.Runs = append(x.Runs, hr)
		x.Completions += rs.Completions
		x.Cells += rs.Cells
		x.Synthetic = x.Synthetic || rs.Synthetic
		if rs.Retracted {
			x.Retracted++
		}
		if !rs.Finished {
			x.Unfinished++
		}
		x.LiveSweeps = liveSweeps(x.LiveSweeps, rs)
	}
	opts := make([]string, 0, len(filters))
	for f := range filters {
		opts = append(opts, f)
	}
	sort.Strings(opts)
	render(w, webui.Page{Title: "Experiments", Active: "Experiments", Head: homeHead},
		homeBody, map[string]any{"Experiments": exps, "Filters": opts, "Runs": len(runs)})
}

// liveSweeps adds the run's sweep to have when the run has no
// run_finished yet (its sweep is what /live/SWEEP shows).
func liveSweeps(have []string, rs query.RunSummary) []string {
	if !rs.Finished && rs.Sweep != "" && !contains(have, rs.Sweep) {
		have = append(have, rs.Sweep)
	}
	return have
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func status(rs query.RunSummary) string {
	switch {
	case rs.Retracted:
		return "retracted"
	case rs.Finished:
		return "finished"
	}
	return "running"
}

var homeHead = template.HTML(`<style>
.ls-exp{margin:1.2em 0 .4em}.ls-exp h2{display:inline;margin-right:.8em}
.ls-exp .ls-links a{margin-right:.9em}
tr.ls-retracted td{color:var(--ls-muted);text-decoration:line-through}
tr.ls-retracted td.ls-status{text-decoration:none}
</style>`)

var homeBody = template.Must(template.New("home").Funcs(funcs).Funcs(template.FuncMap{"status": status, "json": func(v []string) (string, error) {
	if v == nil {
		v = []string{}
	}
	b, err := json.Marshal(v)
	return string(b), err
}}).Parse(`
{{if not .Experiments}}<p class="ls-panel">The lake holds no runs yet: import results (<code>leakscope import DIR</code>) or start a sweep.</p>{{else}}
<div class="ls-panel ls-controls">
<label>Search <input id="ls-search" type="search" placeholder="experiment, run, source, tag…" size="30"></label>
<label>Factor <select id="ls-factor"><option value="">any</option>{{range .Filters}}<option value="{{.}}">{{.}}</option>{{end}}</select></label>
<span id="ls-shown" class="ls-muted">{{.Runs}} runs</span>
</div>
{{range .Experiments}}<section class="ls-exp-block" data-experiment="{{.Name}}">
<div class="ls-exp"><h2><a href="{{experimentURL .Name}}">{{.Name}}</a></h2>{{if .Synthetic}}{{synthetic}} {{end}}
<span class="ls-muted">{{len .Runs}} run{{if ne (len .Runs) 1}}s{{end}} · {{.Completions}} completions · {{.Cells}} imported cells{{if .Retracted}} · {{.Retracted}} retracted{{end}}{{if .Unfinished}} · {{.Unfinished}} without run_finished{{end}}</span>
<div class="ls-links"><a href="{{experimentURL .Name}}">leakage matrix and cells</a><a href="/figures/">figures</a>{{range .LiveSweeps}}<a href="/live/{{.}}">live sweep {{.}}</a>{{end}}</div></div>
<table class="ls ls-runs"><thead><tr><th>run</th><th>started (UTC)</th><th>source</th><th>sweep</th><th>seed</th><th>factors</th><th>tags</th><th>marker</th><th>completions</th><th title="{{cellsTip}}">matrix cells</th><th>cosine pairs</th><th>status</th></tr></thead><tbody>
{{range .Runs}}<tr class="ls-run{{if .Retracted}} ls-retracted{{end}}" data-search="{{.Search}}" data-filters="{{json .Filters}}">
<td><a href="{{runURL .Experiment .RunID}}">{{.RunID}}</a>{{with runKind .RunSummary}} <span class="ls-tag">{{.}}</span>{{end}}{{if .Imported}} <span class="ls-tag">imported</span>{{end}}</td>
<td class="mono">{{.StartedAt.Format "2006-01-02 15:04"}}</td><td>{{.SourcePersona}}</td><td>{{.Sweep}}</td><td class="num">{{with .Seed}}{{deref .}}{{end}}</td>
<td class="mono">{{.FactorText}}</td><td>{{range .Tags}}<span class="ls-tag">{{.}}</span>{{end}}</td><td class="mono">{{.Marker}}</td>
<td class="num">{{.Completions}}</td><td class="num">{{.MatrixCells}}</td><td class="num">{{.CosinePairs}}</td>
<td class="ls-status"{{if .Retracted}} title="{{.RetractReason}}"{{end}}>{{status .RunSummary}}</td></tr>
{{end}}</tbody></table></section>
{{end}}
<script>
(function(){
  const q=document.getElementById('ls-search'), f=document.getElementById('ls-factor'), shown=document.getElementById('ls-shown');
  function apply(){
    const s=q.value.trim().toLowerCase(), fv=f.value; let n=0;
    document.querySelectorAll('.ls-exp-block').forEach(function(b){
      let m=0;
      b.querySelectorAll('tr.ls-run').forEach(function(tr){
        const ok=(!s||tr.dataset.search.includes(s))&&(!fv||JSON.parse(tr.dataset.filters).includes(fv));
        tr.hidden=!ok; if(ok)m++;
      });
      b.hidden=m===0; n+=m;
    });
    shown.textContent=n+' runs';
  }
  q.addEventListener('input',apply); f.addEventListener('change',apply);
})();
</script>{{end}}`))

// rateColor is the background of a rate (webui.Rate; grey when undefined).
func rateColor(v *float64) template.CSS {
	if v == nil {
		c := webui.Rate(nan())
		return template.CSS(fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B))
	}
	c := webui.Rate(*v)
	return template.CSS(fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B))
}

// rateInk is the text colour on rateColor (lsInk in leakscope.js).
func rateInk(v *float64) template.CSS {
	if v != nil && *v > 0.55 {
		return "#000"
	}
	return "#fff"
}

// fmtRate prints a rate as a fraction with 3 decimals; undefined is never a number.
func fmtRate(v *float64) string {
	if v == nil || *v != *v {
		return "undefined"
	}
	return strconv.FormatFloat(*v, 'f', 3, 64)
}

func nan() float64 { z := 0.0; return z / z }
