package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"leakscope/events/marker"
	"leakscope/query"
	"leakscope/query/api"
	"leakscope/query/webui"
)

// samplesPage lists one cell's completions (api.SamplesRequestOf's
// parameters, the same as /api/samples): counts, a hits/misses filter,
// pages, and each text with the marker highlighted where each detector
// fires.
func samplesPage(w http.ResponseWriter, r *http.Request, e *query.Engine) {
	req, err := api.SamplesRequestOf(r.URL.Query())
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	s, err := e.Samples(r.Context(), req)
	if err != nil {
		fail(w, 0, err)
		return
	}
	req = s.Request
	link := func(change ...string) string {
		v := url.Values{"detector": {req.Detector}, "marker": {req.Marker}, "hits": {req.Hits}}
		if req.Detector == marker.Strict {
			v.Del("detector")
		}
		if req.Limit != query.DefaultSamplesLimit {
			v.Set("limit", strconv.Itoa(req.Limit))
		}
		for i := 0; i+1 < len(change); i += 2 {
			v.Set(change[i], change[i+1])
		}
		return samplesURL(req.Experiment, req.Run, req.Bystander, v)
	}
	type pageLink struct{ Name, Href string }
	var pager []pageLink
	if req.Offset > 0 {
		pager = append(pager, pageLink{"← previous", link("offset", strconv.Itoa(max(req.Offset-req.Limit, 0)))})
	}
	if int64(req.Offset+len(s.Samples)) < s.Matching {
		// A page cut at query.MaxSamplesBytes holds fewer than Limit.
		pager = append(pager, pageLink{"next →", link("offset", strconv.Itoa(req.Offset+len(s.Samples)))})
	}
	filters := []struct {
		Name, Hits, Href string
		N                int64
	}{
		{"all", query.HitsAll, link("hits", "", "offset", ""), s.Total},
		{"hits", query.HitsOnly, link("hits", query.HitsOnly, "offset", ""), s.Found},
		{"misses", query.HitsMisses, link("hits", query.HitsMisses, "offset", ""), s.Total - s.Found},
	}
	var rate *float64
	if s.Total > 0 {
		x := float64(s.Found) / float64(s.Total)
		rate = &x
	}
	dets := []struct{ Name, Href string }{}
	for _, d := range append(marker.Names(), marker.Recorded) {
		dets = append(dets, struct{ Name, Href string }{d, link("detector", d, "offset", "")})
	}
	render(w, webui.Page{Title: req.Bystander + " · " + req.Run, Active: "Experiments", Head: samplesHead,
		Crumbs: []webui.Crumb{{Name: "Experiments", Href: "/"}, {Name: req.Experiment, Href: experimentURL(req.Experiment)},
			{Name: req.Run, Href: runURL(req.Experiment, req.Run)}, {Name: req.Bystander}}},
		samplesBody, map[string]any{"S": s, "R": req, "Rate": rate, "Filters": filters, "Pager": pager, "Detectors": dets,
			"First": req.Offset + 1, "Last": req.Offset + len(s.Samples)})
}

