package live

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"time"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("live").Parse(pageHTML))

// SSEInterval is how often the event stream re-sends the state when
// nothing changed (so worker stalls and the rate stay current).
const SSEInterval = 500 * time.Millisecond

// Handler serves, for a sweep S:
//
//	GET /live/           the sweeps seen (JSON)
//	GET /live/S          the live page (HTML, no external resources)
//	GET /live/S/state    the current Snapshot (JSON)
//	GET /live/S/events   Server-Sent Events: a Snapshot on every change, and every 500 ms
func Handler(a *Aggregator) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /live/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"sweeps": a.Sweeps()})
	})
	mux.HandleFunc("GET /live/{sweep}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, map[string]string{"Sweep": r.PathValue("sweep")})
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
			if err := json.NewEncoder(&buf).Encode(a.Snapshot(sweep)); err != nil {
				return
			}
			buf.WriteString("\n")
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			fl.Flush()
			select {
			case <-r.Context().Done():
				return
			case <-changed:
			case <-t.C:
			}
		}
	})
	return mux
}
