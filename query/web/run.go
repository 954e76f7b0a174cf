package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"leakscope/query"
	"leakscope/query/duck"
	"leakscope/query/webui"
)

// artifactStore names the NATS object store the GPU workers keep
// artifacts in (gpuworker/jobs.ArtifactStore; query may not import it).
const artifactStore = "LEAKSCOPE_ARTIFACTS"

type artifact struct {
	Job, Kind, Name string
	Hashes          []string // "adapter_sha256=…"
	Href            string   // download address ("" when not served)
}

type download struct{ Name, CSV, Parquet string }

// runPage shows one run: configuration and provenance, the loss curve,
// its row of the leakage matrix (cells linking to samples), the job
// attempts and the artifacts they name (linked for download when served,
// that is when the job recorded the artifact's SHA-256), and downloads of
// its lake rows.
func runPage(w http.ResponseWriter, r *http.Request, e *query.Engine, served bool) {
	exp, run := r.PathValue("experiment"), r.PathValue("run")
	if len(r.URL.Query()) > 0 {
		fail(w, http.StatusBadRequest, errors.New("the run page takes no query parameters"))
		return
	}
	d, err := e.Run(r.Context(), exp, run)
	if err != nil {
		fail(w, 0, err)
		return
	}
	lk, err := e.Leakage(r.Context(), query.LeakageRequest{Experiment: exp, IncludeBase: true,
		Scope: query.Scope{Runs: []string{run}, IncludeRetracted: true}})
	if err != nil {
		fail(w, 0, err)
		return
	}
	var arts []artifact
	for _, j := range d.Jobs {
		if j.Detail == "" || j.Status != "finished" {
			continue
		}
		var det map[string]any
		if json.Unmarshal([]byte(j.Detail), &det) != nil {
			continue
		}
		name, _ := det["artifact"].(string)
		if name == "" {
			continue
		}
		a := artifact{Job: j.Job, Kind: j.Kind, Name: name}
		for k, v := range det {
			if strings.HasSuffix(k, "sha256") {
				if s, ok := v.(string); ok {
					a.Hashes = append(a.Hashes, k+"="+s)
				}
			}
		}
		sort.Strings(a.Hashes)
		if sum, _ := det["artifact_sha256"].(string); served && sum != "" {
			if _, _, ok := splitSealed(name + sealedPrefix + sum); ok {
				a.Href = artifactURL(name, sum)
			}
		}
		arts = append(arts, a)
	}
	var downloads []download
	for _, t := range []struct{ name, table string }{{"completions", "completions"}, {"imported cells", "cells"}, {"training steps", "training_steps"}, {"job attempts", "job_status"}, {"judge scores", "coherence"}} {
		q := "SELECT * FROM " + t.table + " WHERE experiment = " + duck.Quote(exp) + " AND run_id = " + duck.Quote(run)
		base := "/api/sql?" + url.Values{"q": {q}}.Encode()
		downloads = append(downloads, download{t.name, base + "&format=csv", base + "&format=parquet"})
	}
	render(w, webui.Page{Title: run, Active: "Experiments", Head: matrixHead + runHead,
		Crumbs: []webui.Crumb{{Name: "Experiments", Href: "/"}, {Name: exp, Href: experimentURL(exp)}, {Name: run}}},
		runBody, map[string]any{"D": d, "L": lk, "Exp": exp, "Config": pretty(d.ConfigJSON), "ConfigLines": strings.Count(pretty(d.ConfigJSON), "\n") + 1, "Plan": pretty(d.PlanJSON),
			"Stopping": pretty(d.StoppingJSON), "Loss": lossSVG(d.Training), "Artifacts": arts, "Store": artifactStore, "Served": served,
			"Downloads": downloads, "Status": status(d.RunSummary), "Live": liveSweeps(nil, d.RunSummary)})
}

