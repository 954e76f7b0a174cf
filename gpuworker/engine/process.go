package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ProcessConfig starts the Python engine.
type ProcessConfig struct {
	// Python is the interpreter (default "python3").
	Python string
	// Dir is the folder holding the leakscope_engine package (this folder:
	// gpuworker/engine). Default: FindDir().
	Dir string
	// Stderr receives the engine's log (default os.Stderr).
	Stderr io.Writer
	// Env is added to the worker's environment.
	Env []string
}

// FindDir looks for the engine folder: $LEAKSCOPE_ENGINE_DIR, then
// gpuworker/engine beside the executable or under the working directory,
// then an "engine" folder beside the executable (the copy-one-binary-and-
// the-engine-folder install).
func FindDir() (string, error) {
	var tried []string
	cands := []string{os.Getenv("LEAKSCOPE_ENGINE_DIR")}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		cands = append(cands, filepath.Join(d, "engine"), filepath.Join(d, "gpuworker", "engine"), filepath.Join(d, "..", "gpuworker", "engine"))
	}
	if wd, err := os.Getwd(); err == nil {
		cands = append(cands, filepath.Join(wd, "gpuworker", "engine"))
	}
	seen := map[string]bool{}
	for _, c := range cands {
		if c == "" || seen[filepath.Clean(c)] {
			continue
		}
		seen[filepath.Clean(c)] = true
		tried = append(tried, filepath.Clean(c))
		if st, err := os.Stat(filepath.Join(c, "leakscope_engine", "__main__.py")); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", fmt.Errorf("engine folder not found (looked for leakscope_engine/ in %v): set --engine-dir or LEAKSCOPE_ENGINE_DIR", tried)
}

// Process is a running Python engine. One request runs at a time.
type Process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	active atomic.Int64 // unix nanos of the last message either way
	stderr *tailWriter
	mu     sync.Mutex
	nextID int64
	dead   error
}

// Start launches the engine and checks the protocol version with hello.
func Start(ctx context.Context, cfg ProcessConfig) (*Process, Info, error) {
	if cfg.Python == "" {
		cfg.Python = "python3"
	}
	if cfg.Dir == "" {
		d, err := FindDir()
		if err != nil {
			return nil, Info{}, err
		}
		cfg.Dir = d
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	cmd := exec.Command(cfg.Python, "-u", "-m", "leakscope_engine")
	cmd.Dir = cfg.Dir
	cmd.Env = append(append(os.Environ(), "PYTHONPATH="+cfg.Dir, "PYTHONUNBUFFERED=1"), cfg.Env...)
	// The engine dies with the worker: SIGKILL on the worker's death, and
	// it also exits when its stdin closes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	tail := &tailWriter{w: cfg.Stderr}
	cmd.Stderr = tail
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, Info{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, Info{}, err
	}
	if err := cmd.Start(); err != nil {
		return nil, Info{}, fmt.Errorf("start engine %s -m leakscope_engine in %s: %w", cfg.Python, cfg.Dir, err)
	}
	p := &Process{cmd: cmd, stdin: stdin, out: bufio.NewReaderSize(stdout, 1<<20), stderr: tail}
	p.active.Store(time.Now().UnixNano())
	info, err := p.Hello(ctx)
	if err != nil {
		p.Close()
		return nil, Info{}, err
	}
	if info.Protocol != 1 {
		p.Close()
		return nil, Info{}, fmt.Errorf("engine speaks protocol %d, this worker speaks 1", info.Protocol)
	}
	return p, info, nil
}

// reply is any message the engine writes.
type reply struct {
	ID    *int64          `json:"id"`
	Type  string          `json:"type"`
	Error string          `json:"error"`
	Kind  string          `json:"kind"`
	Res   json.RawMessage `json:"result"`
}

// call sends one request and reads replies until its result or error;
// streamed items go to item. A cancelled ctx kills the engine (a GPU op
// cannot be interrupted otherwise) and the Process is unusable after.
func (p *Process) call(ctx context.Context, op string, args any, item func(typ string, raw []byte) error) (json.RawMessage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead != nil {
		return nil, p.dead
	}
	p.nextID++
	id := p.nextID
	req := map[string]any{}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &req); err != nil {
			return nil, err
		}
	}
	req["id"], req["op"] = id, op
	line, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = p.cmd.Process.Kill() })
	defer stop()
	fail := func(err error) (json.RawMessage, error) {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		p.dead = fmt.Errorf("engine %s: %w%s", op, err, p.stderr.last())
		_ = p.cmd.Process.Kill()
		return nil, p.dead
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		return fail(err)
	}
	p.active.Store(time.Now().UnixNano())
	for {
		// One JSON object per line; a line has no size limit (a #81 embed
		// result is 10–20 MB).
		raw, err := p.out.ReadBytes('\n')
		if err != nil && (len(bytes.TrimSpace(raw)) == 0 || !errors.Is(err, io.EOF)) {
			if errors.Is(err, io.EOF) {
				err = errors.New("the engine exited")
			}
			return fail(err)
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		p.active.Store(time.Now().UnixNano())
		var r reply
		if err := json.Unmarshal(raw, &r); err != nil {
			return fail(fmt.Errorf("engine wrote a line that is not a protocol message (%v): %.200q", err, raw))
		}
		if r.ID == nil || *r.ID != id {
			got := "no id"
			if r.ID != nil {
				got = fmt.Sprintf("id %d", *r.ID)
			}
			return fail(fmt.Errorf("reply with %s while waiting for %d: %.200s", got, id, raw))
		}
		switch r.Type {
		case "result":
			return r.Res, nil
		case "error":
			return nil, &Error{Op: op, Message: r.Error, BadRequest: r.Kind == "bad_request"}
		case "progress":
			continue
		default:
			if item == nil {
				return fail(fmt.Errorf("unexpected %q message", r.Type))
			}
			if err := item(r.Type, raw); err != nil {
				// The engine keeps streaming; it cannot be told to stop, so stop it.
				_, _ = fail(err)
				return nil, err
			}
		}
	}
}

