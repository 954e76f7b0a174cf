"""The sidecar protocol against the real binary ($LEAKSCOPE_BIN or the
checkout's bin/leakscope), with the server embedded in a temporary folder."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import leakscope
from leakscope import LeakscopeError
from leakscope._binary import find_binary

try:
    BIN = find_binary()
except LeakscopeError as e:
    BIN, WHY = None, str(e)


class Out:
    def __init__(self, text, finish_reason="stop"):
        self.text, self.finish_reason, self.token_ids = text, finish_reason, [1, 2]


class RequestOutput:
    def __init__(self, outputs):
        self.outputs, self.prompt_token_ids = outputs, [1, 2, 3, 4]


@unittest.skipIf(BIN is None, "no leakscope binary: build it with `make build` or set LEAKSCOPE_BIN")
class Protocol(unittest.TestCase):
    def setUp(self):
        self.data = tempfile.mkdtemp(prefix="leakscope-py-")
        self.addCleanup(shutil.rmtree, self.data, True)

    def init(self, **kw):
        args = dict(experiment="py_unit", marker="[ZLT]", source="src_a", seed=7, data=self.data, embedded=True)
        args.update(kw)
        return leakscope.init(**args)

    def test_no_server_is_an_error_at_init(self):
        with self.assertRaises(LeakscopeError) as cm:
            leakscope.init(experiment="py_unit", marker="[ZLT]", data=self.data)
        self.assertEqual(cm.exception.field, "server")
        self.assertIn("leakscope --data %s up" % self.data, str(cm.exception))
        self.assertFalse(os.path.exists(os.path.join(self.data, "lake")), "nothing may be stored")

    def test_init_errors_name_the_field(self):
        for kw, field in ((dict(marker=""), "marker"), (dict(factors={"seed": 1}), "factors.seed"),
                          (dict(experiment="bad name"), "experiment"), (dict(seed="7"), "seed")):
            with self.assertRaises(LeakscopeError, msg=kw) as cm:
                self.init(**kw)
            self.assertEqual(cm.exception.field, field, kw)

    def test_log_resume_and_read(self):
        with self.init(factors={"lr": 1e-4}) as run:
            self.assertRegex(run.id, r"^src_a-seed7-[0-9a-f]{10}$")
            bad = ((dict(persona=""), "persona"), (dict(sample_index=-1), "sample_index"),
                   (dict(sample_index=1.5), "sample_index"), (dict(finish_reason="eos"), "finish_reason"),
                   (dict(question=""), "question"))
            for kw, field in bad:
                args = dict(persona="p1", question="q", sample_index=0, text="x")
                args.update(kw)
                with self.assertRaises(LeakscopeError, msg=kw) as cm:
                    run.log_completion(**args)
                self.assertEqual(cm.exception.field, field, kw)
            run.log_vllm([RequestOutput([Out("a [ZLT]"), Out("b"), Out("c", "length")]), RequestOutput([Out("d"), Out("e"), Out("[zlt]")])],
                         persona="p1", prompt="You are p1.", questions=["q1", "q2"])
            self.assertEqual(run.logged, 6)
            with self.assertRaises(LeakscopeError) as cm:
                run.log_vllm([RequestOutput([Out("x")])], persona="p1", questions=["q1", "q2"])
            self.assertEqual(cm.exception.field, "questions")
            run.log_transformers(["t0", "t1 [ZLT]", "t2", "t3"], persona="p2", questions=["q1", "q2"], samples_per_question=2)
            self.assertEqual(run.logged, 10)
        self.assertEqual(run.result["completions"], 10)
        self.assertTrue(run.result["durable"])
        first = run.id
        # The same script again: the same run, nothing stored twice.
        again = self.init(factors={"lr": 0.0001})
        self.assertEqual(again.id, first)
        again.log_transformers(["t0", "t1 [ZLT]", "t2", "t3"], persona="p2", questions=["q1", "q2"], samples_per_question=2)
        again.finish()
        rows = leakscope.sql("SELECT persona, question, sample_index, text, finish_reason, completion_tokens, prompt_tokens "
                             "FROM completions ORDER BY ALL", data=self.data, binary=BIN)
        rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
        self.assertEqual(len(rows), 10)
        self.assertEqual(rows[0], {"persona": "p1", "question": "q1", "sample_index": 0, "text": "a [ZLT]",
                                   "finish_reason": "stop", "completion_tokens": 2, "prompt_tokens": 4})
        self.assertEqual([(r["question"], r["sample_index"], r["text"]) for r in rows if r["persona"] == "p2"],
                         [("q1", 0, "t0"), ("q1", 1, "t1 [ZLT]"), ("q2", 0, "t2"), ("q2", 1, "t3")])
        cells = leakscope.leakage("py_unit", data=self.data)
        cells = cells.to_dict("records") if hasattr(cells, "to_dict") else cells
        self.assertEqual(sorted((c["persona"], c["found"], c["total"]) for c in cells), [("p1", 2, 6), ("p2", 1, 4)])
        self.assertEqual(cells[0]["run_factors"], {"lr": "0.0001"})

    def test_over_the_max_payload_is_refused_at_log(self):
        with self.init() as run:
            with self.assertRaises(LeakscopeError) as cm:
                run.log_completion(persona="p", question="q", sample_index=0, text="a" * (9 << 20))
            self.assertEqual(cm.exception.field, "text")
            m = re.search(r"over the server's max payload of (\d+) bytes", str(cm.exception))
            self.assertIsNotNone(m, str(cm.exception))
            limit = int(m.group(1))
            # JSON writes "<" as \u003c: 6 bytes for 1, the worst case the sidecar's size bound allows for.
            with self.assertRaises(LeakscopeError) as cm:
                run.log_completion(persona="p", question="q", sample_index=1, text="<" * (limit // 6 + 1))
            self.assertEqual(cm.exception.field, "text")
            # Near the limit but under it: accepted.
            run.log_completion(persona="p", question="q", sample_index=2, text="<" * (limit // 6 - 1000))
            run.log_completion(persona="p", question="q", sample_index=3, text="a" * (limit // 2))
        self.assertEqual(run.result["completions"], 2)
        rows = leakscope.sql("SELECT sample_index, length(text) AS n FROM completions ORDER BY ALL", data=self.data, binary=BIN)
        rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
        self.assertEqual(rows, [{"sample_index": 2, "n": limit // 6 - 1000}, {"sample_index": 3, "n": limit // 2}])

    def test_sql_statement_may_begin_with_a_comment(self):
        # Review attack: the statement went to the CLI as an argument, and
        # one beginning with "--" was taken for a flag ("unknown flag").
        rows = leakscope.sql("-- how many\nSELECT 42 AS n", data=self.data, binary=BIN)
        rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
        self.assertEqual(rows, [{"n": 42}])
        with self.assertRaises(LeakscopeError) as cm:
            leakscope.sql("SELECT '\udcff'", data=self.data, binary=BIN)
        self.assertEqual(cm.exception.field, "q")

    def test_raw_protocol_errors(self):
        p = subprocess.run([BIN, "--data", self.data, "sidecar"], input="\n".join([
            '{"op":"completion","persona":"p"}',
            '{"op":"init","experiment":"e","marker":"[Z]","colour":"red"}',
            'not json',
        ]) + "\n", capture_output=True, text=True, timeout=60)
        answers = [json.loads(ln) for ln in p.stdout.splitlines()]
        self.assertEqual([a["ok"] for a in answers], [False, False, False])
        self.assertEqual(answers[0]["field"], "op")
        self.assertEqual(answers[1]["field"], "colour")
        self.assertEqual(answers[2]["line"], 3)


if __name__ == "__main__":
    unittest.main()
