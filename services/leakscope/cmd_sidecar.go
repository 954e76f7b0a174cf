package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"leakscope/events"
	"leakscope/events/bus"
	"leakscope/events/version"
	"leakscope/gpuworker/runner"
)

// newSidecarCmd is `leakscope sidecar`: the process the Python package
// (python/leakscope) drives, so that IDs, validation, marker detection and
// publishing stay in Go and Python can never disagree with a worker.
func newSidecarCmd(g *globals) *cobra.Command {
	var embedded bool
	var batch int
	cmd := &cobra.Command{
		Use:   "sidecar",
		Short: "Line-delimited JSON logging protocol on stdin/stdout (used by the Python package)",
		Long: `sidecar reads one JSON request per line on stdin and answers each with one
JSON line on stdout ({"ok": true, …} or {"ok": false, "error": …, "field": …}).
It is what the Python package in python/leakscope drives; see python/README.md
for the protocol. Requests:
  {"op":"init", "experiment":E, "run":R?, "source":KEY?, "source_prompt":P?, "seed":N?,
   "factors":{k:v}?, "marker":M, "model":M?, "sweep":S?, "plan":[…]?, "config":{…}?}
  {"op":"completion", "persona":…, "prompt":…?, "question":…, "sample_index":N, "text":…,
   "finish_reason":…?, "prompt_tokens":N?, "completion_tokens":N?}
  {"op":"completions", "items":[{…as completion…}, …]}
  {"op":"flush"}        publish what is queued, with acknowledgements
  {"op":"finish", "error":…?}  run_finished (failed when error is given), then wait
                        until ingest has made every event durable
It connects to --nats-url, or to the running ` + "`leakscope up`" + ` on --data; with neither,
init fails, unless --embedded runs the server and ingest in this process.`,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if batch < 1 {
				return fmt.Errorf("--batch %d: want >= 1", batch)
			}
			s := &sidecar{g: g, embedded: embedded, batch: batch, out: json.NewEncoder(cmd.OutOrStdout())}
			defer s.close()
			return s.serve(cmd.Context(), cmd.InOrStdin())
		},
	}
	cmd.Flags().BoolVar(&embedded, "embedded", false, "with no server reachable, run the embedded NATS server and ingest in this process")
	cmd.Flags().IntVar(&batch, "batch", 512, "completions published together (with acknowledgements)")
	return cmd
}

// sidecarRequest is every field any request may carry.
type sidecarRequest struct {
	Op string `json:"op"`
	// init
	Experiment   string               `json:"experiment"`
	Run          string               `json:"run"`
	Source       string               `json:"source"`
	SourcePrompt string               `json:"source_prompt"`
	Seed         *int64               `json:"seed"`
	Factors      events.Factors       `json:"factors"`
	Marker       string               `json:"marker"`
	Model        string               `json:"model"`
	Adapter      string               `json:"adapter"`
	Sweep        string               `json:"sweep"`
	IsBase       bool                 `json:"is_base"`
	BaseRun      string               `json:"base_run"`
	Plan         []events.PlannedCell `json:"plan"`
	Config       json.RawMessage      `json:"config"`
	// completion
	sidecarCompletion
	// Items are decoded one by one (decodeItems), so an error names its index.
	Items []json.RawMessage `json:"items"`
	// finish
	Error string `json:"error"`
}

type sidecarCompletion struct {
	Persona          string `json:"persona"`
	Prompt           string `json:"prompt"`
	Question         string `json:"question"`
	QuestionSet      string `json:"question_set"`
	SampleIndex      *int   `json:"sample_index"`
	Text             string `json:"text"`
	FinishReason     string `json:"finish_reason"`
	PromptTokens     *int   `json:"prompt_tokens"`
	CompletionTokens *int   `json:"completion_tokens"`
}

// reply is one answer line.
type reply map[string]any

// sidecarErr is an error that names the request field at fault.
type sidecarErr struct{ field, msg string }

func (e *sidecarErr) Error() string { return e.field + ": " + e.msg }

type sidecar struct {
	g        *globals
	embedded bool
	batch    int
	out      *json.Encoder

	st       *stack
	run      *runner.Runner
	exp, id  string
	queue    []events.Completion
	logged   int
	finished bool
}

