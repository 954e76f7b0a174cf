// Package bus is leakscope's only JetStream adapter: it declares the events
// and dead-letter streams, publishes events with their ID as Nats-Msg-Id,
// and hands ingest its durable consumer. It can also start the embedded
// NATS server that makes one machine work out of the box.
package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"leakscope/events"
)

// Stream and consumer names.
const (
	EventsStream     = "LEAKSCOPE_EVENTS"
	DeadLetterStream = "LEAKSCOPE_DLQ"
	IngestConsumer   = "ingest"
)

// Headers set on dead letters.
const (
	HeaderReason          = "Leakscope-Reason"
	HeaderOriginalSubject = "Leakscope-Original-Subject"
	HeaderOriginalSeq     = "Leakscope-Original-Seq"
	// HeaderRawSize and HeaderRawSHA256 describe the original body (bytes;
	// hex SHA-256); HeaderRawTruncated, present only when the body was cut
	// to fit the max payload, is how many of its first bytes the dead letter
	// keeps.
	HeaderRawSize      = "Leakscope-Raw-Size"
	HeaderRawSHA256    = "Leakscope-Raw-Sha256"
	HeaderRawTruncated = "Leakscope-Raw-Truncated"
)

// ConnectPatience is how long Connect keeps trying a server that refuses
// the first connection (one that is restarting).
var ConnectPatience = 10 * time.Second

// Redact hides a password in a NATS URL for messages.
func Redact(url string) string {
	if i, j := strings.Index(url, "://"), strings.LastIndex(url, "@"); i >= 0 && j > i {
		if k := strings.Index(url[i+3:j], ":"); k >= 0 {
			return url[:i+3+k+1] + "***" + url[j:]
		}
	}
	return url
}

// UnreachableAfter is how long WaitDurable keeps trying a server that does
// not answer before it gives up with an error.
var UnreachableAfter = 30 * time.Second

// ErrNoIngest is returned by WaitDurable when no ingest consumer exists.
// ErrIngestMode is returned by IngestConsumer when an unnamed ingest and
// named ingest writers (SharedIngest) would consume one bus together:
// they would split the stream between lakes and reset each other's
// deliveries.
var ErrIngestMode = errors.New("bus: ingest mode conflict")

// ingestModeKey is the ingest consumer's metadata key saying whether named
// writers share it ("shared") or one unnamed ingest owns it ("single").
const ingestModeKey = "leakscope_ingest"

var ErrNoIngest = errors.New("bus: no ingest consumer: start `leakscope up` or `leakscope ingest` against this server")

// Config declares the streams. Zero values take DefaultConfig's.
type Config struct {
	// DuplicateWindow is how long the server remembers Nats-Msg-Ids; older
	// duplicates are dropped by ingest instead.
	DuplicateWindow time.Duration
	// Replicas of each stream (1 on one machine, 3 on a cluster).
	Replicas int
	// SharedIngest says several ingest processes (writers) share the
	// ingest consumer: IngestConsumer then never resets it, since pending
	// deliveries may be a live sibling's; a dead one's come again after the
	// AckWait (30 s).
	SharedIngest bool
}

// DefaultConfig is one machine's configuration.
func DefaultConfig() Config { return Config{DuplicateWindow: 10 * time.Minute, Replicas: 1} }

// Bus is a connection with the streams declared.
type Bus struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	cfg Config
}

