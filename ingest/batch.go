package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"leakscope/events"
	"leakscope/ingest/dataset"
)

// commit turns one batch of messages into committed lake files, then acks.
// Order matters for durability: files renamed and fsynced, manifest line
// fsynced, dead letters published, and only then acknowledgements.
func (in *Ingester) commit(ctx context.Context, msgs []jetstream.Msg, dlq deadLetterer) (err error) {
	now := time.Now().UTC()
	type part struct{ table, experiment string }
	parts := map[part][]dataset.Row{}
	batchIDs := map[string]struct{}{}
	counts := dataset.NewCellCounter()
	batchMarkers := map[string]string{}
	var dead []jetstream.Msg
	// Checked against every ID this writer committed, if the index still
	// holds them all (the leakage matrix then needs no duplicate check).
	entry := dataset.Entry{FirstSeq: ^uint64(0), IDsChecked: in.ids.complete}
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("message metadata: %w", err)
		}
		seq := md.Sequence.Stream
		entry.FirstSeq, entry.LastSeq = min(entry.FirstSeq, seq), max(entry.LastSeq, seq)
		// The same check the live view applies (bus.Subscribe), so the two
		// never count different events.
		e, err := events.DecodeMessage(m.Subject(), m.Data())
		if err != nil {
			dl := deadLetter(m, seq, err, now)
			if err := dlq.PublishDeadLetter(ctx, classOf(dl), m.Subject(), seq, m.Data(), dl.Reason); err != nil {
				if !errors.Is(err, nats.ErrMaxPayload) && md.NumDelivered < MaxDeadLetterTries {
					return err // the dead-letter stream may come back: retry the batch
				}
				// One message must not stop the stream: its dead_letters
				// row, committed below, is the record (the original stays
				// in the events stream at its sequence).
				dl.StreamError = err.Error()
				in.metrics.deadLetterStreamFailures.Inc()
				in.log.Error("dead letter kept in the lake only: the dead-letter stream refused it", "seq", seq, "subject", m.Subject(),
					"bytes", len(m.Data()), "deliveries", md.NumDelivered, "err", err)
			}
			k := part{dataset.TableDeadLetters, dl.Experiment}
			parts[k] = append(parts[k], dl.Row())
			dead = append(dead, m)
			entry.DeadLetters++
			continue
		}
		if in.ids.has(e.ID) {
			entry.Duplicates++
			continue
		}
		if _, ok := batchIDs[e.ID]; ok {
			entry.Duplicates++
			continue
		}
		rows, err := dataset.Rows(e, dataset.Meta{StreamSeq: seq, IngestedAt: now})
		if err != nil {
			return err
		}
		batchIDs[e.ID] = struct{}{}
		entry.Events++
		switch p := e.Payload.(type) {
		case *events.Run:
			if k := e.Experiment + "/" + e.RunID; in.markers[k] == "" && batchMarkers[k] == "" {
				batchMarkers[k] = p.Marker
			}
		case *events.Completion:
			counts.Add(e, p, in.markerOf(e.Experiment+"/"+e.RunID, batchMarkers))
		}
		for table, rs := range rows {
			k := part{table, e.Experiment}
			parts[k] = append(parts[k], rs...)
		}
	}
	// The summaries of this batch's completions files, committed with them.
	for exp, rows := range counts.Rows(dataset.FileName(entry.FirstSeq, entry.LastSeq, now, in.cfg.Writer), entry.LastSeq, now) {
		parts[part{dataset.TableCellCounts, exp}] = rows
	}
	keys := make([]part, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].table+"/"+keys[i].experiment < keys[j].table+"/"+keys[j].experiment
	})
	defer func() {
		// Not committed: take back what this batch wrote — unless the
		// manifest is in doubt (its line may be on disk): reopening decides.
		if err != nil && in.manifest.Broken() == nil {
			for _, fe := range entry.Files {
				os.Remove(filepath.Join(in.cfg.Lake, fe.Path))
			}
		}
	}()
	for _, k := range keys {
		t, _ := dataset.TableByName(k.table)
		rel := dataset.Partition(k.table, k.experiment) + "/" + dataset.FileName(entry.FirstSeq, entry.LastSeq, now, in.cfg.Writer)
		if err := in.write(in.cfg.Lake, rel, t, parts[k]); err != nil {
			return err
		}
		entry.Files = append(entry.Files, dataset.FileEntry{Path: rel, Table: k.table, Experiment: k.experiment, Rows: len(parts[k])})
	}
	if len(entry.Files) > 0 {
		entry.CommittedAt = now
		if err := in.manifest.Commit(entry); err != nil {
			return err
		}
	}
	ids := make([]string, 0, len(batchIDs))
	for id := range batchIDs {
		ids = append(ids, id)
	}
	in.ids.add(ids)
	for k, m := range batchMarkers {
		in.markers[k] = m
	}
	deadSet := map[jetstream.Msg]bool{}
	for _, m := range dead {
		deadSet[m] = true
	}
	for _, m := range msgs {
		var err error
		if deadSet[m] {
			err = m.Term() // rejected for good: no redelivery loop
		} else {
			err = m.Ack()
		}
		if err != nil {
			// Redelivery is harmless: the IDs are committed now.
			in.log.Warn("ack failed; message will be redelivered and dropped as duplicate", "err", err)
		}
	}
	in.stats.Batches++
	in.metrics.batches.Inc()
	in.metrics.batchEvents.Observe(float64(len(msgs)))
	in.metrics.events.WithLabelValues("committed").Add(float64(entry.Events))
	in.metrics.events.WithLabelValues("duplicate").Add(float64(entry.Duplicates))
	in.metrics.events.WithLabelValues("dead_letter").Add(float64(entry.DeadLetters))
	in.stats.Events += entry.Events
	in.stats.Duplicates += entry.Duplicates
	in.stats.DeadLetters += entry.DeadLetters
	in.stats.Files += len(entry.Files)
	in.log.Debug("batch committed", "messages", len(msgs), "events", entry.Events, "duplicates", entry.Duplicates,
		"dead_letters", entry.DeadLetters, "files", len(entry.Files), "seq", fmt.Sprintf("%d-%d", entry.FirstSeq, entry.LastSeq))
	return nil
}

// MaxDeadLetterTries is how many deliveries of a rejected message ingest
// tries to copy it to the dead-letter stream before it commits the
// dead_letters row alone (with stream_error) so the stream moves on.
const MaxDeadLetterTries = 5

// deadLetter describes a rejected message, reading what it can of the
// envelope so the row lands in its experiment's partition when possible.
func deadLetter(m jetstream.Msg, seq uint64, reason error, now time.Time) dataset.DeadLetter {
	var env struct {
		Type       string `json:"type"`
		ID         string `json:"id"`
		Experiment string `json:"experiment"`
		RunID      string `json:"run_id"`
	}
	_ = json.Unmarshal(m.Data(), &env)
	exp := env.Experiment
	if !events.ValidExperiment(exp) {
		exp = dataset.InvalidPartition
	}
	return dataset.DeadLetter{StreamSeq: seq, Subject: m.Subject(), EventID: env.ID, EventType: env.Type, Experiment: exp,
		RunID: env.RunID, Reason: reason.Error(), Raw: m.Data(), ReceivedAt: now}
}

// classOf is the dead-letter subject token: the event type when it is a
// known one, else "invalid".
func classOf(d dataset.DeadLetter) string {
	for _, t := range events.Types {
		if string(t) == d.EventType {
			return d.EventType
		}
	}
	return "invalid"
}
