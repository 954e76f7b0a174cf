package ingest

import "leakscope/ingest/dataset"

// idIndex remembers the event IDs of the most recently committed batches,
// at most about max of them, so a re-publication beyond the bus's
// duplicate window is dropped while memory stays bounded whatever the
// lake's size (issue 9). An ID evicted from it and published again is
// stored twice; the query views de-duplicate by ID, and the leakage
// matrix then counts from the texts instead of the per-file summaries.
type idIndex struct {
	max     int
	set     map[string]struct{}
	batches [][]string // oldest first
	n       int
	// complete: the index holds every ID the writer ever committed (it
	// never evicted, and loaded the whole history), so a batch it checked
	// stores no event twice; recorded as Entry.IDsChecked, it lets the
	// leakage matrix skip its duplicate check.
	complete bool
}

func newIDIndex(max int) *idIndex {
	return &idIndex{max: max, set: map[string]struct{}{}, complete: true}
}

func (x *idIndex) has(id string) bool { _, ok := x.set[id]; return ok }

// add records one committed batch's IDs and evicts the oldest batches
// beyond max (the newest batch always stays).
func (x *idIndex) add(ids []string) {
	if len(ids) == 0 {
		return
	}
	for _, id := range ids {
		x.set[id] = struct{}{}
	}
	x.batches = append(x.batches, ids)
	x.n += len(ids)
	for x.n > x.max && len(x.batches) > 1 {
		x.complete = false
		for _, id := range x.batches[0] {
			delete(x.set, id)
		}
		x.n -= len(x.batches[0])
		x.batches[0] = nil
		x.batches = x.batches[1:]
	}
}

func (x *idIndex) len() int { return len(x.set) }

// loadIDIndex reads the IDs of the newest committed batches, up to max.
func loadIDIndex(lake string, m *dataset.Manifest, max int) (*idIndex, error) {
	batches, complete, err := dataset.RecentEventIDs(lake, m, max)
	if err != nil {
		return nil, err
	}
	x := newIDIndex(max)
	for _, b := range batches {
		x.add(b)
	}
	x.complete = x.complete && complete
	return x, nil
}
