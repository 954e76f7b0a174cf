package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"leakscope/events"
)

// Stored reports which of the wanted event IDs the events stream already
// holds on subject (e.g. every completion subject of one experiment). A
// worker resuming a run asks it before sampling, so no completion is
// published twice. It reads message headers only (Nats-Msg-Id), from the
// first message until none is pending.
func (b *Bus) Stored(ctx context.Context, subject string, wanted map[string]bool) (map[string]bool, error) {
	found := map[string]bool{}
	if len(wanted) == 0 {
		return found, nil
	}
	st, err := b.JS.Stream(ctx, EventsStream)
	if err != nil {
		return nil, fmt.Errorf("stored events on %s: %w", subject, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return nil, fmt.Errorf("stored events on %s: %w", subject, err)
	}
	if info.State.Subjects[subject] == 0 {
		return found, nil
	}
	cons, err := b.JS.OrderedConsumer(ctx, EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy, HeadersOnly: true})
	if err != nil {
		return nil, fmt.Errorf("stored events on %s: %w", subject, err)
	}
	for {
		batch, err := cons.Fetch(1024, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("stored events on %s: %w", subject, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if id := m.Headers().Get(jetstream.MsgIDHeader); wanted[id] {
				found[id] = true
			}
			md, err := m.Metadata()
			if err == nil && md.NumPending == 0 {
				return found, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("stored events on %s: %w", subject, err)
		}
		if got == 0 {
			return found, nil // nothing more within the wait
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// CompletionSubject is the subject of an experiment's completions.
func CompletionSubject(experiment string) string {
	return fmt.Sprintf("%s.%s.%s", events.SubjectPrefix, experiment, events.TypeCompletion)
}
