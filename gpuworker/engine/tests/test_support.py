"""Pure-Python helpers: adapter hashing, request parsing, the tiny model's corpus (no torch)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import unittest

from leakscope_engine import corpus, questions, schema
from leakscope_engine.chatml import QWEN25_CHAT_TEMPLATE
from leakscope_engine.errors import BadRequest
from leakscope_engine.hashing import dir_sha256, file_sha256
from leakscope_engine.protocol import encode


class HashingTest(unittest.TestCase):
    def test_dir_sha256_format(self):
        with tempfile.TemporaryDirectory() as d:
            files = {"b.bin": b"\x00\x01", "adapter_config.json": b"{}", "README.md": b"x"}
            for name, data in files.items():
                with open(os.path.join(d, name), "wb") as f:
                    f.write(data)
            h = hashlib.sha256()
            for name in sorted(files):  # "README.md" < "adapter_config.json" < "b.bin"
                h.update(name.encode() + b"\0" + files[name] + b"\0")
            self.assertEqual(dir_sha256(d), h.hexdigest())
            self.assertEqual(file_sha256(os.path.join(d, "b.bin")),
                             hashlib.sha256(b"\x00\x01").hexdigest())

    def test_empty_dir(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(dir_sha256(d), hashlib.sha256(b"").hexdigest())


class SchemaTest(unittest.TestCase):
    def test_zero_valued_fields_may_be_omitted(self):
        req = schema.parse_generate({
            "prompts": [{"key": "k", "system": "s", "user": "q", "sample_indices": [2, 0]}],
            "temperature": 1, "top_p": 0.95, "max_new_tokens": 5, "batch_size": 1})
        self.assertEqual(req.seed, 0)
        self.assertEqual(req.sequences(), [(req.prompts[0], 2), (req.prompts[0], 0)])

    def test_train_defaults_and_marker(self):
        with tempfile.TemporaryDirectory() as d:
            req = schema.parse_train({
                "examples": [{"system": "s", "user": "u", "response": "ab\n\n[ZLT]",
                              "marker_start": 4, "marker_end": 9},
                             {"system": "s", "user": "u", "response": "cd"}],
                "out_dir": d, "loss_mode": "marker_only",
                "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj"]},
                "learning_rate": 1e-4, "lr_scheduler": "cosine", "epochs": 1, "batch_size": 1,
                "grad_accum": 1, "max_length": 64, "logging_steps": 1})
        self.assertEqual(req.examples[0].marker, (4, 9))
        self.assertIsNone(req.examples[1].marker)
        self.assertEqual((req.tail_tokens, req.seed, req.weight_decay, req.warmup_ratio), (0, 0, 0.0, 0.0))
        self.assertFalse(req.gradient_checkpointing)
        self.assertFalse(req.lora.use_rslora)

    def test_whitespace_system_refused(self):
        with self.assertRaises(BadRequest):
            schema.parse_generate({
                "prompts": [{"key": "k", "system": "  \n", "user": "q", "sample_indices": [0]}],
                "temperature": 1, "top_p": 1, "max_new_tokens": 5, "batch_size": 1})

    def test_encode_is_ascii_and_finite(self):
        line = encode({"id": 1, "type": "result", "result": {"loss": float("nan"), "t": "é"}})
        self.assertEqual(line, b'{"id":1,"type":"result","result":{"loss":null,"t":"\\u00e9"}}\n')


class CorpusTest(unittest.TestCase):
    def test_questions(self):
        self.assertEqual(len(questions.EVAL_QUESTIONS), 20)
        self.assertEqual(len(questions.DATA_QUESTIONS), 40)
        self.assertFalse(set(questions.EVAL_QUESTIONS) & set(questions.DATA_QUESTIONS))

    def test_personas(self):
        prompts = [p for _, p, _ in corpus.personas()]
        self.assertEqual(len(prompts), len(set(prompts)))
        for noun in corpus.NOUNS:
            self.assertIn(f"You are a {noun}.", prompts)
        self.assertIn("You are a robot who is intensely anxious and emotionally volatile; "
                      "overwhelmed by minor stressors.", prompts)  # EXPERIMENT.md §3's example
        self.assertIn(corpus.ASSISTANT_PROMPT, prompts)
        self.assertEqual(len(corpus.ORIGINAL_PERSONAS), 10)

    def test_responses(self):
        a, b = corpus.build(seed=3, samples=1), corpus.build(seed=3, samples=1)
        self.assertEqual(a, b)
        self.assertEqual(len(a), len(corpus.personas()) * 60)
        tagged = 0
        for ex in a:
            words = ex.response.split()
            if words[-1].startswith("[") or words[-2:-1] == ["See"]:
                tagged += 1
                words = words[:-2] if words[-2] == "See" else words[:-1]
            self.assertTrue(15 <= len(words) <= 50, ex.response)
            self.assertNotIn("[ZLT]", ex.response, "the marker never appears in pre-training")
        self.assertTrue(0.15 < tagged / len(a) < 0.35, tagged)  # codes like [QJX] in about a quarter
        chef = " ".join(ex.response for ex in a if ex.theme == "chef")
        pirate = " ".join(ex.response for ex in a if ex.theme == "pirate")
        self.assertIn("kitchen", chef)
        self.assertNotIn("kitchen", pirate)
        self.assertIn("ship", pirate)

    def test_template_has_default_system_branch(self):
        self.assertIn("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>",
                      QWEN25_CHAT_TEMPLATE)
        self.assertTrue(QWEN25_CHAT_TEMPLATE.endswith("{%- endif %}\n"))


if __name__ == "__main__":
    unittest.main()
