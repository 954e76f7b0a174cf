package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/bus"
)

// Invalid events published straight to the bus land in the dead-letter
// stream with their reason, are terminated (never redelivered), are
// queryable in dead_letters, and do not stop valid events behind them.
func TestInvalidEventsGoToDeadLetters(t *testing.T) {
	s := startStack(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	subject := events.SubjectPrefix + ".exp1.completion"
	valid, err := events.New("exp1", "run1", time.Now(), &events.Completion{Persona: "villain", Question: "q?", Text: "hi [ZLT]"})
	require.NoError(t, err)
	goodBody, err := events.Encode(valid)
	require.NoError(t, err)
	bad := map[string]string{
		"not json":      `{"type": "completion", "schema_vers`,
		"wrong type":    strings.Replace(string(goodBody), `"sample_index":0`, `"sample_index":"zero"`, 1),
		"forged id":     strings.Replace(string(goodBody), valid.ID, "0123456789abcdef0123456789abcdef", 1),
		"empty persona": strings.Replace(string(goodBody), `"persona":"villain"`, `"persona":""`, 1),
		"unknown type":  strings.Replace(string(goodBody), `"type":"completion"`, `"type":"completionz"`, 1),
		// encoding/json would store U+FFFD in its place (issue 18, item 7)
		"not UTF-8": strings.Replace(string(goodBody), `"text":"hi [ZLT]"`, "\"text\":\"hi \xff[ZLT]\"", 1),
	}
	for name, body := range bad {
		require.NotEqual(t, string(goodBody), body, "mutation %q applied", name)
		_, err := s.Bus.JS.Publish(ctx, subject, []byte(body))
		require.NoError(t, err)
	}
	// A valid event on another experiment's subject (a producer allowed one
	// subject must not store events of another type or experiment).
	elsewhere := events.SubjectPrefix + ".exp2.stop_decision"
	_, err = s.Bus.JS.Publish(ctx, elsewhere, goodBody)
	require.NoError(t, err)
	ack, err := s.Bus.Publish(ctx, valid)
	require.NoError(t, err)
	require.NoError(t, s.Bus.WaitDurable(ctx, ack.Sequence, nil))

	dlq, err := s.Bus.JS.Stream(ctx, bus.DeadLetterStream)
	require.NoError(t, err)
	info, err := dlq.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(len(bad)+1), info.State.Msgs)
	reasons := map[string]bool{}
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		require.NoError(t, err)
		reason := m.Header.Get(bus.HeaderReason)
		require.NotEmpty(t, reason)
		require.Contains(t, []string{subject, elsewhere}, m.Header.Get(bus.HeaderOriginalSubject))
		reasons[reason] = true
	}
	joined := strings.Join(keys(reasons), "\n")
	require.Contains(t, joined, `"payload.sample_index"`)
	require.Contains(t, joined, `"id"`)
	require.Contains(t, joined, `"payload.persona"`)
	require.Contains(t, joined, `"payload.text" is not UTF-8 text`)
	require.Contains(t, joined, `"type"`)
	require.Contains(t, joined, "malformed")
	require.Contains(t, joined, `subject "leakscope.ev.exp2.stop_decision" does not match the event`)

	cons, err := s.Bus.JS.Consumer(ctx, bus.EventsStream, bus.IngestConsumer)
	require.NoError(t, err)
	ci, err := cons.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, ci.NumAckPending, "terminated, not waiting for redelivery")
	require.Zero(t, ci.NumRedelivered)

	e := openEngine(t, s.Lake)
	res, err := e.SQL(ctx, "SELECT count(*), count(DISTINCT reason) FROM dead_letters")
	require.NoError(t, err)
	require.Equal(t, int64(len(bad)+1), res.Rows[0][0])
	// Dead letters per run: the run is read from the rejected envelope when it can be.
	res, err = e.SQL(ctx, "SELECT run_id, count(*) FROM dead_letters GROUP BY run_id ORDER BY run_id")
	require.NoError(t, err)
	require.Equal(t, [][]any{{"", int64(1)}, {"run1", int64(len(bad))}}, res.Rows, "the malformed one has no readable run; the one on a wrong subject has")
	res, err = e.SQL(ctx, "SELECT persona, text FROM completions WHERE experiment = 'exp1'")
	require.NoError(t, err)
	require.Equal(t, [][]any{{"villain", "hi [ZLT]"}}, res.Rows)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
