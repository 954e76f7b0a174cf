"""A test client: runs ``python3 -m leakscope_engine`` as a child and speaks the protocol.

Every stdout line the engine writes is recorded raw (``stdout_lines``) so tests can assert
that nothing but JSON objects ever appeared there.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ENGINE_DIR = Path(__file__).resolve().parent.parent


def engine_env() -> dict[str, str]:
    """The environment for child processes: the package importable from anywhere."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ENGINE_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class EngineProcess:
    """One engine child process; ``request`` sends a request and collects its replies."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "leakscope_engine"], cwd=ENGINE_DIR, env=engine_env(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stdout_lines: list[bytes] = []
        self.stderr_chunks: list[bytes] = []
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._next_id = 1
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for chunk in iter(lambda: self.proc.stderr.read1(65536), b""):  # type: ignore[union-attr]
            self.stderr_chunks.append(chunk)
            if os.environ.get("ENGINE_TEST_STDERR"):
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()

    @property
    def stderr(self) -> str:
        return b"".join(self.stderr_chunks).decode("utf-8", "replace")

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def next_message(self, timeout: float = 60.0) -> dict[str, Any]:
        """The next stdout line, parsed; fails the test (AssertionError) on EOF or timeout."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no engine reply within {timeout}s; stderr:\n{self.stderr[-4000:]}")
        if line is None:
            raise AssertionError(f"engine stdout closed; stderr:\n{self.stderr[-4000:]}")
        msg = json.loads(line)
        assert isinstance(msg, dict), line
        return msg

    def request(self, op: str, timeout: float = 120.0, **args: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Send ``{"id", "op", **args}``; return (final result/error message, earlier messages)."""
        rid = self._next_id
        self._next_id += 1
        self.send_raw((json.dumps({"id": rid, "op": op, **args}) + "\n").encode())
        return self.collect(rid, timeout)

    def collect(self, rid: int | None, timeout: float = 120.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Messages for ``rid`` up to and including its ``result`` or ``error``."""
        before = []
        while True:
            msg = self.next_message(timeout)
            assert msg.get("id") == rid, f"reply for id {msg.get('id')}, expected {rid}: {msg}"
            if msg["type"] in ("result", "error"):
                return msg, before
            before.append(msg)

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
