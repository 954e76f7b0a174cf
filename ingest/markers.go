package ingest

import (
	"fmt"
	"os"
	"path/filepath"

	"leakscope/ingest/dataset"
)

// markerOf returns the marker of a run for the cell_counts summaries.
// With several writers (Config.Writer) a run's run_started may be
// committed by another replica after this one opened the lake: when a run
// is unknown, the manifests are read again, but only if one of them grew
// since the last look, so a run that truly lacks run_started costs one
// stat per manifest per batch. A marker still unknown leaves the summary
// without one, and the query scans the texts instead (never a wrong count).
func (in *Ingester) markerOf(key string, batch map[string]string) string {
	if m := in.markers[key]; m != "" {
		return m
	}
	if m := batch[key]; m != "" {
		return m
	}
	if err := in.refreshMarkers(); err != nil {
		in.log.Warn("read other writers' run markers", "err", err)
	}
	return in.markers[key]
}

func (in *Ingester) refreshMarkers() error {
	paths, err := filepath.Glob(filepath.Join(in.cfg.Lake, "_manifest*.jsonl"))
	if err != nil {
		return err
	}
	var sig string
	for _, p := range paths {
		if filepath.Base(p) == dataset.ManifestFile(in.cfg.Writer) {
			continue // ours: in.markers already holds what it committed
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		sig += fmt.Sprintf("%s:%d;", p, st.Size())
	}
	if sig == in.markersSeen {
		return nil
	}
	all, err := dataset.RunMarkers(in.cfg.Lake)
	if err != nil {
		return err
	}
	for k, m := range all {
		if in.markers[k] == "" {
			in.markers[k] = m
		}
	}
	in.markersSeen = sig
	return nil
}
