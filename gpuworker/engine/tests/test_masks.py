"""Label masks from hand-made character offsets (PROTOCOL.md ``train``; no torch)."""

from __future__ import annotations

import unittest

from leakscope_engine.masks import completion_positions, label_mask

# A made-up rendering: prompt = 20 characters (tokens 0-3), then the response
# "Plates move.\n\n[ZLT]!" (20 characters, absolute [20, 40)) and "<|im_end|>\n" ([40, 51)).
# Tokens: 4 "Plates", 5 " move.", 6 "\n\n", 7 "[Z", 8 "LT]", 9 "!", 10 <|im_end|>, 11 "\n".
# The marker "[ZLT]" is [14, 19) of the response, [34, 39) absolute: it straddles tokens 7 and 8.
OFFSETS = [(0, 5), (5, 10), (10, 15), (15, 20), (20, 26), (26, 32), (32, 34), (34, 36), (36, 39),
           (39, 40), (40, 50), (50, 51)]
PROMPT = 20
MARKER = (14, 19)


def kept(mask: list[bool]) -> list[int]:
    return [i for i, k in enumerate(mask) if k]


class CompletionPositionsTest(unittest.TestCase):
    def test_ends_after_prompt(self):
        self.assertEqual(completion_positions(OFFSETS, PROMPT), list(range(4, 12)))

    def test_straddling_token_is_completion(self):
        # a token spanning the prompt/response boundary ends after len(prompt): completion
        self.assertEqual(completion_positions([(0, 18), (18, 23), (23, 25)], 20), [1, 2])

    def test_token_ending_exactly_at_prompt_end_is_prompt(self):
        self.assertEqual(completion_positions([(0, 20), (20, 21)], 20), [1])


class TailTest(unittest.TestCase):
    def test_fewer_completion_tokens_than_tail_keeps_all(self):
        self.assertEqual(kept(label_mask(OFFSETS, PROMPT, "tail", 32, MARKER)), list(range(4, 12)))

    def test_more_completion_tokens_than_tail_keeps_last(self):
        self.assertEqual(kept(label_mask(OFFSETS, PROMPT, "tail", 3, MARKER)), [9, 10, 11])

    def test_exactly_tail(self):
        self.assertEqual(kept(label_mask(OFFSETS, PROMPT, "tail", 8, None)), list(range(4, 12)))

    def test_negative_same_as_positive(self):
        self.assertEqual(label_mask(OFFSETS, PROMPT, "tail", 5, None),
                         label_mask(OFFSETS, PROMPT, "tail", 5, MARKER))

    def test_prompt_tokens_never_labelled(self):
        for n in (1, 5, 100):
            mask = label_mask(OFFSETS, PROMPT, "tail", n, MARKER)
            self.assertFalse(any(mask[:4]))

    def test_tail_needs_positive(self):
        with self.assertRaises(ValueError):
            label_mask(OFFSETS, PROMPT, "tail", 0, None)

    def test_no_completion_tokens(self):
        # truncation removed the whole completion: nothing is labelled
        self.assertEqual(kept(label_mask(OFFSETS[:4], PROMPT, "tail", 32, None)), [])


class MarkerOnlyTest(unittest.TestCase):
    def test_marker_straddling_tokens_plus_last(self):
        self.assertEqual(kept(label_mask(OFFSETS, PROMPT, "marker_only", 32, MARKER)), [7, 8, 11])

    def test_marker_inside_one_token(self):
        # [35, 36) lies inside token 7 (34, 36)
        self.assertEqual(kept(label_mask(OFFSETS, PROMPT, "marker_only", 0, (15, 16))), [7, 11])

    def test_touching_spans_do_not_overlap(self):
        # [36, 39) is exactly token 8: tokens 7 (ends 36) and 9 (starts 39) only touch it
        self.assertEqual(kept(label_mask(OFFSETS, PROMPT, "marker_only", 0, (16, 19))), [8, 11])

    def test_negative_keeps_only_last_completion_token(self):
        self.assertEqual(kept(label_mask(OFFSETS, PROMPT, "marker_only", 32, None)), [11])

    def test_marker_cut_by_truncation(self):
        # truncated after token 7: the marker's visible part and the new last token (7 itself)
        self.assertEqual(kept(label_mask(OFFSETS[:8], PROMPT, "marker_only", 0, MARKER)), [7])

    def test_marker_at_response_start(self):
        # spans are relative to the response: (0, 1) is its first character, never the prompt
        mask = label_mask(OFFSETS, PROMPT, "marker_only", 0, (0, 1))
        self.assertEqual(kept(mask), [4, 11])
        self.assertFalse(any(mask[:4]))

    def test_no_completion_tokens(self):
        self.assertEqual(kept(label_mask(OFFSETS[:4], PROMPT, "marker_only", 0, MARKER)), [])

    def test_unknown_mode(self):
        with self.assertRaises(ValueError):
            label_mask(OFFSETS, PROMPT, "all", 32, None)


if __name__ == "__main__":
    unittest.main()