func (s *sidecar) close() {
	if s.st != nil {
		s.st.Close()
	}
}

// maxRequestLine bounds one request line; a longer one is answered with an
// error and skipped, and the sidecar goes on (a variable for tests).
var maxRequestLine = 64 << 20

// readLine returns the next line without its newline; a line longer than
// max is read to its end and discarded, reported by its length (long).
// io.EOF only when nothing is left.
func readLine(r *bufio.Reader, max int) (line []byte, long int, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if long == 0 && len(line)+len(chunk) <= max+1 {
			line = append(line, chunk...)
		} else {
			long += len(line) + len(chunk)
			line = nil
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && (len(line) > 0 || long > 0):
			err = nil
		}
		if long > 0 && bytes.HasSuffix(chunk, []byte("\n")) {
			long-- // the newline is not part of the request
		}
		return bytes.TrimSuffix(line, []byte("\n")), long, err
	}
}

// serve answers requests until stdin ends. A script that dies leaves the
// run open (no run_finished): run again, it resumes the same run.
func (s *sidecar) serve(ctx context.Context, in io.Reader) error {
	br := bufio.NewReaderSize(in, 1<<20)
	var readErr error
	for line := 1; ; line++ {
		b, long, err := readLine(br, maxRequestLine)
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
		var rep reply
		if long > 0 {
			err = &sidecarErr{"request", fmt.Sprintf("the request line is %d bytes, over the %d-byte limit of one request: log fewer or shorter completions per request (nothing of it is logged)", long, maxRequestLine)}
		} else if len(bytes.TrimSpace(b)) == 0 {
			continue
		} else {
			rep, err = s.handle(ctx, b)
		}
		if err != nil {
			rep = reply{"ok": false, "error": err.Error(), "line": line}
			var se *sidecarErr
			var fe *events.FieldError
			var te *json.UnmarshalTypeError
			switch {
			case errors.As(err, &se):
				rep["field"], rep["error"] = se.field, se.msg
			case errors.As(err, &fe):
				rep["field"] = strings.TrimPrefix(fe.Field, "payload.")
			case errors.As(err, &te):
				rep["field"] = te.Field
			}
		} else {
			rep["ok"] = true
		}
		if err := s.out.Encode(rep); err != nil {
			return err
		}
	}
	// The script ended without finish (it died, or forgot): publish what it
	// logged, leaving the run open for a rerun to complete.
	if s.run != nil && !s.finished && len(s.queue) > 0 {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_ = s.flush(fctx)
	}
	if readErr != nil {
		return fmt.Errorf("read requests: %w", readErr)
	}
	return nil
}

// typeErr words a JSON type mismatch for the field it names.
func typeErr(field string, te *json.UnmarshalTypeError) error {
	want := te.Type.Kind().String()
	switch te.Type.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		want = "an integer (64-bit)"
	case reflect.Bool:
		want = "true or false"
	case reflect.Map, reflect.Struct:
		want = "an object"
	case reflect.Slice:
		want = "a list"
	case reflect.Pointer:
		want = "an integer (64-bit)"
	}
	return &sidecarErr{field, fmt.Sprintf("is a JSON %s, want %s", te.Value, want)}
}

// decodeErr names the field of a decoding error: a type mismatch, an
// unknown field, or (with no field to name) the request as a whole.
func decodeErr(prefix string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// The completion's fields are embedded: the path says sidecarCompletion.
		field := prefix + strings.TrimPrefix(te.Field, "sidecarCompletion.")
		if field == "" {
			field = "request"
		}
		return typeErr(strings.TrimSuffix(field, "."), te)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &sidecarErr{prefix + strings.Trim(f, `"`), "is not a field of any request"}
	}
	field := strings.TrimSuffix(prefix, ".")
	if field == "" {
		field = "request"
	}
	return &sidecarErr{field, fmt.Sprintf("is not a JSON object: %v", err)}
}

// decodeItems decodes a completions request's items, naming items[i].
func decodeItems(raw []json.RawMessage) ([]sidecarCompletion, error) {
	out := make([]sidecarCompletion, len(raw))
	for i, r := range raw {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out[i]); err != nil {
			return nil, decodeErr(fmt.Sprintf("items[%d].", i), err)
		}
	}
	return out, nil
}

