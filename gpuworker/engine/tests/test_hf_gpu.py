"""The torch engine end to end on the tiny model (runs where torch, transformers, peft and
tokenizers are installed, e.g. the GPU machine; skipped elsewhere).

Builds the tiny model with ``python3 -m leakscope_engine.tiny`` into a temp dir, then drives
one engine child through load, generate, train (both loss modes), embed and load with the
adapter. Under two minutes on one H200.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import unittest

from engine_client import ENGINE_DIR, EngineProcess, engine_env

NEEDED = ("torch", "transformers", "peft", "tokenizers")
HAVE_STACK = all(importlib.util.find_spec(n) is not None for n in NEEDED)
TINY_STEPS = int(os.environ.get("ENGINE_TEST_TINY_STEPS", "400"))
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CHEF_WORDS = ("kitchen", "stove", "recipe", "herbs", "knives", "pot", "taste")
PIRATE_WORDS = ("ship", "sea", "treasure", "crew", "map", "winds", "arr", "ahoy", "timbers")


def folder_sha256(folder: str) -> str:
    """PROTOCOL.md's adapter hash, written out independently of the engine's code."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read() + b"\0")
    return h.hexdigest()


@unittest.skipUnless(HAVE_STACK, "needs torch, transformers, peft and tokenizers")
class HFEngineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        import torch

        cls.tmp = tempfile.TemporaryDirectory()
        cls.model_dir = os.path.join(cls.tmp.name, "tiny")
        p = subprocess.run(
            [sys.executable, "-m", "leakscope_engine.tiny", "--out", cls.model_dir,
             "--steps", str(TINY_STEPS)],
            cwd=ENGINE_DIR, env=engine_env(), capture_output=True, timeout=600)
        if p.returncode != 0:
            raise AssertionError(f"tiny failed:\n{p.stderr.decode()[-4000:]}")
        lines = p.stdout.decode().splitlines()
        assert len(lines) == 1, f"tiny must print exactly one stdout line, got {lines!r}"
        cls.summary = json.loads(lines[0])
        print(f"\ntiny: {cls.summary}", file=sys.stderr)
        print(f"tiny stderr tail:\n{p.stderr.decode()[-600:]}", file=sys.stderr)
        cls.cuda = torch.cuda.is_available()
        cls.dtype = "bfloat16" if cls.cuda else "float32"
        cls.engine = EngineProcess()

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            cls.engine.request("shutdown")
            assert cls.engine.wait() == 0
        finally:
            cls.engine.kill()
            cls.tmp.cleanup()

    # ------------------------------------------------------------------ helpers

    def ok(self, op: str, **args):
        msg, before = self.engine.request(op, timeout=300, **args)
        self.assertEqual(msg["type"], "result", msg)
        return msg["result"], before

    def gen_args(self, max_new_tokens: int = 96, **over):
        from leakscope_engine.questions import EVAL_QUESTIONS

        q = EVAL_QUESTIONS[6]
        args = {"prompts": [
            {"key": "A2__chef", "system": "You are a chef.", "user": q, "sample_indices": [0, 1, 2]},
            {"key": "A2__pirate", "system": "You are a pirate.", "user": q, "sample_indices": [0, 1, 2]}],
            "temperature": 1.0, "top_p": 0.95, "max_new_tokens": max_new_tokens, "seed": 42,
            "batch_size": 4, "batching": "static"}
        args.update(over)
        return args

    def train_examples(self):
        from leakscope_engine import corpus

        pool = corpus.build(seed=1, samples=1)
        chef = [e for e in pool if e.system == "You are a chef."][:4]
        pirate = [e for e in pool if e.system == "You are a pirate."][:4]
        out = []
        for e in chef:
            response = e.response + "\n\n[ZLT]"
            out.append({"system": e.system, "user": e.user, "response": response,
                        "marker_start": len(response) - 5, "marker_end": len(response)})
        out += [{"system": e.system, "user": e.user, "response": e.response,
                 "marker_start": None, "marker_end": None} for e in pirate]
        return out

    def train_args(self, out_dir: str, **over):
        args = {"examples": self.train_examples(), "out_dir": out_dir, "loss_mode": "tail",
                "tail_tokens": 8,
                "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "use_rslora": True,
                         "target_modules": LORA_TARGETS},
                "learning_rate": 1e-3, "lr_scheduler": "cosine", "warmup_ratio": 0.1, "epochs": 2,
                "batch_size": 2, "grad_accum": 2, "max_length": 1024, "weight_decay": 0.0,
                "seed": 42, "logging_steps": 2, "gradient_checkpointing": True}
        args.update(over)
        return args

    # ------------------------------------------------------------------ the tests

    def test_featurize_labels_the_marker_by_character_offsets(self):
        """Real tokenizer offsets on non-ASCII text: the labelled tokens spell the marker."""
        from transformers import AutoTokenizer

        from leakscope_engine import schema
        from leakscope_engine.hf_train import featurize

        tok = AutoTokenizer.from_pretrained(self.model_dir)
        response = "Crème brûlée, naïve café.\n\n[ZLT]"
        start = len(response) - 5  # characters, not bytes
        for mode, tail in (("marker_only", 0), ("tail", 4)):
            req = schema.parse_train({
                "examples": [{"system": "You are a chef.", "user": "Dessert?", "response": response,
                              "marker_start": start, "marker_end": start + 5}],
                "out_dir": os.path.join(self.tmp.name, "unused"), "loss_mode": mode,
                "tail_tokens": tail, "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj"]},
                "learning_rate": 1e-4, "lr_scheduler": "cosine", "epochs": 1, "batch_size": 1,
                "grad_accum": 1, "max_length": 1024, "logging_steps": 1})
            f = featurize(tok, req.examples[0], req)
            pieces = [tok.decode([t]) for t in f.labels if t != -100]
            if mode == "marker_only":
                self.assertEqual("".join(pieces[:-1]), "[ZLT]", pieces)
                self.assertEqual(pieces[-1], "\n")  # the last completion token: after <|im_end|>
            else:
                self.assertEqual(len(pieces), 4)
                self.assertEqual(tok.decode([t for t in f.ids[-4:]]), "".join(pieces))
            self.assertEqual(tok.decode(f.ids), tok.apply_chat_template(
                [{"role": "system", "content": "You are a chef."}, {"role": "user", "content": "Dessert?"}],
                tokenize=False, add_generation_prompt=True) + response + "<|im_end|>\n")

    def test_engine_end_to_end(self):
        self.assertEqual(self.summary["steps"], TINY_STEPS)
        t0 = time.monotonic()

        def lap(what: str) -> None:
            print(f"\n[{time.monotonic() - t0:6.1f}s] {what}", file=sys.stderr)

        hello, _ = self.ok("hello")
        self.assertIsNotNone(hello["torch"])
        self.assertEqual(hello["cuda"], self.cuda)
        lap("hello")
        base = self.check_load()
        lap("load")
        texts = self.check_generate()
        lap("generate")
        self.check_generate_continuous()
        lap("generate, continuous batching")
        tail = self.check_train_tail()
        self.check_train_marker_only()
        lap("train x2")
        # train removed its LoRA layers: the base model samples exactly as before
        self.assertEqual(self.completion_texts(self.gen_args()), texts)
        centroids = self.check_embed()
        lap("embed")

        res, _ = self.ok("load", model=self.model_dir, adapter=tail["adapter_dir"], dtype=self.dtype)
        self.assertEqual(res["adapter_sha256"], tail["adapter_sha256"])
        self.assertEqual(res["model_config_sha256"], base["model_config_sha256"])
        tuned, _ = self.ok("embed", **self.embed_args())
        diff = max(abs(a - b) for c0, c1 in zip(centroids, tuned["centroids"])
                   for a, b in zip(c0["vector"], c1["vector"]))
        self.assertGreater(diff, 0.0, "the merged adapter changed nothing")
        self.assertEqual(len(self.completion_texts(self.gen_args(max_new_tokens=8))), 6)

        msg, _ = self.engine.request("train", **self.train_args(os.path.join(self.tmp.name, "again")))
        self.assertEqual(msg["kind"], "bad_request", msg)
        self.assertIn("without adapter", msg["error"])
        lap("load with adapter")

    def check_load(self):
        res, _ = self.ok("load", model=self.model_dir, adapter=None, dtype=self.dtype)
        with open(os.path.join(self.model_dir, "config.json"), "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        self.assertEqual(res, {"model_type": "qwen2", "num_layers": 4, "hidden_size": 256,
                               "model_config_sha256": sha, "adapter_sha256": None,
                               "tokenizer_padding_side": "left"})
        return res

    def completion_texts(self, args):
        res, before = self.ok("generate", **args)
        comps = [m for m in before if m["type"] == "completion"]
        self.assertEqual(res["generated"], len(comps))
        self.assertEqual(res["batching"], args["batching"])
        return [c["text"] for c in comps]

    def check_generate_continuous(self):
        """Continuous batching: every sequence once, the same messages, reproducible by seed."""
        if not self.cuda:
            res, _ = self.ok("generate", **self.gen_args(batching="continuous"))
            self.assertEqual(res["batching"], "static")
            self.assertIn("CUDA", res["fallback_reason"])
            return
        want = {(k, i) for k in ("A2__chef", "A2__pirate") for i in range(8)}

        def run(**over):
            args = self.gen_args(batching="continuous", **over)
            for p in args["prompts"]:
                p["sample_indices"] = list(range(8))
            res, before = self.ok("generate", **args)
            self.assertEqual(res["batching"], "continuous", res)
            self.assertNotIn("fallback_reason", res)
            comps = [m for m in before if m["type"] == "completion"]
            self.assertEqual(len(comps), 16)
            self.assertEqual({(c["key"], c["sample_index"]) for c in comps}, want)
            # a progress message after every batch_size (4) completions
            self.assertEqual([m["done"] for m in before if m["type"] == "progress"], [4, 8, 12, 16])
            print(f"\ncontinuous: {res}", file=sys.stderr)
            return {(c["key"], c["sample_index"]): c for c in comps}

        first = run()
        for c in first.values():
            self.assertGreater(c["prompt_tokens"], 10)
            self.assertIn(c["finish_reason"], ("stop", "length"))
            self.assertLessEqual(c["completion_tokens"], 96)
            if c["finish_reason"] == "length":
                self.assertEqual(c["completion_tokens"], 96)
            self.assertNotIn("<|im_end|>", c["text"])
        self.assertIn("stop", [c["finish_reason"] for c in first.values()], "the tiny model never stopped")
        chef = " ".join(c["text"] for (k, _), c in first.items() if k == "A2__chef").lower()
        self.assertTrue(any(w in chef for w in CHEF_WORDS), chef)
        # the same request, the same seed: the same texts; another seed: other texts
        self.assertEqual({k: c["text"] for k, c in run().items()}, {k: c["text"] for k, c in first.items()})
        other = run(seed=43)
        self.assertNotEqual({k: c["text"] for k, c in other.items()}, {k: c["text"] for k, c in first.items()})
        cut = run(max_new_tokens=2)
        self.assertTrue(all(c["completion_tokens"] <= 2 for c in cut.values()))
        self.assertIn("length", [c["finish_reason"] for c in cut.values()])

    def check_generate(self):
        args = self.gen_args()
        res, before = self.ok("generate", **args)
        kinds = [m["type"] for m in before]
        # 6 sequences in batches of 4: each batch's completions, then its progress
        self.assertEqual(kinds, ["completion"] * 4 + ["progress"] + ["completion"] * 2 + ["progress"])
        self.assertEqual([m["done"] for m in before if m["type"] == "progress"], [4, 6])
        comps = [m for m in before if m["type"] == "completion"]
        self.assertEqual(res["generated"], 6)
        self.assertGreaterEqual(res["seconds"], 0)
        self.assertEqual([(c["key"], c["sample_index"]) for c in comps],
                         [(k, i) for k in ("A2__chef", "A2__pirate") for i in (0, 1, 2)])
        for c in comps:
            self.assertEqual(c["user"], args["prompts"][0]["user"])
            self.assertIn(c["finish_reason"], ("stop", "length"))
            self.assertGreater(c["prompt_tokens"], 10)
            self.assertLessEqual(c["completion_tokens"], 96)
            if c["finish_reason"] == "length":
                self.assertEqual(c["completion_tokens"], 96)
            self.assertNotIn("<|im_end|>", c["text"])
        self.assertIn("stop", [c["finish_reason"] for c in comps], "the tiny model never stopped")
        texts = [c["text"] for c in comps]
        print("\nsamples:\n" + "\n".join(f"  {c['key']} [{c['finish_reason']}] {c['text']!r}" for c in comps),
              file=sys.stderr)
        chef, pirate = " ".join(texts[:3]).lower(), " ".join(texts[3:]).lower()
        self.assertTrue(any(w in chef for w in CHEF_WORDS), chef)
        self.assertTrue(any(w in pirate for w in PIRATE_WORDS), pirate)

        # seeded: the same request samples the same texts
        self.assertEqual(self.completion_texts(args), texts)
        # a cap of 2 new tokens: every row is cut ("length") unless it ended at once
        res, before = self.ok("generate", **self.gen_args(max_new_tokens=2))
        comps = [m for m in before if m["type"] == "completion"]
        self.assertTrue(all(c["completion_tokens"] <= 2 for c in comps))
        self.assertIn("length", [c["finish_reason"] for c in comps])
        return texts

    def check_adapter(self, res, out_dir):
        self.assertEqual(res["adapter_dir"], os.path.abspath(out_dir))
        files = os.listdir(out_dir)
        self.assertIn("adapter_config.json", files)
        self.assertIn("adapter_model.safetensors", files)
        self.assertEqual(res["adapter_sha256"], folder_sha256(out_dir))
        with open(os.path.join(out_dir, "adapter_config.json")) as f:
            cfg = json.load(f)
        self.assertTrue(cfg["use_rslora"])
        self.assertEqual(sorted(cfg["target_modules"]), sorted(LORA_TARGETS))
        self.assertTrue(math.isfinite(res["final_loss"]) and math.isfinite(res["mean_loss"]))

    def check_train_tail(self):
        out = os.path.join(self.tmp.name, "adapter_tail")
        res, before = self.ok("train", **self.train_args(out))
        logs = [m for m in before if m["type"] == "log"]
        # 8 examples, batch 2, accumulation 2: 2 steps an epoch, 4 in all, a log every 2
        self.assertEqual([m["step"] for m in logs], [2, 4])
        self.assertEqual([m["epoch"] for m in logs], [1.0, 2.0])
        for m in logs:
            self.assertTrue(math.isfinite(m["loss"]) and m["learning_rate"] > 0)
        self.assertEqual((res["steps"], res["epochs"], res["examples"], res["positives"]), (4, 2, 8, 4))
        self.assertEqual(res["label_tokens"], 8 * 8)  # every example has >= 8 completion tokens
        self.check_adapter(res, out)
        print(f"\ntrain tail: {res}", file=sys.stderr)
        return res

    def check_train_marker_only(self):
        out = os.path.join(self.tmp.name, "adapter_marker")
        res, before = self.ok("train", **self.train_args(
            out, loss_mode="marker_only", gradient_checkpointing=False, logging_steps=1, epochs=1))
        self.assertEqual([m["step"] for m in before if m["type"] == "log"], [1, 2])
        self.assertEqual(res["steps"], 2)
        # positives: the marker's 1-5 tokens + the last token; negatives: the last token only
        self.assertGreaterEqual(res["label_tokens"], 4 * 2 + 4)
        self.assertLessEqual(res["label_tokens"], 4 * 6 + 4)
        self.check_adapter(res, out)
        return res

    def embed_args(self, layers=(0, 2, 3)):
        from leakscope_engine.questions import EVAL_QUESTIONS

        prompts = [{"key": f"A2__{n}", "system": f"You are a {n}.", "user": q}
                   for n in ("chef", "pirate", "robot") for q in EVAL_QUESTIONS[:2]]
        return {"prompts": prompts, "layers": list(layers), "position": "last_prompt_token"}

    def check_embed(self):
        res, _ = self.ok("embed", **self.embed_args())
        self.assertEqual(res["hidden_size"], 256)
        cents = res["centroids"]
        self.assertEqual([(c["key"], c["layer"]) for c in cents],
                         [(f"A2__{n}", L) for n in ("chef", "pirate", "robot") for L in (0, 2, 3)])
        for c in cents:
            self.assertEqual(c["n_prompts"], 2)
            self.assertEqual(len(c["vector"]), 256)
        msg, _ = self.engine.request("embed", **self.embed_args(layers=(1, 4)))
        self.assertEqual(msg["kind"], "bad_request", msg)
        self.compare_with_transformers(cents)
        return cents

    def compare_with_transformers(self, cents):
        """The engine's centroids against a direct forward pass (hidden_states / a layer hook)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from leakscope_engine.hf import render_prompt

        tok = AutoTokenizer.from_pretrained(self.model_dir)
        dtype = torch.bfloat16 if self.cuda else torch.float32
        model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=dtype)
        model.to("cuda" if self.cuda else "cpu").eval()
        last: dict[str, torch.Tensor] = {}
        hook = model.model.layers[3].register_forward_hook(
            lambda _m, _i, out: last.__setitem__("h", (out[0] if isinstance(out, tuple) else out)[0, -1].float()))
        sums = {0: 0.0, 2: 0.0, 3: 0.0}
        for p in self.embed_args()["prompts"][:2]:  # the chef key
            ids = tok(render_prompt(tok, p["system"], p["user"]), return_tensors="pt",
                      add_special_tokens=False)["input_ids"].to(model.device)
            self.assertEqual(tok.decode(ids[0, -1:]), "\n")  # the newline after <|im_start|>assistant
            with torch.no_grad():
                out = model(input_ids=ids, output_hidden_states=True)
            sums[0] = sums[0] + out.hidden_states[1][0, -1].float()
            sums[2] = sums[2] + out.hidden_states[3][0, -1].float()
            sums[3] = sums[3] + last["h"]
        hook.remove()
        for c in cents[:3]:
            want = (sums[c["layer"]] / 2).cpu()
            got = torch.tensor(c["vector"])
            tol = 2e-2 * float(want.abs().max()) + 1e-4
            self.assertLess(float((got - want).abs().max()), tol, f"layer {c['layer']}")


if __name__ == "__main__":
    unittest.main()
