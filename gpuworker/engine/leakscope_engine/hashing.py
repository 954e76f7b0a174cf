"""Content hashes the engine reports (PROTOCOL.md ``load`` and ``train``).

* ``model_config_sha256``: SHA-256 of the model directory's ``config.json`` bytes.
* ``adapter_sha256``: SHA-256 over the adapter folder's files sorted by name, each fed as
  ``name, NUL, bytes, NUL``. "name" is the path relative to the folder with ``/`` separators
  (for peft's flat folders that is just the file name); names sort by code point, which is
  the same order as Go's byte-wise ``sort.Strings`` on their UTF-8 encodings.
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
    """Relative ``/``-separated names of the regular files under ``folder``, sorted."""
    names: list[str] = []
    for root, _dirs, files in os.walk(folder):
        for fn in files:
            full = os.path.join(root, fn)
            if os.path.isfile(full):
                names.append(os.path.relpath(full, folder).replace(os.sep, "/"))
    return sorted(names)


def dir_sha256(folder: str) -> str:
    """Hex SHA-256 over ``name NUL bytes NUL`` for every file of ``folder``, sorted by name."""
    h = hashlib.sha256()
    for name in folder_files(folder):
        h.update(name.encode("utf-8"))
        h.update(b"\0")
        with open(os.path.join(folder, *name.split("/")), "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()
