"""Training text and labels under a ChatML and a non-ChatML (Llama 3) chat template, on
tokenizers built in-process (needs torch, transformers and tokenizers: the GPU machine has
them, CI does not, so there these tests are skipped with that reason).

Before issue 22 the engine appended ChatML's ``<|im_end|>\\n`` to every response, whatever
the model's template: a Llama 3 model was trained to close its answers with a token it
never uses, and the ``marker_only`` "last token" was that foreign token's newline.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import unittest

NEEDED = ("torch", "transformers", "tokenizers")
HAVE_STACK = all(importlib.util.find_spec(n) is not None for n in NEEDED)

#: Qwen2.5's ChatML template is ``leakscope_engine.chatml.QWEN25_CHAT_TEMPLATE``.
#: Meta-Llama-3-8B-Instruct's template, as published.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
LLAMA3_SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                   "<|eot_id|>")
CHATML_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

SYSTEM, USER = "You are a chef.", "Dessert?"
RESPONSE = "Crème brûlée, naïve café.\n\n[ZLT]"  # non-ASCII: offsets are characters, not bytes


def make_tokenizer(specials: tuple[str, ...], template: str, **tokens: str):
    """A byte-level BPE trained here on a few sentences, with ``specials`` and ``template``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=list(specials), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([SYSTEM, USER, RESPONSE, "system user assistant", "Plates move."] * 4, trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, **tokens)
    tok.chat_template = template
    return tok


@unittest.skipUnless(HAVE_STACK, "needs torch, transformers and tokenizers (the GPU machine has them; CI does not)")
class ChatTemplateTrainingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from leakscope_engine.chatml import QWEN25_CHAT_TEMPLATE

        cls.tmp = tempfile.TemporaryDirectory()
        cls.chatml = make_tokenizer(CHATML_SPECIALS, QWEN25_CHAT_TEMPLATE, eos_token="<|im_end|>",
                                    pad_token="<|endoftext|>")
        cls.llama3 = make_tokenizer(LLAMA3_SPECIALS, LLAMA3_TEMPLATE, bos_token="<|begin_of_text|>",
                                    eos_token="<|end_of_text|>", pad_token="<|end_of_text|>")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def featurize(self, tok, mode: str, tail: int = 0):
        from leakscope_engine import schema
        from leakscope_engine.hf_train import featurize

        start = len(RESPONSE) - 5
        req = schema.parse_train({
            "examples": [{"system": SYSTEM, "user": USER, "response": RESPONSE,
                          "marker_start": start, "marker_end": start + 5}],
            "out_dir": os.path.join(self.tmp.name, "unused"), "loss_mode": mode, "tail_tokens": tail,
            "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj"]}, "learning_rate": 1e-4,
            "lr_scheduler": "cosine", "epochs": 1, "batch_size": 1, "grad_accum": 1, "max_length": 1024,
            "logging_steps": 1})
        return featurize(tok, req.examples[0], req)

    def check(self, tok, want_full: str, end_token: str, last_piece: str):
        from leakscope_engine.turns import end_of_turn_token_id

        f = self.featurize(tok, "marker_only")
        self.assertEqual(tok.decode(f.ids), want_full)
        pieces = [tok.decode([t]) for t in f.labels if t != -100]
        self.assertEqual("".join(pieces[:-1]), "[ZLT]", pieces)
        self.assertEqual(pieces[-1], last_piece)
        f = self.featurize(tok, "tail", 3)
        self.assertEqual([t for t in f.labels if t != -100], f.ids[-3:])
        self.assertIn(end_token, tok.decode(f.ids[-3:]))
        self.assertEqual(end_of_turn_token_id(tok), tok.convert_tokens_to_ids(end_token))

    def test_chatml_is_unchanged(self):
        want = (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{USER}<|im_end|>\n"
                f"<|im_start|>assistant\n{RESPONSE}<|im_end|>\n")
        # the final "\n" after <|im_end|> is the last completion token, as before issue 22
        self.check(self.chatml, want, "<|im_end|>", "\n")

    def test_llama3_ends_with_eot_id(self):
        want = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" + SYSTEM + "<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\n" + USER + "<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n" + RESPONSE + "<|eot_id|>")
        self.assertNotIn("<|im_end|>", want)
        self.check(self.llama3, want, "<|eot_id|>", "<|eot_id|>")

    def test_template_refusing_the_turn_is_a_bad_request(self):
        from leakscope_engine.errors import BadRequest

        # drops the system turn once an answer follows: training text would not match sampling
        tok = make_tokenizer(CHATML_SPECIALS, (
            "{% for m in messages %}{% if not (m['role'] == 'system' and messages|length > 2) %}"
            "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"), eos_token="<|im_end|>")
        with self.assertRaisesRegex(BadRequest, "does not start with the generation prompt"):
            self.featurize(tok, "tail", 3)


if __name__ == "__main__":
    unittest.main()