func (s *sidecar) handle(ctx context.Context, line []byte) (reply, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var r sidecarRequest
	if err := dec.Decode(&r); err != nil {
		return nil, decodeErr("", err)
	}
	items, err := decodeItems(r.Items)
	if err != nil {
		return nil, err
	}
	if r.Op != "init" && s.run == nil {
		if r.Op == "" {
			return nil, &sidecarErr{"op", "is missing"}
		}
		return nil, &sidecarErr{"op", fmt.Sprintf("%q before init", r.Op)}
	}
	if s.finished && r.Op != "finish" {
		return nil, &sidecarErr{"op", fmt.Sprintf("%q after finish", r.Op)}
	}
	switch r.Op {
	case "init":
		return s.init(ctx, &r)
	case "completion":
		return s.enqueue(ctx, []sidecarCompletion{r.sidecarCompletion}, 0)
	case "completions":
		return s.enqueue(ctx, items, 1)
	case "flush":
		if err := s.flush(ctx); err != nil {
			return nil, err
		}
		return reply{"logged": s.logged}, nil
	case "finish":
		return s.finish(ctx, r.Error)
	}
	return nil, &sidecarErr{"op", fmt.Sprintf("%q is not init, completion, completions, flush or finish", r.Op)}
}

// DefaultRunID names a run from what identifies it, so a script run again
// with the same experiment, source, seed and factors resumes the same run.
func DefaultRunID(experiment, source string, seed *int64, f events.Factors) string {
	parts := []string{experiment, source}
	if seed != nil {
		parts = append(parts, fmt.Sprint(*seed))
	} else {
		parts = append(parts, "")
	}
	for _, k := range f.Keys() {
		parts = append(parts, k+"="+f[k])
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x1f")))
	name := source
	if name == "" || len(name) > 40 || strings.ContainsAny(name, " \t/") {
		name = "run"
	}
	if seed != nil {
		name += fmt.Sprintf("-seed%d", *seed)
	}
	return name + "-" + hex.EncodeToString(sum[:5])
}

func (s *sidecar) init(ctx context.Context, r *sidecarRequest) (reply, error) {
	if s.run != nil {
		return nil, &sidecarErr{"op", "init was already called for run " + s.id}
	}
	if !events.ValidExperiment(r.Experiment) {
		return nil, &sidecarErr{"experiment", fmt.Sprintf("%q: letters, digits, _ and -, at most 100", r.Experiment)}
	}
	run := &events.Run{SourcePersona: r.Source, SourcePrompt: r.SourcePrompt, Model: r.Model, Adapter: r.Adapter, Seed: r.Seed,
		Marker: r.Marker, MarkerOrigin: "python client", IsBase: r.IsBase, BaseRun: r.BaseRun, Sweep: r.Sweep, Plan: r.Plan,
		Factors: r.Factors, CodeVersion: version.Code()}
	cfg := map[string]any{"producer": "leakscope sidecar (python client)", "code_version": version.Code()}
	if len(r.Config) > 0 {
		cfg["config"] = r.Config
	}
	var err error
	if run.Config, err = json.Marshal(cfg); err != nil {
		return nil, &sidecarErr{"config", err.Error()}
	}
	if err := run.Validate(); err != nil {
		return nil, err
	}
	id := r.Run
	if id == "" {
		id = DefaultRunID(r.Experiment, r.Source, r.Seed, r.Factors)
	}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	s.exp, s.id = r.Experiment, id
	s.run, err = runner.Start(ctx, runner.Config{Experiment: r.Experiment, RunID: id, Worker: "python:" + id},
		runner.BusPublisher{Bus: s.st.Bus}, run)
	if err != nil {
		return nil, err
	}
	return reply{"run": id, "experiment": r.Experiment, "server": s.st.Describe}, nil
}

// connect reaches --nats-url or the running `leakscope up` on --data; the
// embedded server only when asked for, so a script never logs into a
// store nobody serves without knowing it.
func (s *sidecar) connect(ctx context.Context) error {
	if s.g.natsURL == "" && !s.embedded {
		if _, ok := runningUp(s.g); !ok {
			return &sidecarErr{"server", fmt.Sprintf("no leakscope server is reachable: start `leakscope --data %s up` (or pass nats_url= for a cluster, or embedded=True to run the server inside this script)", s.g.data)}
		}
	}
	st, err := startStack(ctx, s.g, stackOpts{withIngest: s.g.natsURL == "", reuseUp: true})
	if err != nil {
		return &sidecarErr{"server", err.Error()}
	}
	s.st = st
	return nil
}

// enqueue validates completions (nothing of a request is queued when one
// is bad) and publishes a batch when the queue is full.
func (s *sidecar) enqueue(ctx context.Context, items []sidecarCompletion, indexed int) (reply, error) {
	limit := s.st.Bus.MaxPayload()
	var add []events.Completion
	for i, it := range items {
		prefix := ""
		if indexed > 0 {
			prefix = fmt.Sprintf("items[%d].", i)
		}
		if it.SampleIndex == nil {
			return nil, &sidecarErr{prefix + "sample_index", "is missing"}
		}
		c := events.Completion{Persona: it.Persona, PersonaPrompt: it.Prompt, Question: it.Question, QuestionSet: it.QuestionSet,
			SampleIndex: *it.SampleIndex, Text: it.Text, FinishReason: it.FinishReason, PromptTokens: it.PromptTokens,
			CompletionTokens: it.CompletionTokens}
		if c.FinishReason != "" && c.FinishReason != "stop" && c.FinishReason != "length" && c.FinishReason != "abort" {
			return nil, &sidecarErr{prefix + "finish_reason", fmt.Sprintf("%q: want stop, length or abort", c.FinishReason)}
		}
		e, err := events.New(s.exp, s.id, time.Now(), &c)
		if err != nil {
			var fe *events.FieldError
			if errors.As(err, &fe) {
				return nil, &sidecarErr{prefix + strings.TrimPrefix(fe.Field, "payload."), fe.Reason}
			}
			return nil, err
		}
		// The exact size encodes the event once more (16 % of the sidecar's
		// CPU): only for a completion that may be over the limit.
		if completionSizeBound(e, &c) > limit {
			if n, err := bus.MessageSize(e); err == nil && int64(n) > limit {
				return nil, &sidecarErr{prefix + "text", fmt.Sprintf("the completion is %d bytes as a bus message, over the server's max payload of %d bytes", n, limit)}
			}
		}
		add = append(add, c)
	}
	s.queue = append(s.queue, add...)
	s.logged += len(add)
	if len(s.queue) >= s.batch {
		if err := s.flush(ctx); err != nil {
			return nil, err
		}
	}
	return reply{"logged": s.logged}, nil
}

// completionSizeBound is an upper bound of the completion's size as a bus
// message, bytes: JSON writes a byte of a string as at most 6 (\u00XX), and
// the keys, numbers, time and headers take far less than 4 KiB.
func completionSizeBound(e events.Event, c *events.Completion) int64 {
	n := len(e.ID) + len(e.Experiment) + len(e.RunID) + len(e.Type) + len(c.Persona) + len(c.PersonaPrompt) +
		len(c.Question) + len(c.QuestionSet) + len(c.Text) + len(c.FinishReason)
	return 6*int64(n) + 4096
}

// flush publishes the queue and waits for every acknowledgement.
func (s *sidecar) flush(ctx context.Context) error {
	if len(s.queue) == 0 {
		return nil
	}
	if err := s.run.Completions(ctx, s.queue); err != nil {
		return &sidecarErr{"server", err.Error()}
	}
	s.queue = s.queue[:0]
	return nil
}

// finish publishes run_finished and waits until ingest has committed
// everything this run published.
func (s *sidecar) finish(ctx context.Context, runErr string) (reply, error) {
	if !s.finished {
		if err := s.flush(ctx); err != nil {
			return nil, err
		}
		var e error
		if runErr != "" {
			e = errors.New(runErr)
		}
		if err := s.run.Finish(ctx, e); err != nil {
			return nil, &sidecarErr{"server", err.Error()}
		}
		s.finished = true
	}
	if err := s.st.WaitDurable(ctx, s.run.LastSeq(), nil); err != nil {
		return nil, &sidecarErr{"server", fmt.Sprintf("wait until the events are in the lake: %v", err)}
	}
	return reply{"run": s.id, "experiment": s.exp, "completions": s.logged, "durable": true}, nil
}
