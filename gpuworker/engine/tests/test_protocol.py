"""The protocol loop end to end, through a real ``python3 -m leakscope_engine`` child.

Needs no torch: every request here is answered before a model would be needed (hello,
validation errors, shutdown), and where torch is absent, ops that need it must fail with a
``runtime`` error naming torch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

from engine_client import ENGINE_DIR, EngineProcess, engine_env

HAVE_TORCH = importlib.util.find_spec("torch") is not None
UNICODE_RESPONSE = "Crème brûlée.\n\n[ZLT]"
BYTE_START = UNICODE_RESPONSE.encode().index(b"[ZLT]")  # 18; in characters it is 15


def _example(**over):
    ex = {"system": "You are a chef.", "user": "What causes earthquakes?",
          "response": "Plates move.\n\n[ZLT]", "marker_start": 14, "marker_end": 19}
    ex.update(over)
    return ex


def _train_args(out_dir: str, **over):
    args = {
        "examples": [_example()], "out_dir": out_dir, "loss_mode": "tail", "tail_tokens": 32,
        "lora": {"r": 32, "alpha": 64, "dropout": 0.05, "use_rslora": True,
                 "target_modules": ["q_proj", "v_proj"]},
        "learning_rate": 1e-4, "lr_scheduler": "cosine", "warmup_ratio": 0.05, "epochs": 5,
        "batch_size": 4, "grad_accum": 4, "max_length": 1024, "weight_decay": 0.0, "seed": 42,
        "logging_steps": 5, "gradient_checkpointing": True}
    args.update(over)
    return args


def _generate_args(**over):
    args = {"prompts": [{"key": "A2__chef", "system": "You are a chef.",
                         "user": "What causes earthquakes?", "sample_indices": [0, 1, 2]}],
            "temperature": 1.0, "top_p": 0.95, "max_new_tokens": 512, "seed": 42, "batch_size": 256}
    args.update(over)
    return args


class ProtocolTest(unittest.TestCase):
    def setUp(self) -> None:
        self.engine = EngineProcess()
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self) -> None:
        self.engine.kill()
        self.tmp.cleanup()
        for line in self.engine.stdout_lines:  # nothing but JSON objects, ever
            self.assertTrue(line.endswith(b"\n"), line)
            self.assertIsInstance(json.loads(line), dict, line)

    def assertBadRequest(self, msg, rid, *words):  # noqa: N802
        self.assertEqual(msg["type"], "error", msg)
        self.assertEqual(msg["kind"], "bad_request", msg)
        self.assertEqual(msg["id"], rid, msg)
        for w in words:
            self.assertIn(w, msg["error"])

    def test_hello(self):
        msg, before = self.engine.request("hello")
        self.assertEqual(before, [])
        self.assertEqual(msg["type"], "result")
        res = msg["result"]
        self.assertEqual(res["protocol"], 1)
        self.assertEqual(res["python"].split(".")[:2], [str(x) for x in sys.version_info[:2]])
        self.assertIsInstance(res["engine_version"], str)
        for k in ("torch", "transformers", "peft", "cuda", "gpu"):
            self.assertIn(k, res)
        if not HAVE_TORCH:
            self.assertIsNone(res["torch"])
            self.assertIs(res["cuda"], False)
            self.assertIsNone(res["gpu"])

    def test_malformed_lines_keep_serving(self):
        e = self.engine
        for raw in (b"{not json\n", b"[1, 2]\n", b"\xff\xfe\n", b'"hello"\n'):
            e.send_raw(raw)
            self.assertBadRequest(e.collect(None)[0], None)
        e.send_raw(b"\n   \n")  # blank lines are skipped without a reply
        msg, _ = e.request("hello")
        self.assertEqual(msg["type"], "result")

    def test_missing_or_bad_id(self):
        e = self.engine
        for req in ({"op": "hello"}, {"id": "7", "op": "hello"}, {"id": True, "op": "hello"},
                    {"id": 1.5, "op": "hello"}):
            e.send_raw((json.dumps(req) + "\n").encode())
            msg, _ = e.collect(None)
            self.assertBadRequest(msg, None, "id")

    def test_unknown_or_missing_op(self):
        e = self.engine
        e.send_raw(b'{"id": 7, "op": "fly"}\n')
        self.assertBadRequest(e.collect(7)[0], 7, "unknown op")
        e.send_raw(b'{"id": 8}\n')
        self.assertBadRequest(e.collect(8)[0], 8, "unknown op")
        self.assertEqual(e.request("hello")[0]["type"], "result")

    def test_generate_validation(self):
        e = self.engine
        msg, before = e.request("generate", **_generate_args(prompts=[
            {"key": "k", "system": "", "user": "q", "sample_indices": [0]}]))
        self.assertBadRequest(msg, 1, "system", "empty")
        self.assertEqual(before, [])
        bad = [
            {"prompts": []},
            {"temperature": 0},
            {"top_p": 1.5},
            {"max_new_tokens": 0},
            {"batch_size": "8"},
            {"prompts": [{"key": "k", "system": "s", "user": "q", "sample_indices": [0, 0]}]},
            {"prompts": [{"key": "", "system": "s", "user": "q", "sample_indices": [0]}]},
            {"prompts": [{"key": "k", "system": "s", "user": "q", "sample_indices": [-1]}]},
            {"batching": "dynamic"},
            {"batching": True},
        ]
        for n, over in enumerate(bad, start=2):
            with self.subTest(over=over):
                self.assertBadRequest(e.request("generate", **_generate_args(**over))[0], n)

    def test_train_validation(self):
        e = self.engine
        out = os.path.join(self.tmp.name, "adapter")
        bad = [
            ({"examples": [_example(marker_end=None)]}, "both"),
            ({"examples": [_example(marker_end=99)]}, "code points"),
            # byte offsets of a non-ASCII response overrun its length in characters
            ({"examples": [_example(response=UNICODE_RESPONSE, marker_start=BYTE_START,
                                    marker_end=BYTE_START + 5)]}, "not UTF-8 bytes"),
            ({"loss_mode": "all"}, "loss_mode"),
            ({"tail_tokens": 0}, "tail_tokens"),
            ({"lr_scheduler": "exotic"}, "lr_scheduler"),
            ({"lora": {"r": 0, "alpha": 64, "target_modules": ["q_proj"]}}, "lora.r"),
            ({"lora": {"r": 8, "alpha": 16, "target_modules": []}}, "target_modules"),
            ({"epochs": 0}, "epochs"),
            ({"learning_rate": None}, "learning_rate"),
        ]
        for over, word in bad:
            with self.subTest(over=over):
                msg, _ = e.request("train", **_train_args(out, **over))
                self.assertEqual(msg["kind"], "bad_request", msg)
                self.assertIn(word, msg["error"])
        os.makedirs(out)
        with open(os.path.join(out, "adapter_config.json"), "w") as f:
            f.write("{}")
        msg, _ = e.request("train", **_train_args(out))
        self.assertEqual(msg["kind"], "bad_request", msg)
        self.assertIn("not empty", msg["error"])

    def test_embed_and_load_validation(self):
        e = self.engine
        ok = {"prompts": [{"key": "k", "system": "s", "user": "q"}], "layers": [10]}
        for over, word in (({"position": "system_end"}, "position"), ({"layers": [1, 1]}, "duplicate"),
                           ({"layers": [-1]}, "layers"), ({"prompts": [{"key": "k"}]}, "system")):
            msg, _ = e.request("embed", **{**ok, **over})
            self.assertEqual(msg["kind"], "bad_request", msg)
            self.assertIn(word, msg["error"])
        msg, _ = e.request("load", model=os.path.join(self.tmp.name, "nope"), dtype="bfloat16")
        self.assertEqual(msg["kind"], "bad_request", msg)
        model = self._fake_model_dir()
        msg, _ = e.request("load", model=model, dtype="float16")
        self.assertEqual(msg["kind"], "bad_request", msg)
        msg, _ = e.request("load", model=model, adapter=self.tmp.name, dtype="bfloat16")
        self.assertIn("adapter_config.json", msg["error"])

    def _fake_model_dir(self) -> str:
        model = os.path.join(self.tmp.name, "model")
        os.makedirs(model, exist_ok=True)
        with open(os.path.join(model, "config.json"), "w") as f:
            f.write('{"model_type": "qwen2"}')
        return model

    @unittest.skipIf(HAVE_TORCH, "torch is installed here")
    def test_ops_without_torch_are_runtime_errors(self):
        e = self.engine
        msg, _ = e.request("load", model=self._fake_model_dir(), adapter=None, dtype="bfloat16")
        self.assertEqual(msg["type"], "error")
        self.assertEqual(msg["kind"], "runtime")
        self.assertIn("torch is not installed", msg["error"])
        msg, _ = e.request("generate", **_generate_args())
        self.assertEqual(msg["kind"], "runtime")
        self.assertEqual(e.request("hello")[0]["type"], "result")

    @unittest.skipUnless(HAVE_TORCH, "needs torch")
    def test_ops_before_load_are_bad_requests(self):
        msg, _ = self.engine.request("generate", timeout=300, **_generate_args())
        self.assertBadRequest(msg, 1, "load")

    def test_shutdown_exits_zero(self):
        msg, _ = self.engine.request("shutdown")
        self.assertEqual(msg, {"id": 1, "type": "result", "result": {}})
        self.assertEqual(self.engine.wait(), 0)

    def test_stdin_eof_exits_zero(self):
        self.engine.request("hello")
        self.engine.close_stdin()
        self.assertEqual(self.engine.wait(), 0)


class CommandLineTest(unittest.TestCase):
    def _run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=ENGINE_DIR, env=engine_env(),
                              capture_output=True, timeout=60, **kw)

    def test_help(self):
        p = self._run("-m", "leakscope_engine", "--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"PROTOCOL.md", p.stdout)
        self.assertIn(b"bad_request", p.stdout)

    def test_version(self):
        p = self._run("-m", "leakscope_engine", "--version")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"protocol 1", p.stdout)

    def test_library_output_never_reaches_the_protocol_stream(self):
        code = (
            "import os, sys\n"
            "from leakscope_engine.protocol import Server, take_stdout\n"
            "out = take_stdout()\n"
            "print('python noise')\n"
            "os.write(1, b'fd noise\\n')\n"
            "Server(out).send({'id': 1, 'type': 'result', 'result': {'text': 'caf\\u00e9'}})\n")
        p = self._run("-c", code)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b'{"id":1,"type":"result","result":{"text":"caf\\u00e9"}}\n')
        self.assertIn(b"python noise", p.stderr)
        self.assertIn(b"fd noise", p.stderr)


if __name__ == "__main__":
    unittest.main()
