"""``python3 -m leakscope_engine``: serve the JSON-lines engine protocol on stdin/stdout."""

from __future__ import annotations

import argparse
import os
import sys

from . import PROTOCOL_VERSION, __version__

DESCRIPTION = f"""\
leakscope GPU engine {__version__} (protocol {PROTOCOL_VERSION}).

Reads one JSON request per line on stdin and writes JSON-line replies on stdout, one
request at a time, in order:

  request  {{"id": <int>, "op": "hello|load|generate|train|embed|shutdown", ...}}
  replies  {{"id", "type": "result"|"error"|"completion"|"log"|"progress", ...}}

Errors carry "kind": "bad_request" (the request is wrong) or "runtime" (a retry may help).
Only protocol lines go to stdout; logs and library output go to stderr. The engine exits 0
on "shutdown" or when stdin closes. load/generate/train/embed need torch, transformers and
peft; hello and request validation work without them.

The exact contract is gpuworker/engine/PROTOCOL.md. A tiny test model for machines without
weights: python3 -m leakscope_engine.tiny --out DIR.
"""


def main(argv: list[str] | None = None) -> int:
    """Parse flags, protect stdout, serve until shutdown or EOF; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python3 -m leakscope_engine", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"leakscope_engine {__version__} (protocol {PROTOCOL_VERSION})")
    parser.parse_args(argv)

    # Local model directories only: never wait on a hub that cannot be reached.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from .protocol import Server, take_stdout  # noqa: PLC0415

    out = take_stdout()
    try:
        return Server(out).serve(sys.stdin.buffer)
    except BrokenPipeError:
        # The worker is gone; there is no one left to answer.
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
