package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Review attack: --out through a symbolic link into the lake wrote the
// export's Parquet files inside the lake (the check compared the paths as
// written); --out into the JetStream store was accepted; --out "" was
// reported as "--out  is not empty". All are refused, and nothing is
// created.
func TestExportRefusesTheLakeAndStoreThroughLinks(t *testing.T) {
	data := t.TempDir()
	lake := filepath.Join(data, "lake")
	require.NoError(t, os.MkdirAll(filepath.Join(data, "jetstream"), 0o755))
	require.NoError(t, os.MkdirAll(lake, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(lake, "_manifest.jsonl"), nil, 0o644))
	elsewhere := t.TempDir()
	link := filepath.Join(elsewhere, "lakelink")
	require.NoError(t, os.Symlink(lake, link))
	dataLink := filepath.Join(elsewhere, "datalink")
	require.NoError(t, os.Symlink(data, dataLink))

	for _, c := range []struct{ lake, out, want string }{
		{lake, filepath.Join(link, "sub"), "is inside the lake"},
		{lake, filepath.Join(link, "a", "b"), "is inside the lake"},
		{lake, link, "is inside the lake"},
		{filepath.Join(dataLink, "lake"), filepath.Join(lake, "x"), "is inside the lake"},
		{lake, filepath.Join(data, "jetstream", "x"), "is inside the JetStream store"},
		{lake, filepath.Join(dataLink, "jetstream"), "is inside the JetStream store"},
		{lake, "", "--out is empty: name the folder to write"},
	} {
		err := exportLake(context.Background(), c.lake, c.out, "", io.Discard)
		require.ErrorContains(t, err, c.want, c.out)
	}
	for _, p := range []string{filepath.Join(lake, "sub"), filepath.Join(lake, "a"), filepath.Join(lake, "x"), filepath.Join(data, "jetstream", "x")} {
		require.NoDirExists(t, p)
	}
}