// Connect dials url (or uses opts such as nats.InProcessServer with url "")
// and declares the streams. Replies (JetStream API answers, pulled
// messages) arrive under InboxPrefix(url).
func Connect(ctx context.Context, url string, cfg Config, opts ...nats.Option) (*Bus, error) {
	if cfg.DuplicateWindow == 0 {
		cfg.DuplicateWindow = DefaultConfig().DuplicateWindow
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	// Replies come to the user's own inbox prefix (InboxPrefix).
	opts = append([]nats.Option{nats.Name("leakscope"), nats.MaxReconnects(-1), nats.CustomInboxPrefix(InboxPrefix(url))}, opts...)
	// A server that is restarting refuses connections for a moment: keep
	// trying the first connection for up to ConnectPatience.
	var nc *nats.Conn
	var err error
	for start := time.Now(); ; {
		if nc, err = nats.Connect(url, opts...); err == nil {
			break
		}
		if time.Since(start) > ConnectPatience || ctx.Err() != nil {
			return nil, fmt.Errorf("connect to NATS %s: %w", Redact(url), err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	b := &Bus{NC: nc, JS: js, cfg: cfg}
	// A cluster that is still electing its JetStream leader answers "not
	// available" for a few seconds: retry for up to 30 s.
	deadline := time.Now().Add(30 * time.Second)
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := b.ensureStreams(actx)
		cancel()
		if err == nil {
			return b, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			nc.Close()
			// A user that may not declare streams gets no answer at all
			// (deploy/accounts.conf: worker, query): say what to do.
			return nil, fmt.Errorf("%w (the streams are declared by ingest or the admin user: start leakscope-ingest, or leakscope up, against this server first)", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (b *Bus) ensureStreams(ctx context.Context) error {
	for _, sc := range b.streamConfigs() {
		// Look first: a restricted user (a worker) may see the streams but
		// not declare them, and a declared stream is left as it is.
		if _, err := b.JS.Stream(ctx, sc.Name); err == nil {
			continue
		} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("look up stream %s: %w", sc.Name, err)
		}
		if _, err := b.JS.CreateStream(ctx, sc); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("declare stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

func (b *Bus) streamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{Name: EventsStream, Description: "leakscope events: the source of truth", Subjects: []string{events.SubjectAll},
			Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy, Duplicates: b.cfg.DuplicateWindow, Replicas: b.cfg.Replicas},
		{Name: DeadLetterStream, Description: "leakscope events that failed validation, with the reason", Subjects: []string{events.DeadLetterAll},
			Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy, Replicas: b.cfg.Replicas},
	}
}

// Close drains nothing and closes the connection.
func (b *Bus) Close() { b.NC.Close() }

// Replicas is the replica count this bus declares streams with; the other
// stores a process declares (the job queue's) use it too.
func (b *Bus) Replicas() int { return b.cfg.Replicas }

// Publish sends one event with its ID as Nats-Msg-Id and returns the stream
// sequence (of the original when the server reports a duplicate).
func (b *Bus) Publish(ctx context.Context, e events.Event) (*jetstream.PubAck, error) {
	data, err := events.Encode(e)
	if err != nil {
		return nil, err
	}
	ack, err := b.JS.PublishMsg(ctx, &nats.Msg{Subject: events.Subject(e), Data: data}, jetstream.WithMsgID(e.ID))
	if err != nil {
		return nil, fmt.Errorf("publish %s %s: %w", e.Type, e.ID, err)
	}
	return ack, nil
}

// PublishResult summarises PublishAll.
type PublishResult struct {
	Published  int
	Duplicates int    // already in the stream (inside the duplicate window)
	LastSeq    uint64 // highest stream sequence among the acks
}

// PublishAll publishes events asynchronously, in order, waiting for every
// acknowledgement; progress (may be nil) is called with the count acked.
func (b *Bus) PublishAll(ctx context.Context, evs []events.Event, progress func(done int)) (PublishResult, error) {
	var res PublishResult
	const window = 1024
	for start := 0; start < len(evs); start += window {
		end := min(start+window, len(evs))
		futures := make([]jetstream.PubAckFuture, 0, end-start)
		msgs := make([]*nats.Msg, 0, end-start)
		for _, e := range evs[start:end] {
			data, err := events.Encode(e)
			if err != nil {
				return res, err
			}
			m := &nats.Msg{Subject: events.Subject(e), Data: data}
			f, err := b.JS.PublishMsgAsync(m, jetstream.WithMsgID(e.ID))
			if err != nil {
				return res, fmt.Errorf("publish %s %s: %w", e.Type, e.ID, err)
			}
			futures, msgs = append(futures, f), append(msgs, m)
		}
		// One stall timer per window, reset by every acknowledgement: acks
		// lost while a cluster elects a new stream leader never arrive, and
		// waiting for each in turn would stall a window of them for hours.
		stall := time.NewTimer(asyncAckWait)
		stalled := false
		for i, f := range futures {
			e := evs[start+i]
			var ack *jetstream.PubAck
			if !stalled {
				select {
				case ack = <-f.Ok():
					stall.Reset(asyncAckWait)
				case err := <-f.Err():
					stall.Stop()
					return res, fmt.Errorf("publish %s %s: %w", e.Type, e.ID, err)
				case <-ctx.Done():
					stall.Stop()
					return res, ctx.Err()
				case <-stall.C:
					stalled = true
				}
			}
			if stalled {
				select {
				case ack = <-f.Ok():
				default:
					// Publish again, synchronously: the message ID makes a
					// repeat of a stored message a duplicate.
					var err error
					if ack, err = b.republish(ctx, msgs[i], e.ID); err != nil {
						return res, fmt.Errorf("publish %s %s: %w", e.Type, e.ID, err)
					}
				}
			}
			res.Published++
			if ack.Duplicate {
				res.Duplicates++
			}
			res.LastSeq = max(res.LastSeq, ack.Sequence)
		}
		if progress != nil {
			progress(res.Published)
		}
		stall.Stop()
	}
	return res, nil
}

// asyncAckWait is how long PublishAll waits without any acknowledgement
// before it publishes the window's unacknowledged messages again.
var asyncAckWait = 10 * time.Second

// republish sends m again until acknowledged or ctx ends.
func (b *Bus) republish(ctx context.Context, m *nats.Msg, id string) (*jetstream.PubAck, error) {
	for {
		c, cancel := context.WithTimeout(ctx, asyncAckWait)
		ack, err := b.JS.PublishMsg(c, &nats.Msg{Subject: m.Subject, Data: m.Data}, jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return ack, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last try: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// PublishDeadLetter stores a rejected message on the dead-letter stream with
// its reason, original subject and sequence as headers, and the SHA-256
// (hex) and size (bytes) of the original body. A dead letter always fits the
// server's max payload: a body too large to travel with the headers is cut
// (at most the max payload less the headers is kept) and
// HeaderRawTruncated says how many bytes were kept; a reason longer than
// MaxReasonHeader bytes is cut too. The original stays in the events stream
// at HeaderOriginalSeq. An error wrapping nats.ErrMaxPayload means it could
// not fit even so (a server max payload smaller than the headers).
func (b *Bus) PublishDeadLetter(ctx context.Context, class string, origSubject string, origSeq uint64, data []byte, reason string) error {
	msg := nats.NewMsg(events.DeadLetterPrefix + "." + class)
	sum := sha256.Sum256(data)
	msg.Header.Set(HeaderReason, headerText(reason, MaxReasonHeader))
	msg.Header.Set(HeaderOriginalSubject, origSubject)
	msg.Header.Set(HeaderOriginalSeq, fmt.Sprint(origSeq))
	msg.Header.Set(HeaderRawSize, fmt.Sprint(len(data)))
	msg.Header.Set(HeaderRawSHA256, hex.EncodeToString(sum[:]))
	// The original sequence makes a re-rejection after a crash a duplicate.
	msg.Header.Set(nats.MsgIdHdr, fmt.Sprintf("dlq-%d", origSeq))
	limit := int(b.NC.MaxPayload())
	if over := msg.Size() - len(msg.Subject) + len(data) - limit; over > 0 {
		msg.Header.Set(HeaderRawTruncated, fmt.Sprint(len(data))) // widest value it can take
		keep := max(0, limit-(msg.Size()-len(msg.Subject)))
		msg.Header.Set(HeaderRawTruncated, fmt.Sprint(keep))
		data = data[:min(keep, len(data))]
	}
	msg.Data = data
	if _, err := b.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish dead letter for seq %d (%d bytes with headers, max payload %d): %w", origSeq, msg.Size()-len(msg.Subject), limit, err)
	}
	return nil
}

// MaxReasonHeader bounds the reason header of a dead letter, in bytes: a
// reason may quote the rejected value, which can be megabytes long.
const MaxReasonHeader = 2048

// headerText makes s one header line of at most n bytes: line breaks become
// spaces (they would end the header) and a longer text is cut at a rune
// boundary, saying so.
func headerText(s string, n int) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= n {
		return s
	}
	const more = " … (cut; the full reason is in the dead_letters table)"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// MaxPayload is the largest message (body plus headers, bytes) the server
// accepts: 8 MiB for the embedded server, max_payload in a server's
// configuration (1 MiB by default, as in deploy/nats.conf).
func (b *Bus) MaxPayload() int64 { return b.NC.MaxPayload() }

// MessageSize is how many bytes of the max payload e takes when published:
// its JSON body plus the Nats-Msg-Id header.
func MessageSize(e events.Event) (int, error) {
	data, err := events.Encode(e)
	if err != nil {
		return 0, err
	}
	m := nats.NewMsg(events.Subject(e))
	m.Header.Set(nats.MsgIdHdr, e.ID)
	m.Data = data
	return m.Size() - len(m.Subject), nil
}

// IngestConsumer creates or binds the durable pull consumer ingest reads.
// Call it only from the process that holds the lake lock: if the consumer
// still has deliveries pending, their ingest died, so delivery restarts
// just after the ack floor instead of waiting out AckWait (anything acked
// above the floor comes again and is dropped by event ID). With
// SharedIngest it never resets, and the consumer is marked shared; an
// unnamed ingest then refuses it, as named writers refuse one an unnamed
// ingest is using (ErrIngestMode).
func (b *Bus) IngestConsumer(ctx context.Context) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable: IngestConsumer, Description: "writes every event to the Parquet lake",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: 50000,
		DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubject: events.SubjectAll,
	}
	mode := map[bool]string{true: "shared", false: "single"}[b.cfg.SharedIngest]
	cfg.Metadata = map[string]string{ingestModeKey: mode}
	if c, err := b.JS.Consumer(ctx, EventsStream, IngestConsumer); err == nil {
		info, err := c.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("read ingest consumer: %w", err)
		}
		have := info.Config.Metadata[ingestModeKey] // "" before modes existed: single
		switch {
		case have == "shared" && !b.cfg.SharedIngest:
			return nil, fmt.Errorf("%w: named ingest writers (--writer) share this bus's ingest consumer; an unnamed ingest would take part of the stream into another lake and reset their deliveries: run it with --writer NAME on their lake, or use another bus", ErrIngestMode)
		case have != "shared" && b.cfg.SharedIngest && info.NumAckPending > 0:
			return nil, fmt.Errorf("%w: an unnamed ingest is consuming this bus (%d deliveries in flight): stop it before starting named writers (--writer)", ErrIngestMode, info.NumAckPending)
		case have != "shared" && b.cfg.SharedIngest:
			up := info.Config
			up.Metadata = map[string]string{ingestModeKey: "shared"}
			if c, err = b.JS.UpdateConsumer(ctx, EventsStream, up); err != nil {
				return nil, fmt.Errorf("mark the ingest consumer shared: %w", err)
			}
			return c, nil
		}
		if info.NumAckPending == 0 || b.cfg.SharedIngest {
			return c, nil
		}
		if err := b.JS.DeleteConsumer(ctx, EventsStream, IngestConsumer); err != nil {
			return nil, fmt.Errorf("reset ingest consumer: %w", err)
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, info.AckFloor.Stream+1
	}
	c, err := b.JS.CreateOrUpdateConsumer(ctx, EventsStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("declare ingest consumer: %w", err)
	}
	return c, nil
}

// IngestLag says how far ingest is behind the stream: messages of the
// ingest consumer not yet delivered (pending) and delivered but not yet
// acknowledged, i.e. not yet committed to the lake (ackPending).
func (b *Bus) IngestLag(ctx context.Context) (pending uint64, ackPending int, err error) {
	c, err := b.JS.Consumer(ctx, EventsStream, IngestConsumer)
	if err != nil {
		return 0, 0, fmt.Errorf("ingest consumer: %w", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("ingest consumer: %w", err)
	}
	return info.NumPending, info.NumAckPending, nil
}

// WaitDurable blocks until the ingest consumer has acknowledged every
// message up to seq, i.e. until ingest has committed them to the lake (or
// dead-lettered them). progress (may be nil) gets the ack floor.
func (b *Bus) WaitDurable(ctx context.Context, seq uint64, progress func(floor uint64)) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	// An ingest that is starting may be re-creating its consumer; a server
	// that went away must not leave the caller waiting in silence.
	lastOK, floor := time.Now(), uint64(0)
	var lastErr error
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := b.JS.Consumer(rctx, EventsStream, IngestConsumer)
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = c.Info(rctx)
		}
		cancel()
		switch {
		case err == nil:
			lastOK, floor = time.Now(), info.AckFloor.Stream
			if progress != nil {
				progress(floor)
			}
			if floor >= seq {
				return nil
			}
		case errors.Is(err, jetstream.ErrConsumerNotFound) && time.Since(lastOK) > 5*time.Second:
			return ErrNoIngest
		case !errors.Is(err, jetstream.ErrConsumerNotFound):
			lastErr = err
			if time.Since(lastOK) > UnreachableAfter {
				return fmt.Errorf("wait for ingest (acked %d of %d): NATS unreachable for %s (connection %s): %w",
					floor, seq, UnreachableAfter, b.NC.Status(), lastErr)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for ingest (acked %d of %d): %w", floor, seq, ctx.Err())
		case <-t.C:
		}
	}
}

// Subscribe delivers every valid event of the events stream to fn, in
// stream order, from the first message on (so a subscriber that restarts
// rebuilds its state from the log), then live as events are published. It
// uses an ordered, ephemeral consumer and returns when ctx ends. Messages
// that are invalid (events.DecodeMessage, the check ingest applies) are
// skipped: ingest dead-letters them, so live counts and the lake agree.
func (b *Bus) Subscribe(ctx context.Context, fn func(e events.Event, seq uint64)) error {
	return b.SubscribeSubject(ctx, events.SubjectAll, fn)
}

// SubscribeSubject is Subscribe for the events on one subject (e.g. one
// experiment's stop decisions).
func (b *Bus) SubscribeSubject(ctx context.Context, subject string, fn func(e events.Event, seq uint64)) error {
	cons, err := b.JS.OrderedConsumer(ctx, EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", EventsStream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		e, err := events.DecodeMessage(m.Subject(), m.Data())
		if err != nil {
			return
		}
		var seq uint64
		if md, err := m.Metadata(); err == nil {
			seq = md.Sequence.Stream
		}
		fn(e, seq)
	})
	if err != nil {
		return fmt.Errorf("consume %s: %w", EventsStream, err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

// TooLarge reports whether err is the server refusing a message over its
// max payload: retrying cannot help, so publishers stop at once.
func TooLarge(err error) bool { return errors.Is(err, nats.ErrMaxPayload) }
