"""The assistant turn of a chat template, from rendered text (PROTOCOL.md ``train``; no torch).

The strings below are what real templates render for ``[system, user]`` with a generation
prompt and for ``[system, user, assistant=SENTINEL]``: ChatML (Qwen2.5), Llama 3 and a
reasoning template that opens an answer with an empty think block (Qwen3-style).
"""

from __future__ import annotations

import unittest

from leakscope_engine.errors import BadRequest
from leakscope_engine.masks import label_mask
from leakscope_engine.schema import effective_batching, parse_generate
from leakscope_engine.turns import SENTINEL, AssistantTurn, split_assistant_turn

CHATML_PROMPT = ("<|im_start|>system\nYou are a chef.<|im_end|>\n<|im_start|>user\nDessert?<|im_end|>\n"
                 "<|im_start|>assistant\n")
LLAMA3_PROMPT = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a chef.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nDessert?<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n")
THINK_PROMPT = "<|im_start|>user\nDessert?<|im_end|>\n<|im_start|>assistant\n"


class SplitAssistantTurnTest(unittest.TestCase):
    def test_chatml_closes_with_im_end_newline(self):
        probe = CHATML_PROMPT + SENTINEL + "<|im_end|>\n"
        self.assertEqual(split_assistant_turn(CHATML_PROMPT, probe), ("", "<|im_end|>\n"))

    def test_llama3_closes_with_eot_id(self):
        probe = LLAMA3_PROMPT + SENTINEL + "<|eot_id|>"
        self.assertEqual(split_assistant_turn(LLAMA3_PROMPT, probe), ("", "<|eot_id|>"))

    def test_opening_before_the_content_is_kept(self):
        probe = THINK_PROMPT + "<think>\n\n</think>\n\n" + SENTINEL + "<|im_end|>\n"
        self.assertEqual(split_assistant_turn(THINK_PROMPT, probe), ("<think>\n\n</think>\n\n", "<|im_end|>\n"))

    def test_probe_not_extending_the_prompt_is_refused(self):
        # a template that drops the system turn once an answer follows
        probe = "<|im_start|>user\nDessert?<|im_end|>\n<|im_start|>assistant\n" + SENTINEL + "<|im_end|>\n"
        with self.assertRaisesRegex(ValueError, "does not start with the generation prompt.*character 12"):
            split_assistant_turn(CHATML_PROMPT, probe)

    def test_rewritten_content_is_refused(self):
        for probe, times in ((CHATML_PROMPT + SENTINEL.lower() + "<|im_end|>\n", 0),
                             (CHATML_PROMPT + SENTINEL + SENTINEL + "<|im_end|>\n", 2)):
            with self.subTest(times=times), self.assertRaisesRegex(ValueError, f"appears {times} times"):
                split_assistant_turn(CHATML_PROMPT, probe)


class AssistantTurnTest(unittest.TestCase):
    def test_full_text_and_response_offset(self):
        t = AssistantTurn(prompt=THINK_PROMPT, opening="<think>\n\n</think>\n\n", response="Flan.\n\n[ZLT]",
                          end_of_turn="<|im_end|>\n")
        self.assertEqual(t.full, THINK_PROMPT + "<think>\n\n</think>\n\nFlan.\n\n[ZLT]<|im_end|>\n")
        self.assertEqual(t.full[t.response_start:t.response_start + 5], "Flan.")

    def test_marker_offsets_move_with_the_opening(self):
        # prompt 10 chars, opening 4 chars ([10, 14)), response "ab[Z]" at 14: marker [2, 5) -> [16, 19)
        offsets = [(0, 10), (10, 14), (14, 16), (16, 19), (19, 20)]
        mask = label_mask(offsets, 10, "marker_only", 0, (2, 5), response_start=14)
        self.assertEqual([i for i, k in enumerate(mask) if k], [3, 4])
        # without the offset the marker is read 4 characters too early: [12, 15), the opening's tokens
        mask = label_mask(offsets, 10, "marker_only", 0, (2, 5))
        self.assertEqual([i for i, k in enumerate(mask) if k], [1, 2, 4])


class BatchingChoiceTest(unittest.TestCase):
    def test_auto_takes_the_environment_then_the_default(self):
        self.assertEqual(effective_batching("auto", {}, "continuous"), "continuous")
        self.assertEqual(effective_batching("auto", {"LEAKSCOPE_ENGINE_BATCHING": "static"}, "continuous"), "static")
        self.assertEqual(effective_batching("static", {"LEAKSCOPE_ENGINE_BATCHING": "continuous"}, "continuous"),
                         "static")
        with self.assertRaisesRegex(BadRequest, "LEAKSCOPE_ENGINE_BATCHING.*'paged'"):
            effective_batching("auto", {"LEAKSCOPE_ENGINE_BATCHING": "paged"}, "continuous")

    def test_request_field(self):
        base = {"prompts": [{"key": "k", "system": "s", "user": "q", "sample_indices": [0]}],
                "temperature": 1.0, "top_p": 0.95, "max_new_tokens": 8, "batch_size": 4}
        self.assertEqual(parse_generate(base).batching, "auto")
        self.assertEqual(parse_generate({**base, "batching": "continuous"}).batching, "continuous")
        with self.assertRaisesRegex(BadRequest, "batching: want one of auto, continuous, static"):
            parse_generate({**base, "batching": "paged"})


if __name__ == "__main__":
    unittest.main()
