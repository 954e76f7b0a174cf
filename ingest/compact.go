package ingest

import (
	"context"
	"time"

	"leakscope/ingest/dataset"
)

// compactIdle merges some of the writer's small files (dataset.Compact,
// within Config.Compact.Budget) when a fetch found the stream idle: a
// sweep's batches leave thousands of small files that every later query
// pays for (issue 9). It runs in the goroutine that commits batches (the
// manifest is not shared) and never fails ingest: an error is logged and
// the next look waits CompactEvery.
func (in *Ingester) compactIdle(ctx context.Context) {
	if in.cfg.CompactEvery < 0 || time.Now().Before(in.nextCompact) {
		return
	}
	start := time.Now()
	res, err := dataset.Compact(ctx, in.cfg.Lake, in.manifest, in.cfg.Compact)
	if res.Groups > 0 {
		in.metrics.compactedFiles.Add(float64(res.FilesIn))
		in.log.Info("compacted small files", "merged", res.FilesIn, "into", res.FilesOut,
			"mib_in", res.BytesIn>>20, "mib_out", res.BytesOut>>20, "took", time.Since(start).Round(time.Millisecond))
	}
	if rerr := in.reopenIfInDoubt(); rerr != nil {
		in.log.Error("compaction left the manifest in doubt", "err", rerr)
	}
	if len(res.Left) > 0 {
		in.log.Warn("merged files could not be deleted; the next start deletes them", "files", res.Left)
	}
	switch {
	case err != nil && ctx.Err() == nil:
		in.log.Error("compaction left some small files as they were (committed, readable)", "err", err)
		in.nextCompact = time.Now().Add(in.cfg.CompactEvery)
	case res.Groups == 0:
		in.nextCompact = time.Now().Add(in.cfg.CompactEvery)
	}
}