// highlight renders text with each hit span marked: a segment covered by
// several detectors carries each detector's class (escaped here, so the
// text cannot inject markup).
func highlight(text string, spans map[string][]marker.Span) template.HTML {
	cuts := map[int]bool{0: true, len(text): true}
	for _, ss := range spans {
		for _, sp := range ss {
			cuts[sp.Start], cuts[sp.End] = true, true
		}
	}
	pos := make([]int, 0, len(cuts))
	for p := range cuts {
		pos = append(pos, p)
	}
	sort.Ints(pos)
	names := make([]string, 0, len(spans))
	for n := range spans {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i := 0; i+1 < len(pos); i++ {
		a, z := pos[i], pos[i+1]
		var by []string
		for _, n := range names {
			for _, sp := range spans[n] {
				if sp.Start <= a && z <= sp.End {
					by = append(by, n)
					break
				}
			}
		}
		seg := template.HTMLEscapeString(text[a:z])
		if len(by) == 0 {
			b.WriteString(seg)
			continue
		}
		cls := make([]string, len(by))
		for j, n := range by {
			cls[j] = "ls-d-" + n
		}
		fmt.Fprintf(&b, `<mark class="ls-hit %s" title="%s">%s</mark>`, strings.Join(cls, " "), strings.Join(by, ", "), seg)
	}
	return template.HTML(b.String())
}

func flag(b *bool) string {
	switch {
	case b == nil:
		return "none"
	case *b:
		return "yes"
	}
	return "no"
}

var samplesHead = template.HTML(`<style>
.ls-sample{border:1px solid var(--ls-line);border-radius:4px;margin:.6em 0;padding:.4em .7em}
.ls-sample .ls-meta{color:var(--ls-muted);font-size:12px}
.ls-sample .ls-q{font-weight:600;margin:.2em 0}
.ls-text{white-space:pre-wrap;font:var(--ls-mono);background:var(--ls-panel);padding:.4em;margin:.3em 0;max-height:24em;overflow:auto}
.ls-filter a{margin-right:.8em}.ls-filter a.active{font-weight:700;color:var(--ls-fg)}
mark.ls-hit{background:none;outline:none;padding:0}
mark.ls-d-strict{background:#ffe08a}
mark.ls-d-case-sensitive{outline:1px solid #D55E00}
mark.ls-d-loose{border-bottom:2px dashed #0072B2}
.ls-yes{color:#fff;background:#D55E00;border-radius:3px;padding:0 .35em}
.ls-no{color:var(--ls-muted)}
</style>`)

var samplesBody = template.Must(template.New("samples").Funcs(funcs).Funcs(template.FuncMap{
	"highlight": highlight, "flag": flag, "len64": func(s []marker.Span) int { return len(s) },
}).Parse(`
<div class="ls-panel" id="ls-cell">
<div><b>Cell</b> run <a href="{{runURL .R.Experiment .R.Run}}">{{.R.Run}}</a> × bystander <b>{{.R.Bystander}}</b>, marker <code>{{.S.Marker}}</code></div>
<div>Detector <b>{{.R.Detector}}</b>: {{.S.DetectorRule}}</div>
<div class="ls-counts">found <b id="ls-found">{{.S.Found}}</b> / total <b id="ls-total">{{.S.Total}}</b> completions = rate <b id="ls-rate">{{fmtRate .Rate}}</b>
{{with .S.Cell}}{{if and .CILow .CIHigh}} · 95 % interval {{fmtRate .CILow}}–{{fmtRate .CIHigh}} ({{.Interval}}){{end}}{{if .RecordedFound}} · recorded flags {{deref .RecordedFound}}{{end}}{{if .ImportedFound}} · origin's count {{deref .ImportedFound}}{{end}}{{if .RateMinusBase}} · minus base {{fmtRate .RateMinusBase}}{{end}}{{end}}</div>
<div class="ls-filter">Detector: {{range .Detectors}}<a href="{{.Href}}"{{if eq .Name $.R.Detector}} class="active"{{end}}>{{.Name}}</a> {{end}}</div>
<div class="ls-filter">Show: {{range .Filters}}<a href="{{.Href}}" data-hits="{{.Name}}"{{if eq .Hits $.R.Hits}} class="active"{{end}}>{{.Name}} ({{.N}})</a>{{end}}</div>
<div class="ls-muted">Highlights: <mark class="ls-hit ls-d-strict">strict</mark> <mark class="ls-hit ls-d-case-sensitive">case-sensitive</mark> <mark class="ls-hit ls-d-loose">loose</mark> (a span may carry several).</div>
</div>
{{range .S.Notes}}<p class="ls-panel">{{.}}</p>{{end}}
{{if .S.Samples}}<p id="ls-range" data-offset="{{.R.Offset}}">{{.First}}–{{.Last}} of <b id="ls-matching">{{.S.Matching}}</b> {{if eq .R.Hits "only"}}hits{{else if eq .R.Hits "misses"}}misses{{else}}completions{{end}} {{range .Pager}}<a href="{{.Href}}">{{.Name}}</a> {{end}}</p>
{{range .S.Samples}}<div class="ls-sample" data-hit="{{.Hit}}">
<div class="ls-meta">{{if .QuestionSet}}{{.QuestionSet}} · {{end}}sample {{.SampleIndex}} · finish {{or .FinishReason "unknown"}}{{with .CompletionTokens}} · {{deref .}} tokens{{end}}
· detected ({{$.R.Detector}}) <span class="{{if .Hit}}ls-yes{{else}}ls-no{{end}}">{{if .Hit}}yes{{else}}no{{end}}</span>
· recorded {{flag .RecordedMarker}}
· hits: strict {{len64 (index .Spans "strict")}}, case-sensitive {{len64 (index .Spans "case-sensitive")}}, loose {{len64 (index .Spans "loose")}}
{{range .Judgements}} · judge {{.Judge}} v{{.JudgeVersion}}: {{if .Failed}}failed ({{.Reason}}){{else}}{{fmtRate .Score}}{{end}}{{end}}</div>
<div class="ls-q">{{.Question}}</div>
<div class="ls-text">{{highlight .Text .Spans}}</div></div>
{{end}}<p>{{range .Pager}}<a href="{{.Href}}">{{.Name}}</a> {{end}}</p>
{{else if .S.Total}}<p class="ls-panel">No completion on this page ({{.S.Matching}} match).</p>{{end}}`))
