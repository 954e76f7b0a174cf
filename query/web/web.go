// Package web is leakscope's browser app over the query engine: the home
// page (experiments and their runs), an experiment's leakage matrix, a
// cell's samples, a run's page and the SQL console. Pages are drawn on the
// server in webui's frame and work offline; the little script they carry
// filters, pages, runs SQL through /api/sql and draws the experiment's
// matrix as webui's heatmap (the live page's).
package web

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"leakscope/query"
	"leakscope/query/api"
	"leakscope/query/webui"
)

// Register adds the pages to mux: GET / (the home page; the API's JSON
// index when the request asks for application/json), /experiments/E,
// /experiments/E/runs/R, /samples?experiment=E&run=R&bystander=B… and
// /sql. index answers JSON requests to /. With arts (may be nil) it also
// serves GET /artifacts/NAME (artifactDownload) and the run page links
// its artifacts there; without, /artifacts/ answers 404 saying why.
func Register(mux *http.ServeMux, e *query.Engine, index http.Handler, arts Artifacts) {
	page := func(h func(http.ResponseWriter, *http.Request, *query.Engine)) http.Handler {
		return http.TimeoutHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, e) }),
			api.RequestTimeout, "the page took longer than 60 s and was cancelled")
	}
	home := page(homePage)
	mux.Handle("GET /{$}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wantsJSON(r) {
			index.ServeHTTP(w, r)
			return
		}
		home.ServeHTTP(w, r)
	}))
	mux.Handle("GET /experiments/{experiment}", page(experimentPage))
	mux.Handle("GET /experiments/{experiment}/runs/{run...}", page(func(w http.ResponseWriter, r *http.Request, e *query.Engine) {
		runPage(w, r, e, arts != nil)
	}))
	if arts != nil {
		// Not behind TimeoutHandler, which holds the whole response in memory.
		mux.Handle("GET /artifacts/{name...}", artifactDownload(e, arts))
	} else {
		mux.Handle("GET /artifacts/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fail(w, http.StatusNotFound, errors.New("this query service reads no artifact store: artifacts are served by leakscope up, or by leakscope-query with --nats-url"))
		}))
	}
	mux.Handle("GET /samples", page(samplesPage))
	mux.Handle("GET /sql", page(sqlPage))
}

// Routes are the pages' path prefixes (for request metrics).
var Routes = []string{"/experiments/", "/samples", "/sql", "/artifacts/"}

// wantsJSON: the client asks for JSON and not for HTML (curl -H 'Accept:
// application/json'; browsers ask for text/html).
func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// experimentURL, runURL and samplesURL are the pages' addresses.
func experimentURL(exp string) string { return "/experiments/" + url.PathEscape(exp) }

func runURL(exp, run string) string {
	parts := strings.Split(run, "/")
	for i, p := range parts {
		if p == "" || p == "." || p == ".." {
			// Browsers and the mux clean such a path ("a/../b" to "b",
			// "a//b" to "a/b"): it would open another run's page. As one
			// segment ("/" escaped) it stays this run's.
			return experimentURL(exp) + "/runs/" + url.PathEscape(run)
		}
		parts[i] = url.PathEscape(p)
	}
	return experimentURL(exp) + "/runs/" + strings.Join(parts, "/")
}

func samplesURL(exp, run, bystander string, extra url.Values) string {
	v := url.Values{"experiment": {exp}, "run": {run}, "bystander": {bystander}}
	for k, vals := range extra {
		if len(vals) > 0 && vals[0] != "" {
			v[k] = vals
		}
	}
	return "/samples?" + v.Encode()
}

// render executes a page's body template and writes it in the frame.
func render(w http.ResponseWriter, p webui.Page, body *template.Template, data any) {
	var buf bytes.Buffer
	if err := body.Execute(&buf, data); err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	p.Body = template.HTML(buf.String())
	webui.Write(w, p)
}

// fail writes an error page with the status of err (api.LookupStatus when
// code is 0) and the error's message.
func fail(w http.ResponseWriter, code int, err error) {
	if code == 0 {
		code = api.LookupStatus(err)
	}
	var buf bytes.Buffer
	_ = errorBody.Execute(&buf, err.Error())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = webui.Render(w, webui.Page{Title: http.StatusText(code), Body: template.HTML(buf.String())})
}

var errorBody = template.Must(template.New("err").Parse(`<p class="ls-error">{{.}}</p><p><a href="/">All experiments</a></p>`))

// funcs are the helpers every page template may call.
var funcs = template.FuncMap{
	"experimentURL": experimentURL,
	"runURL":        runURL,
	"samplesURL": func(exp, run, bystander string, kv ...string) string {
		extra := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			extra.Set(kv[i], kv[i+1])
		}
		return samplesURL(exp, run, bystander, extra)
	},
	"rateColor": rateColor,
	"rateInk":   rateInk,
	"fmtRate":   fmtRate,
	"deref":     func(p *int64) int64 { return *p },
	"join":      strings.Join,
	"runKind":   runKind,
	"synthetic": func() template.HTML { return syntheticBadge },
	"cellsTip":  func() string { return cellsTip },
}

// cellsTip is the tooltip of the runs tables' "matrix cells" column.
const cellsTip = "cells of the leakage matrix: bystanders with completions plus imported cells"