// runHead wraps the JSON blocks and job details: a long line must not
// scroll the page sideways.
var runHead = template.HTML(`<style>
pre.ls-wrap{white-space:pre-wrap;overflow-wrap:anywhere;max-height:70vh;overflow-y:auto}
td.mono,#ls-artifact-list{overflow-wrap:anywhere}
</style>`)

// pretty indents a JSON document; text that is not JSON is shown as it is.
func pretty(s string) string {
	var buf bytes.Buffer
	if s == "" || json.Indent(&buf, []byte(s), "", "  ") != nil {
		return s
	}
	return buf.String()
}

var runBody = template.Must(template.New("run").Funcs(funcs).Funcs(template.FuncMap{"cellTitle": cellTitle, "cellLink": cellLink}).Parse(`
{{if .D.Synthetic}}<p class="ls-panel" id="ls-synthetic">{{synthetic}} This run came from the replay engine (engine_version "replay"): its completions and rates are synthetic, made without a language model.</p>{{end}}
<table class="ls" id="ls-run-facts"><tbody>
<tr><th>experiment</th><td><a href="{{experimentURL .Exp}}">{{.Exp}}</a></td></tr>
<tr><th>status</th><td>{{.Status}}{{with .D.Status}} (run_finished: {{.}}){{end}}{{with .D.Error}} — {{.}}{{end}}{{if .D.Retracted}} — retracted: {{.D.RetractReason}}{{end}}</td></tr>
<tr><th>started (UTC)</th><td class="mono">{{.D.StartedAt.Format "2006-01-02 15:04:05"}}</td></tr>
<tr><th>source persona</th><td>{{.D.SourcePersona}}{{with .D.SourcePrompt}} <span class="ls-muted">“{{.}}”</span>{{end}}</td></tr>
<tr><th>marker</th><td><code>{{.D.Marker}}</code>{{with .D.MarkerOrigin}} <span class="ls-muted">({{.}})</span>{{end}}</td></tr>
<tr><th>model</th><td>{{.D.Model}}{{with .D.Adapter}} + adapter {{.}}{{end}}{{with runKind .D.RunSummary}} <span class="ls-tag">{{.}}</span>{{end}}</td></tr>
{{with .D.BaseRun}}<tr><th>base run</th><td><a href="{{runURL $.Exp .}}">{{.}}</a></td></tr>{{end}}
<tr><th>sweep · seed</th><td>{{or .D.Sweep "–"}}{{range .Live}} (<a href="/live/{{.}}">live</a>){{end}} · {{with .D.Seed}}{{deref .}}{{else}}–{{end}}</td></tr>
<tr><th>factors</th><td class="mono">{{range $k, $v := .D.Factors}}{{$k}}={{$v}} {{end}}</td></tr>
<tr><th>tags</th><td>{{range .D.Tags}}<span class="ls-tag">{{.}}</span>{{end}}</td></tr>
<tr><th>counts</th><td>{{.D.Completions}} completions · {{.D.Cells}} imported cells · {{.D.CosinePairs}} cosine pairs</td></tr>
<tr><th>code version</th><td class="mono">{{.D.CodeVersion}}</td></tr>
{{if .D.Imported}}<tr><th>imported from</th><td class="mono">{{.D.OriginFile}} (SHA-256 {{.D.OriginSHA256}})</td></tr>{{end}}
</tbody></table>
<h2>Training loss</h2>{{if .Loss}}{{.Loss}}{{else}}<p class="ls-muted" id="ls-no-loss">No training_step events for this run (imported runs and base models have none).</p>{{end}}
<h2>Leakage <span class="ls-muted">(strict detector; this run's row of the matrix; click a cell for its completions)</span></h2>
{{if .L.Cells}}<div class="ls-scroll"><table class="ls" id="ls-run-cells"><thead><tr><th>bystander</th><th>rate</th><th>found/total</th><th>95 % interval</th><th>minus base</th><th>from</th></tr></thead><tbody>
{{range .L.Cells}}<tr><td><a class="ls-cell" data-persona="{{.Persona}}" href="{{cellLink $.Exp . nil}}" title="{{cellTitle .}}">{{.Persona}}</a></td>
<td class="num" style="background:{{rateColor .Rate}};color:{{rateInk .Rate}}">{{if .Missing}}missing{{else}}{{fmtRate .Rate}}{{end}}</td>
<td class="num">{{if and .Found .Total}}{{deref .Found}}/{{deref .Total}}{{end}}</td><td class="num">{{if and .CILow .CIHigh}}{{fmtRate .CILow}}–{{fmtRate .CIHigh}}{{end}}</td>
<td class="num">{{with .RateMinusBase}}{{fmtRate .}}{{end}}</td><td>{{.Origin}}</td></tr>
{{end}}</tbody></table></div>{{else}}<p class="ls-muted">This run has no cells.</p>{{end}}
<h2>Configuration and plan</h2>{{if .Config}}<details id="ls-config-details"><summary>Configuration (run_started's config, {{.ConfigLines}} lines of JSON)</summary><pre class="ls-panel ls-wrap" id="ls-config">{{.Config}}</pre></details>{{else}}<p class="ls-muted">The run_started event carries no configuration.</p>{{end}}
{{if .Plan}}<details><summary>Plan (planned cells)</summary><pre class="ls-panel ls-wrap">{{.Plan}}</pre></details>{{end}}
{{if .Stopping}}<details><summary>Adaptive stopping rule</summary><pre class="ls-panel ls-wrap">{{.Stopping}}</pre></details>{{end}}
<h2>Jobs and artifacts</h2>
{{if .D.Jobs}}<table class="ls"><thead><tr><th>time (UTC)</th><th>job</th><th>kind</th><th>attempt</th><th>status</th><th>worker</th><th>done/expected</th><th>detail</th></tr></thead><tbody>
{{range .D.Jobs}}<tr><td class="mono">{{.Time.Format "2006-01-02 15:04:05"}}</td><td class="mono">{{.Job}}</td><td>{{.Kind}}</td><td class="num">{{.Attempt}}</td><td>{{.Status}}{{with .Error}} — {{.}}{{end}}</td><td>{{.Worker}}</td><td class="num">{{.Done}}/{{.Expected}}</td><td class="mono">{{.Detail}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="ls-muted">No job_status events for this run (imports have none).</p>{{end}}
{{if .Artifacts}}<p>Artifacts this run's jobs recorded:</p><ul id="ls-artifact-list">{{range .Artifacts}}<li>{{if .Href}}<a class="ls-artifact" href="{{.Href}}" download><code>{{.Name}}</code></a>{{else}}<code>{{.Name}}</code>{{end}} ({{.Kind}}, job {{.Job}}){{range .Hashes}} <span class="mono">{{.}}</span>{{end}}</li>{{end}}</ul>{{end}}
{{if .Served}}<p class="ls-panel" id="ls-artifacts">Artifacts (on-policy data, adapters) download from their sealed copies in the NATS object store, each checked against the SHA-256 its job recorded (a copy that differs is refused).
Artifacts without a link were recorded without that SHA-256 (by older workers): fetch them with <code>nats object get {{.Store}} NAME</code> against the sweep's NATS server.</p>
{{else}}<p class="ls-panel" id="ls-artifacts">Artifacts (on-policy data, adapters) live in the NATS object store <code>{{.Store}}</code>, which this query service does not read: it serves only the lake.
Fetch one with <code>nats object get {{.Store}} NAME</code> against the sweep's NATS server.</p>{{end}}
<h2>Downloads <span class="ls-muted">(this run's rows in the lake, through the SQL jail)</span></h2>
<table class="ls"><tbody>{{range .Downloads}}<tr><td>{{.Name}}</td><td><a href="{{.CSV}}" download>CSV</a></td><td><a href="{{.Parquet}}" download>Parquet</a></td></tr>{{end}}</tbody></table>`))
