package live

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"leakscope/events"
	"leakscope/query/webui"
)

//go:embed page.html
var pageHTML string

//go:embed list.html
var listHTML string

var (
	page = template.Must(template.New("live").Parse(pageHTML))
	list = template.Must(template.New("list").Parse(listHTML))
)

// SSEInterval is how often the event stream re-sends the state when
// nothing changed (so worker stalls and the rate stay current).
const SSEInterval = 500 * time.Millisecond

// sseMinGap spaces the frames of a busy sweep: a change arrives with
// nearly every completion, and a frame carries every cell.
const sseMinGap = 200 * time.Millisecond

// Handler serves, for a sweep S, in the shared frame and look (query/webui;
// the caller mounts webui.Assets at /assets/):
//
//	GET /live/           the sweeps seen with their progress (HTML; JSON
//	                     {"sweeps": [names], "summaries": [SweepSummary]}
//	                     with ?format=json or Accept: application/json)
//	GET /live/S          the live page of sweep S; a name that is no sweep's
//	                     but begins one sweep's name redirects there (302),
//	                     begins several lists them, begins none waits for one;
//	                     a name no sweep can have (events.ValidExperiment) is 404
//	GET /live/S/state    the current Snapshot (JSON)
//	GET /live/S/events   Server-Sent Events: a Snapshot on every change (at
//	                     most every 200 ms), and every 500 ms; the stream
//	                     ends after the first Snapshot whose sweep is finished
func Handler(a *Aggregator) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /live/{$}", func(w http.ResponseWriter, r *http.Request) {
		names := a.Sweeps()
		if r.URL.Query().Get("format") == "json" || wantsJSON(r) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"sweeps": names, "summaries": a.Summaries(names)})
			return
		}
		writeList(w, "Live sweeps", "", a.Summaries(names), "")
	})
	mux.HandleFunc("GET /live/{sweep}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("sweep")
		if !events.ValidExperiment(name) {
			// No sweep can ever have this name: waiting for it would wait forever.
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			writeList(w, "Not a sweep name", name, a.Summaries(a.Sweeps()), "invalid")
			return
		}
		switch m := a.Resolve(name); {
		case len(m) == 1 && m[0] == name:
			var body bytes.Buffer
			if err := page.Execute(&body, map[string]string{"Sweep": name}); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			webui.Write(w, webui.Page{Title: "Sweep " + name, Active: "Live", Head: webui.HeatmapHead, Crumbs: []webui.Crumb{{Name: "Live", Href: "/live/"}, {Name: name}},
				Body: template.HTML(body.String())})
		case len(m) == 1:
			http.Redirect(w, r, "/live/"+url.PathEscape(m[0]), http.StatusFound)
		case len(m) > 1:
			writeList(w, "Sweeps beginning "+name, name, a.Summaries(m), "several")
		case a.Sweepless(name):
			writeList(w, "Experiment "+name+" has no sweep", name, a.Summaries(a.Sweeps()), "sweepless")
		default:
			writeList(w, "Waiting for sweep "+name, name, a.Summaries(a.Sweeps()), "none")
		}
	})
	mux.HandleFunc("GET /live/{sweep}/state", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.Snapshot(r.PathValue("sweep")))
	})
	mux.HandleFunc("GET /live/{sweep}/events", func(w http.ResponseWriter, r *http.Request) {
		fl, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		sweep := r.PathValue("sweep")
		t := time.NewTicker(SSEInterval)
		defer t.Stop()
		var buf bytes.Buffer
		for {
			changed := a.Changed()
			buf.Reset()
			buf.WriteString("data: ")
			snap := a.Snapshot(sweep)
			if err := json.NewEncoder(&buf).Encode(snap); err != nil {
				return
			}
			buf.WriteString("\n")
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			fl.Flush()
			if snap.Finished {
				return // a finished sweep changes no more: the page closes its EventSource
			}
			select {
			case <-r.Context().Done():
				return
			case <-changed:
				select { // let a burst of changes make one frame
				case <-r.Context().Done():
					return
				case <-time.After(sseMinGap):
				}
			case <-t.C:
			}
		}
	})
	return mux
}

func wantsJSON(r *http.Request) bool {
	acc := r.Header.Get("Accept")
	return strings.Contains(acc, "application/json") && !strings.Contains(acc, "text/html")
}

// writeList renders the list of sweeps: all of them (prefix ""), the
// several a prefix begins (why "several"), or those seen while waiting for
// a sweep the prefix begins (why "none"; the page polls and moves on).
func writeList(w http.ResponseWriter, title, prefix string, sweeps []SweepSummary, why string) {
	var body bytes.Buffer
	if err := list.Execute(&body, map[string]any{"Prefix": prefix, "Sweeps": sweeps, "Why": why}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	crumbs := []webui.Crumb{{Name: "Live", Href: "/live/"}}
	if prefix != "" {
		crumbs = append(crumbs, webui.Crumb{Name: prefix})
	}
	webui.Write(w, webui.Page{Title: title, Active: "Live", Crumbs: crumbs, Body: template.HTML(body.String())})
}
