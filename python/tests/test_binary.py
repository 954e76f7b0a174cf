"""Binary discovery: binary=, $LEAKSCOPE_BIN, the checkout's bin/leakscope, PATH."""

import os
import stat
import tempfile
import unittest
from unittest import mock

from leakscope import LeakscopeError, _binary


def executable(dir, name="leakscope"):
    p = os.path.join(dir, name)
    with open(p, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(p, os.stat(p).st_mode | stat.S_IXUSR)
    return p


class FindBinary(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.env = mock.patch.dict(os.environ, {"PATH": self.tmp.name}, clear=False)
        self.env.start()
        self.addCleanup(self.env.stop)
        os.environ.pop("LEAKSCOPE_BIN", None)
        no_repo = mock.patch.object(_binary, "_REPO_BIN", os.path.join(self.tmp.name, "absent", "leakscope"))
        no_repo.start()
        self.addCleanup(no_repo.stop)

    def test_argument_first(self):
        a = executable(self.tmp.name, "a")
        os.environ["LEAKSCOPE_BIN"] = executable(self.tmp.name, "b")
        self.assertEqual(_binary.find_binary(a), a)

    def test_env_before_path(self):
        executable(self.tmp.name)  # on PATH
        os.environ["LEAKSCOPE_BIN"] = b = executable(self.tmp.name, "b")
        self.assertEqual(_binary.find_binary(), b)

    def test_explicit_but_wrong_is_an_error(self):
        with self.assertRaisesRegex(LeakscopeError, "binary= .*not an executable"):
            _binary.find_binary(os.path.join(self.tmp.name, "nope"))
        os.environ["LEAKSCOPE_BIN"] = os.path.join(self.tmp.name, "nope")
        with self.assertRaisesRegex(LeakscopeError, r"\$LEAKSCOPE_BIN .*not an executable"):
            _binary.find_binary()

    def test_checkout_then_path(self):
        p = executable(self.tmp.name)
        self.assertEqual(_binary.find_binary(), p)
        os.makedirs(os.path.join(self.tmp.name, "repo", "bin"))
        repo = executable(os.path.join(self.tmp.name, "repo", "bin"))
        with mock.patch.object(_binary, "_REPO_BIN", repo):
            self.assertEqual(_binary.find_binary(), repo)

    def test_nothing_names_every_place(self):
        with self.assertRaises(LeakscopeError) as cm:
            _binary.find_binary()
        msg = str(cm.exception)
        for part in ("binary=", "$LEAKSCOPE_BIN", "absent", "PATH"):
            self.assertIn(part, msg)


if __name__ == "__main__":
    unittest.main()
