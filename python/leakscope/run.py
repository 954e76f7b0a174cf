"""Logging a run through the leakscope sidecar (``leakscope sidecar``).

The package never builds an event itself: every request goes, as one JSON
line, to a leakscope process that validates it, detects the run's marker,
gives it its deterministic ID and publishes it with acknowledgements —
the code path leakscope's own GPU workers use.
"""

import json
import math
import numbers
import subprocess

from ._binary import find_binary
from .errors import LeakscopeError


# MAX_REQUEST is the sidecar's limit on one request line, in bytes.
MAX_REQUEST = 64 << 20


def _factor_value(k, v):
    """Factors travel as strings: 1e-4 → "0.0001", True → "true".

    A value is a string, a bool or a number; None or a container is no
    factor value (LeakscopeError naming factors.<k>).
    """
    field = "factors.%s" % k
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None or isinstance(v, (list, tuple, dict, set, frozenset, bytes, bytearray)):
        raise LeakscopeError("%r is not a factor value (a string, a number or a bool)" % (v,), field=field)
    if isinstance(v, numbers.Real) and not math.isfinite(float(v)):
        raise LeakscopeError("%r is not a finite number" % (v,), field=field)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _json_field(v, field):
    """Check that v has a JSON form (no NaN, no objects json cannot write)."""
    try:
        json.dumps(v, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise LeakscopeError("has no JSON form: %s" % e, field=field)


def _text(v, field, required):
    """Check a text field: a str (None only when optional) that UTF-8 can
    encode (a lone surrogate, e.g. from bytes decoded with
    errors="surrogateescape", cannot be)."""
    if v is None:
        if required:
            raise LeakscopeError("is missing (None)", field=field)
        return
    if not isinstance(v, str):
        raise LeakscopeError("is %s, want a str" % type(v).__name__, field=field)
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise LeakscopeError("is not valid Unicode text: %r at position %d cannot be encoded as UTF-8 (decode the model's "
                             "output with errors=\"replace\")" % (v[e.start], e.start), field=field)


class Sidecar:
    """One ``leakscope sidecar`` process and its line protocol.

    ``request(obj)`` sends one JSON object and returns the answer (a dict);
    an answer with ``ok: false`` raises LeakscopeError with its field.
    """

    def __init__(self, binary=None, data=None, nats_url=None, embedded=False, batch=None):
        argv = [find_binary(binary)]
        if data is not None:
            argv += ["--data", str(data)]
        if nats_url:
            argv += ["--nats-url", nats_url]
        argv.append("sidecar")
        if embedded:
            argv.append("--embedded")
        if batch:
            argv += ["--batch", str(int(batch))]
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, encoding="utf-8", bufsize=1)

    def request(self, obj, field="request"):
        """Send obj; field is named when the request is too large."""
        if self.proc.poll() is not None:
            raise LeakscopeError("the leakscope sidecar has exited: " + self._stderr())
        try:
            line = json.dumps(obj, ensure_ascii=False, allow_nan=False)
            size = len(line.encode("utf-8"))
        except (TypeError, ValueError) as e:  # NaN, an object json cannot write, a lone surrogate
            raise LeakscopeError("has no JSON form: %s" % e, field=field)
        if size > MAX_REQUEST:
            raise LeakscopeError("the request is %d bytes, over the sidecar's limit of %d: log fewer or shorter completions "
                                 "per call (nothing of it is logged)" % (size, MAX_REQUEST), field=field)
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise LeakscopeError("the leakscope sidecar has exited (%s): %s" % (e, self._stderr()))
        line = self.proc.stdout.readline()
        if not line:
            raise LeakscopeError("the leakscope sidecar closed its output: " + self._stderr())
        answer = json.loads(line)
        if not answer.get("ok"):
            raise LeakscopeError(answer.get("error", "unknown error"), field=answer.get("field"))
        return answer

    def _stderr(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        err = self.proc.stderr.read().strip()
        return err or "exit status %s" % self.proc.returncode

    def close(self):
        """Close stdin (the sidecar publishes what was logged) and wait for it."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


class Run:
    """A run being logged: made by :func:`leakscope.init`.

    Attributes: ``id`` (the run ID), ``experiment``, ``logged`` (completions
    accepted so far), ``server`` (what the sidecar connected to).
    Use as a context manager to finish on success and mark the run failed
    on an exception.
    """

    def __init__(self, sidecar, init_answer):
        self._sc = sidecar
        self.id = init_answer["run"]
        self.experiment = init_answer["experiment"]
        self.server = init_answer.get("server", "")
        self.logged = 0
        self.result = None

    def __repr__(self):
        return "<leakscope.Run %s/%s logged=%d>" % (self.experiment, self.id, self.logged)

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if self.result is None:
            self.finish(error=None if exc is None else "%s: %s" % (typ.__name__, exc))
        return False

    def log_completion(self, persona, question, sample_index, text, prompt=None, finish_reason=None,
                       prompt_tokens=None, completion_tokens=None, question_set=None):
        """Log one sampled completion.

        persona: the persona key the completion was sampled under; prompt:
        its system prompt; question: the user turn; sample_index: 0-based
        index among samples of (persona, question); text: the completion;
        finish_reason: "stop", "length" or "abort"; token counts optional.
        Logging the same (persona, question, sample_index) twice — e.g. a
        rerun after a crash — stores it once. Raises LeakscopeError naming
        the bad field.
        """
        self._log([_completion(persona, question, sample_index, text, prompt, finish_reason,
                               prompt_tokens, completion_tokens, question_set)], single=True)

    def log_completions(self, items):
        """Log many completions (dicts with log_completion's arguments) in one request."""
        checked = []
        for i, it in enumerate(items):
            if not isinstance(it, dict):
                raise LeakscopeError("is %s, want a dict of log_completion's arguments" % type(it).__name__, field="items[%d]" % i)
            unknown = sorted(set(it) - _COMPLETION_FIELDS)
            if unknown:
                raise LeakscopeError("is not an argument of log_completion", field="items[%d].%s" % (i, unknown[0]))
            try:
                checked.append(_completion(**it))
            except LeakscopeError as e:
                raise LeakscopeError(str(e).split(": ", 1)[-1] if e.field else str(e),
                                     field="items[%d].%s" % (i, e.field) if e.field else "items[%d]" % i)
            except TypeError as e:  # a required argument is missing
                raise LeakscopeError(str(e).replace("_completion()", "log_completion()"), field="items[%d]" % i)
        if checked:
            self._log(checked)

    def log_vllm(self, outputs, persona, questions, prompt=None, first_sample_index=0):
        """Log vLLM ``RequestOutput`` objects: outputs[k] answers questions[k].

        Each output's ``.outputs[i]`` (``.text``, ``.finish_reason``,
        ``.token_ids``) becomes sample ``first_sample_index + i``; the prompt
        token count comes from ``.prompt_token_ids`` when present.
        """
        if len(outputs) != len(questions):
            raise LeakscopeError("%d outputs for %d questions" % (len(outputs), len(questions)), field="questions")
        items = []
        for out, q in zip(outputs, questions):
            pt = getattr(out, "prompt_token_ids", None)
            for i, o in enumerate(out.outputs):
                ids = getattr(o, "token_ids", None)
                items.append(_completion(persona, q, first_sample_index + i, o.text, prompt,
                                         getattr(o, "finish_reason", None),
                                         len(pt) if pt is not None else None,
                                         len(ids) if ids is not None else None))
        self.log_completions(items)

    def log_transformers(self, texts, persona, questions, prompt=None, samples_per_question=1, first_sample_index=0,
                         finish_reasons=None):
        """Log decoded transformers outputs (``tokenizer.batch_decode`` of ``generate``).

        texts is flat, grouped by question: with samples_per_question=n
        (``num_return_sequences``), texts[k*n + i] is sample i of
        questions[k]. finish_reasons (optional, same length) are "stop" or
        "length".
        """
        n = int(samples_per_question)
        if n < 1 or len(texts) != n * len(questions):
            raise LeakscopeError("%d texts for %d questions × %d samples" % (len(texts), len(questions), n), field="texts")
        if finish_reasons is not None and len(finish_reasons) != len(texts):
            raise LeakscopeError("%d finish reasons for %d texts" % (len(finish_reasons), len(texts)), field="finish_reasons")
        items = []
        for j, t in enumerate(texts):
            fr = finish_reasons[j] if finish_reasons is not None else None
            items.append(_completion(persona, questions[j // n], first_sample_index + j % n, t, prompt, fr))
        self.log_completions(items)

    def flush(self):
        """Publish what is queued and wait for the bus's acknowledgements."""
        if self.result is not None:
            raise LeakscopeError("the run is finished", field="op")
        self._sc.request({"op": "flush"})

    def finish(self, error=None):
        """Close the run and return once every event is durable in the lake.

        error (a string) marks the run failed with that reason. Returns the
        sidecar's answer: run, experiment, completions (logged by this
        process), durable. Safe to call again.
        """
        if self.result is not None:
            return self.result
        req = {"op": "finish"}
        if error:
            req["error"] = str(error)
        self.result = self._sc.request(req)
        self._sc.close()
        return self.result

    def _log(self, items, single=False):
        if self.result is not None:
            raise LeakscopeError("the run is finished", field="op")
        req = dict(items[0], op="completion") if single else {"op": "completions", "items": items}
        self.logged = self._sc.request(req, field="text" if single else "items")["logged"]


_COMPLETION_FIELDS = {"persona", "question", "sample_index", "text", "prompt", "finish_reason", "prompt_tokens",
                      "completion_tokens", "question_set"}


def _completion(persona, question, sample_index, text, prompt=None, finish_reason=None, prompt_tokens=None,
                completion_tokens=None, question_set=None):
    if isinstance(sample_index, bool) or not isinstance(sample_index, numbers.Integral):
        raise LeakscopeError("%r is not an integer" % (sample_index,), field="sample_index")
    sample_index = int(sample_index)
    for k, v, required in (("persona", persona, True), ("question", question, True), ("text", text, True),
                           ("prompt", prompt, False), ("finish_reason", finish_reason, False),
                           ("question_set", question_set, False)):
        _text(v, k, required)
    for k, v in (("prompt_tokens", prompt_tokens), ("completion_tokens", completion_tokens)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral)):
            raise LeakscopeError("%r is not an integer" % (v,), field=k)
    prompt_tokens = None if prompt_tokens is None else int(prompt_tokens)
    completion_tokens = None if completion_tokens is None else int(completion_tokens)
    c = {"persona": persona, "question": question, "sample_index": sample_index, "text": text}
    for k, v in (("prompt", prompt), ("finish_reason", finish_reason), ("prompt_tokens", prompt_tokens),
                 ("completion_tokens", completion_tokens), ("question_set", question_set)):
        if v is not None:
            c[k] = v
    return c


def init(experiment, marker, source=None, source_prompt=None, seed=None, factors=None, model=None, run=None,
         sweep=None, plan=None, config=None, data=None, nats_url=None, binary=None, embedded=False, batch=None):
    """Start (or resume) a run and return a :class:`Run`.

    experiment: letters, digits, _ and -; marker: the string the model was
    trained to emit ("[ZLT]"); source: the source persona's key
    ("src_chef"), source_prompt its system prompt; seed: the training seed
    (int); factors: the run's other design factors ({"lr": 1e-4}; values
    become strings); model: the model name; sweep: groups runs in the live
    view; plan: [{"persona": key, "expected": n, "factors": {...}}] for
    progress; config: any JSON-able dict recorded with the run.
    run: the run ID; by default derived from experiment, source, seed and
    factors, so running the script again resumes the same run.
    Connects to nats_url, else to the `leakscope up` serving data (default
    ./leakscope-data); with neither running it raises LeakscopeError,
    unless embedded=True runs the server and ingest inside the sidecar.
    The binary comes from binary=, $LEAKSCOPE_BIN, the checkout's
    bin/leakscope, or PATH.
    """
    req = {"op": "init", "experiment": experiment, "marker": marker}
    for k, v in (("source", source), ("source_prompt", source_prompt), ("model", model), ("run", run),
                 ("sweep", sweep), ("plan", plan), ("config", config)):
        if v is not None:
            req[k] = v
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise LeakscopeError("%r is not an integer" % (seed,), field="seed")
        req["seed"] = seed
    if factors:
        if not hasattr(factors, "items"):
            raise LeakscopeError("is %s, want a dict of factor names to values" % type(factors).__name__, field="factors")
        req["factors"] = {str(k): _factor_value(k, v) for k, v in factors.items()}
    for k in ("plan", "config"):
        if k in req:
            _json_field(req[k], k)
    sc = Sidecar(binary=binary, data=data, nats_url=nats_url, embedded=embedded, batch=batch)
    try:
        answer = sc.request(req)
    except BaseException:
        sc.close()
        raise
    return Run(sc, answer)
