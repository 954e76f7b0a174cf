package importer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"leakscope/events"
	"leakscope/events/marker"
)

// DefaultMarker is the #81 marker (EXPERIMENT.md §1.1), used when nothing
// names another.
const DefaultMarker = "[ZLT]"

// markerResolver infers each file's marker (when Options.Marker is empty),
// in this order:
//  1. the file's own `config.marker`;
//  2. `config.marker` of another JSON file in the same folder (the same run:
//     issue_205's raw_completions.json takes it from marker_eval.json);
//  3. `training.marker`, whitespace-trimmed, of a JSON file in the same folder,
//     the file itself included (proximity_transfer: "\n\n[PROX]" → "[PROX]");
//  4. DefaultMarker, origin "default".
//
// Disagreeing markers at one step are an error. Folder scans are cached.
type markerResolver struct {
	override string
	dirs     map[string]dirMarkers
}

type foundMarker struct{ marker, file string }

type dirMarkers struct{ config, training []foundMarker }

func newMarkerResolver(override string) *markerResolver {
	return &markerResolver{override: override, dirs: map[string]dirMarkers{}}
}

// resolve returns the marker and its origin for the JSON file at loc whose
// decoded content is top.
func (r *markerResolver) resolve(loc location, top jv) (string, string, error) {
	if r.override != "" {
		return r.override, "Options.Marker override", nil
	}
	if cfg := top.get("config"); cfg.isObj() && cfg.has("marker") {
		m, err := cfg.get("marker").str()
		if err != nil {
			return "", "", err
		}
		if strings.TrimSpace(m) == "" {
			return "", "", errAt(cfg.get("marker").path, "is empty")
		}
		return m, "config.marker in " + filepath.Base(loc.Abs), nil
	}
	d := r.scan(filepath.Dir(loc.Abs))
	for _, step := range []struct {
		list []foundMarker
		what string
	}{{d.config, "config.marker in %s (same folder)"}, {d.training, "training.marker in %s (same folder, whitespace trimmed)"}} {
		others := step.list
		if len(others) == 0 {
			continue
		}
		for _, f := range others[1:] {
			if f.marker != others[0].marker {
				return "", "", fmt.Errorf("ambiguous marker: %s says %q, %s says %q (pass Options.Marker)", others[0].file, others[0].marker, f.file, f.marker)
			}
		}
		return others[0].marker, fmt.Sprintf(step.what, others[0].file), nil
	}
	return DefaultMarker, "default (no config.marker or training.marker in the file or its folder)", nil
}

// fixed is for formats that do not store the marker but whose recipe fixes it.
func (r *markerResolver) fixed(m, origin string) (string, string) {
	if r.override != "" {
		return r.override, "Options.Marker override"
	}
	return m, origin
}

// scan reads the top-level config.marker and training.marker of every JSON
// object file in dir. Unreadable or invalid files are ignored here (Parse
// reports them when they are among its inputs).
func (r *markerResolver) scan(dir string) dirMarkers {
	if d, ok := r.dirs[dir]; ok {
		return d
	}
	var d dirMarkers
	entries, _ := os.ReadDir(dir)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.EqualFold(filepath.Ext(e.Name()), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(data, &top) != nil {
			continue
		}
		var sub struct {
			Marker *string `json:"marker"`
		}
		if raw, ok := top["config"]; ok && json.Unmarshal(raw, &sub) == nil && sub.Marker != nil && strings.TrimSpace(*sub.Marker) != "" {
			d.config = append(d.config, foundMarker{*sub.Marker, e.Name()})
		}
		sub.Marker = nil
		if raw, ok := top["training"]; ok && json.Unmarshal(raw, &sub) == nil && sub.Marker != nil && strings.TrimSpace(*sub.Marker) != "" {
			d.training = append(d.training, foundMarker{strings.TrimSpace(*sub.Marker), e.Name()})
		}
	}
	r.dirs[dir] = d
	return d
}

// detectors are the detectors whose hits every imported completion carries
// (EXPERIMENT.md §2.2), in this order.
var detectors = []string{marker.Strict, marker.CaseSensitive, marker.Loose}

// detectAll returns the hits of m in text from every detector; never nil.
func detectAll(m, text string) []events.MarkerHit {
	hits := []events.MarkerHit{}
	for _, name := range detectors {
		d, err := marker.Get(name)
		if err != nil {
			panic(err) // the names above are marker's own constants
		}
		hits = append(hits, d.Detect(m, text)...)
	}
	return hits
}

// strictHit reports whether the strict detector finds m in text.
func strictHit(m, text string) bool {
	d, _ := marker.Get(marker.Strict)
	return d.Hit(m, text)
}
