"""Finding the leakscope binary the package drives."""

import os
import shutil

from .errors import LeakscopeError

_REPO_BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bin", "leakscope")


def find_binary(binary=None):
    """Return the path of the leakscope executable.

    Looks, in order, at ``binary``, ``$LEAKSCOPE_BIN``, ``bin/leakscope`` of
    the repository this package sits in (when used from a checkout), then
    ``leakscope`` on ``PATH``. Raises LeakscopeError naming every place tried.
    """
    tried = []
    for origin, path in (("binary=", binary), ("$LEAKSCOPE_BIN", os.environ.get("LEAKSCOPE_BIN"))):
        if path:
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
            # An explicit choice that is wrong is an error, not a reason to look elsewhere.
            raise LeakscopeError("%s %r is not an executable file" % (origin, path))
        tried.append(origin + " (not set)")
    if os.path.isfile(_REPO_BIN) and os.access(_REPO_BIN, os.X_OK):
        return _REPO_BIN
    tried.append(_REPO_BIN + " (absent; `make build` makes it)")
    found = shutil.which("leakscope")
    if found:
        return found
    tried.append("leakscope on PATH (absent)")
    raise LeakscopeError("leakscope binary not found; tried: " + "; ".join(tried))
