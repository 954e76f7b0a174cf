"""Typing of what the readers return, without a server."""

import datetime
import unittest

from leakscope import frames


class Typing(unittest.TestCase):
    def test_parse_time(self):
        t = frames.parse_time("2026-03-01T12:30:05.123456789Z")
        self.assertEqual(t, datetime.datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=datetime.timezone.utc))
        self.assertEqual(frames.parse_time("2026-03-01T12:30:05+02:00").utcoffset(), datetime.timedelta(hours=2))
        self.assertIsNone(frames.parse_time(None))
        with self.assertRaises(ValueError):
            frames.parse_time("yesterday")

    def test_duckdb_kinds(self):
        cases = {"BIGINT": "int", "INTEGER": "int", "DOUBLE": "float", "DECIMAL(18,3)": "float", "BOOLEAN": "bool",
                 "TIMESTAMP WITH TIME ZONE": "time", "TIMESTAMP": "time", "DATE": "time", "VARCHAR": "str",
                 "VARCHAR[]": "object", "STRUCT(a INTEGER)": "object"}
        for t, k in cases.items():
            self.assertEqual(frames._kind(t), k, t)

    def test_frame_converts_and_keeps_provenance(self):
        rows = [{"n": 3, "rate": 1, "at": "2026-01-02T03:04:05Z", "missing": None}]
        out = frames._frame(rows, ["n", "rate", "at", "missing"], {"n": "int", "rate": "float", "at": "time", "missing": "float"},
                            {"query": "q"})
        self.assertEqual(out.attrs["provenance"], {"query": "q"})
        if frames._pd is None:
            r = out[0]
            self.assertIsInstance(r["rate"], float)
            self.assertEqual(r["at"].year, 2026)
            self.assertIsNone(r["missing"])
        else:
            self.assertEqual(str(out["n"].dtype), "Int64")
            self.assertEqual(str(out["rate"].dtype), "float64")
            self.assertTrue(str(out["at"].dtype).startswith("datetime64"))

    def test_inferred_ints_only_for_counts(self):
        k = frames._infer_kinds([{"found": 2, "boot_low": 0, "started_at": "2026-01-01T00:00:00Z"}],
                                ["found", "boot_low", "started_at"])
        self.assertEqual(k, {"found": "int", "boot_low": "float", "started_at": "time"})

    def test_scope(self):
        kw = {"runs": ["a", "b"], "seed": 42, "where": {"lr": "1e-4", "trait": ["A", "B"]}, "include_retracted": True, "x": 1}
        s = frames._scope(kw)
        self.assertEqual(kw, {"x": 1})  # left for the caller to reject
        self.assertEqual(frames._scope_flags(s), ["--run", "a", "--run", "b", "--seed", "42", "--where", "lr=1e-4",
                                                  "--where", "trait=A|B", "--include-retracted"])
        self.assertEqual(frames._scope_params(s), {"runs": "a,b", "seeds": "42", "where": "lr=1e-4;trait=A|B",
                                                   "include_retracted": "true"})
        with self.assertRaisesRegex(Exception, "unknown argument"):
            frames.leakage("e", data="/nonexistent", bogus=1)


if __name__ == "__main__":
    unittest.main()
