"""The JSON-lines server loop (PROTOCOL.md): framing, validation, dispatch, error kinds.

One request per stdin line, handled in order; replies are single JSON lines on the
*protocol stream*, which is the process's original stdout. ``take_stdout`` moves that stream
to a private file descriptor and points fd 1 and ``sys.stdout`` at stderr, so a ``print`` in
any library, or a C extension writing to fd 1, can never corrupt the protocol.

This module imports no torch: ``hello`` and every validation error work without it. The
first op that needs a model imports ``hf`` (torch, transformers, peft); if that fails the op
gets a ``runtime`` error naming the missing module.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import sys
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

from . import PROTOCOL_VERSION, __version__, schema
from .errors import BadRequest, TorchMissing

#: emit(type, fields): send one non-final message (completion, log, progress) for the request.
Emit = Callable[[str, dict[str, Any]], None]

OPS = ("hello", "load", "generate", "train", "embed", "shutdown")


def take_stdout() -> BinaryIO:
    """Return a binary stream on the original stdout and send fd 1 and ``sys.stdout`` to stderr.

    Call once, at start-up, before importing anything that may print.
    """
    sys.stdout.flush()
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(proto_fd, "wb")


def _finite(v: Any) -> Any:
    """Replace NaN/inf floats (not valid JSON) by ``None``, recursively."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def encode(msg: dict[str, Any]) -> bytes:
    """One protocol line: compact ASCII JSON (non-ASCII as ``\\u`` escapes) plus ``\\n``."""
    try:
        text = json.dumps(msg, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(msg), ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.encode("ascii") + b"\n"


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def hello() -> dict[str, Any]:
    """The ``hello`` result; library fields are ``None`` where a library is missing."""
    torch_version, cuda, gpu = None, False, None
    try:
        import torch  # noqa: PLC0415 (optional, heavy)

        torch_version = str(torch.__version__)
        cuda = bool(torch.cuda.is_available())
        gpu = torch.cuda.get_device_name(0) if cuda else None
    except Exception:  # noqa: BLE001 (missing or broken torch: report null)
        pass
    return {
        "protocol": PROTOCOL_VERSION,
        "engine_version": __version__,
        "python": platform.python_version(),
        "torch": torch_version,
        "transformers": _dist_version("transformers"),
        "peft": _dist_version("peft"),
        "cuda": cuda,
        "gpu": gpu,
    }


class Server:
    """Reads requests, writes replies. ``engine_factory`` builds the torch engine on first use."""

    def __init__(self, out: BinaryIO, engine_factory: Callable[[], Any] | None = None) -> None:
        self._out = out
        self._engine_factory = engine_factory or _default_engine
        self._engine: Any = None

    # -------------------------------------------------------------- output

    def send(self, msg: dict[str, Any]) -> None:
        """Write one line to the protocol stream and flush it."""
        self._out.write(encode(msg))
        self._out.flush()

    def _error(self, rid: int | None, kind: str, message: str) -> None:
        self.send({"id": rid, "type": "error", "error": message, "kind": kind})

    # -------------------------------------------------------------- loop

    def serve(self, inp: BinaryIO) -> int:
        """Handle lines until ``shutdown`` or end of input; return the exit status (0)."""
        for raw in inp:
            if not self.handle_line(raw):
                break
        return 0

    def handle_line(self, raw: bytes) -> bool:
        """Handle one input line; return ``False`` after ``shutdown``. Blank lines are skipped."""
        line = raw.strip()
        if not line:
            return True
        try:
            req = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            self._error(None, "bad_request", f"not a JSON line: {e}")
            return True
        if not isinstance(req, dict):
            self._error(None, "bad_request", f"a request is a JSON object, got {type(req).__name__}")
            return True
        rid = req.get("id")
        if isinstance(rid, bool) or not isinstance(rid, int):
            self._error(None, "bad_request", "a request needs an integer id")
            return True
        op = req.get("op")
        if op not in OPS:
            self._error(rid, "bad_request", f"unknown op {op!r}; ops: {', '.join(OPS)}")
            return True
        try:
            result = self._dispatch(rid, op, req)
        except BadRequest as e:
            self._error(rid, "bad_request", str(e))
            return True
        except TorchMissing as e:
            self._error(rid, "runtime", str(e))
            return True
        except Exception as e:  # noqa: BLE001 (every other failure is a runtime error)
            traceback.print_exc(file=sys.stderr)
            self._recover()
            self._error(rid, "runtime", f"{type(e).__name__}: {e}")
            return True
        self.send({"id": rid, "type": "result", "result": result})
        return op != "shutdown"

    # -------------------------------------------------------------- dispatch

    def _dispatch(self, rid: int, op: str, req: dict[str, Any]) -> dict[str, Any]:
        def emit(kind: str, fields: dict[str, Any]) -> None:
            self.send({"id": rid, "type": kind, **fields})

        if op == "hello":
            return hello()
        if op == "shutdown":
            return {}
        if op == "load":
            parsed: Any = schema.parse_load(req)
            return self._torch_engine().load(parsed, emit)
        if op == "generate":
            parsed = schema.parse_generate(req)
            return self._torch_engine().generate(parsed, emit)
        if op == "train":
            parsed = schema.parse_train(req)
            return self._torch_engine().train(parsed, emit)
        parsed = schema.parse_embed(req)
        return self._torch_engine().embed(parsed, emit)

    def _torch_engine(self) -> Any:
        if self._engine is None:
            self._engine = self._engine_factory()
        return self._engine

    def _recover(self) -> None:
        """After a runtime error, let the engine free what it can (CUDA cache after an OOM)."""
        if self._engine is not None:
            try:
                self._engine.recover()
            except Exception:  # noqa: BLE001
                traceback.print_exc(file=sys.stderr)


def _default_engine() -> Any:
    """Import ``hf`` lazily; a missing torch/transformers/peft becomes ``TorchMissing``."""
    for name in ("torch", "transformers", "peft"):  # name the most basic missing one
        if importlib.util.find_spec(name) is None:
            raise TorchMissing(
                f"{name} is not installed: load, generate, train and embed need torch, "
                "transformers and peft")
    try:
        from . import hf  # noqa: PLC0415 (torch is optional)
    except ImportError as e:
        missing = getattr(e, "name", None) or "torch"
        raise TorchMissing(
            f"{missing} is not installed: load, generate, train and embed need torch, "
            f"transformers and peft ({e})") from e
    return hf.Engine()