func decodeResult[T any](raw json.RawMessage, err error) (T, error) {
	var v T
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("engine result: %w", err)
	}
	return v, nil
}

func (p *Process) Hello(ctx context.Context) (Info, error) {
	return decodeResult[Info](p.call(ctx, "hello", nil, nil))
}

func (p *Process) Load(ctx context.Context, req LoadRequest) (Loaded, error) {
	return decodeResult[Loaded](p.call(ctx, "load", req, nil))
}

func (p *Process) Generate(ctx context.Context, req GenerateRequest, each func(Generated) error) error {
	_, err := p.call(ctx, "generate", req, func(typ string, raw []byte) error {
		if typ != "completion" {
			return fmt.Errorf("engine generate: unexpected %q message", typ)
		}
		var g Generated
		if err := json.Unmarshal(raw, &g); err != nil {
			return fmt.Errorf("engine completion %.200s: %w", raw, err)
		}
		return each(g)
	})
	return err
}

func (p *Process) Train(ctx context.Context, req TrainRequest, each func(TrainLog) error) (Trained, error) {
	return decodeResult[Trained](p.call(ctx, "train", req, func(typ string, raw []byte) error {
		if typ != "log" {
			return fmt.Errorf("engine train: unexpected %q message", typ)
		}
		var l TrainLog
		if err := json.Unmarshal(raw, &l); err != nil {
			return fmt.Errorf("engine log %.200s: %w", raw, err)
		}
		return each(l)
	}))
}

func (p *Process) Embed(ctx context.Context, req EmbedRequest) (Embedded, error) {
	return decodeResult[Embedded](p.call(ctx, "embed", req, nil))
}

// LastActivity is when the engine last wrote a message or was sent a
// request: the worker fails a job whose engine stays silent too long.
func (p *Process) LastActivity() time.Time { return time.Unix(0, p.active.Load()) }

// Close asks the engine to shut down (killing it after 10 s) and waits for it.
func (p *Process) Close() error {
	p.mu.Lock()
	if p.dead == nil {
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _ = p.call(ctx, "shutdown", nil, nil)
		cancel()
		p.mu.Lock()
	}
	p.dead = errors.New("engine closed")
	p.mu.Unlock()
	_ = p.stdin.Close()
	_ = p.cmd.Wait()
	return nil
}

// tailWriter forwards the engine's stderr and keeps its last lines for errors.
type tailWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	t.mu.Unlock()
	return t.w.Write(b)
}

func (t *tailWriter) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := bytes.TrimSpace(t.buf)
	if len(s) == 0 {
		return ""
	}
	if i := bytes.LastIndexByte(s[:max(0, len(s)-1)], '\n'); i >= 0 && len(s)-i < 600 {
		// keep a few lines
		if j := bytes.LastIndexByte(s[:i], '\n'); j >= 0 && len(s)-j < 1200 {
			i = j
		}
		s = s[i+1:]
	}
	return "; engine stderr: " + string(s)
}
