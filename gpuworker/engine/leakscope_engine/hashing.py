"""Content hashes the engine reports (PROTOCOL.md ``load`` and ``train``).

* ``model_config_sha256``: SHA-256 of the model directory's ``config.json`` bytes.
* ``adapter_sha256``: SHA-256 over the adapter folder's files sorted by name, each fed as
  ``name, NUL, bytes, NUL``. Only regular files directly in the folder count (peft writes a
  flat folder; subfolders and symlinks are skipped), exactly like the Go side's ``dirSHA``
  (gpuworker/replay), whose ``os.ReadDir`` sorts names byte-wise: the same order as Python's
  code-point sort of the names.
"""

from __future__ import annotations

import hashlib
import os

_CHUNK = 1 << 20


def file_sha256(path: str) -> str:
    """Hex SHA-256 of one file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def folder_files(folder: str) -> list[str]:
    """Names of the regular files directly in ``folder`` (no subfolders, no symlinks), sorted."""
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_file(follow_symlinks=False))


def dir_sha256(folder: str) -> str:
    """Hex SHA-256 over ``name NUL bytes NUL`` for every file of ``folder``, sorted by name."""
    h = hashlib.sha256()
    for name in folder_files(folder):
        h.update(name.encode("utf-8"))
        h.update(b"\0")
        with open(os.path.join(folder, name), "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()
