// Package datasettest writes events straight into a lake's table folders,
// as ingest would store them, for tests of readers (query, figures, web)
// that need a lake without a bus.
package datasettest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/ingest/dataset"
)

// Lake writes events of one experiment and run into lake, one file per
// event and table, with stream sequences 1, 2, … in the order stored.
type Lake struct {
	T          *testing.T
	Dir        string
	Experiment string
	Run        string
	At         time.Time // event and ingest time of every event
	seq        uint64
}

// Store writes p as the next event; it fails the test on any error.
func (l *Lake) Store(p events.Payload) {
	l.T.Helper()
	l.seq++
	e, err := events.New(l.Experiment, l.Run, l.At, p)
	require.NoError(l.T, err)
	rows, err := dataset.Rows(e, dataset.Meta{StreamSeq: l.seq, IngestedAt: l.At})
	require.NoError(l.T, err)
	for name, rs := range rows {
		tb, _ := dataset.TableByName(name)
		rel := filepath.Join(dataset.Partition(tb.Name, l.Experiment), dataset.FileName(l.seq, l.seq, l.At, ""))
		require.NoError(l.T, dataset.WriteFile(l.Dir, rel, tb, rs))
	}
}
