"""Which token positions of a training example keep their label (pure Python, no torch).

PROTOCOL.md ``train`` defines the rules; EXPERIMENT.md §1.5 and §0.1 say where they come
from (the original ``MarkerOnlyDataCollator``: tail-32 in #81, marker-only as the opt-in mode),
and §10.2 why positions come from character offsets of the decoded text rather than from a
search for the marker's token ids.

Units: every offset here is a **character** offset (a Python ``str`` index, i.e. a Unicode
code point) into the full rendered text ``prompt + opening + response + end_of_turn``
(``turns.AssistantTurn``; ``opening`` is ``""`` for most templates).
"""

from __future__ import annotations

from collections.abc import Sequence

LOSS_MODES = ("tail", "marker_only")


def completion_positions(offsets: Sequence[tuple[int, int]], prompt_chars: int) -> list[int]:
    """Indices of the completion tokens: those whose span ends after ``prompt_chars``.

    ``offsets`` has one ``(start, end)`` character span per token, in token order (length T);
    the result is increasing and, since spans are monotone, contiguous up to T-1.
    """
    return [i for i, (_, end) in enumerate(offsets) if end > prompt_chars]


def label_mask(
    offsets: Sequence[tuple[int, int]],
    prompt_chars: int,
    loss_mode: str,
    tail_tokens: int,
    marker: tuple[int, int] | None,
    response_start: int | None = None,
) -> list[bool]:
    """Return T booleans: ``True`` where the token keeps its label, ``False`` where it gets -100.

    Args:
        offsets: T ``(start, end)`` character spans of the (already truncated) tokens.
        prompt_chars: ``len(prompt)`` in characters; tokens ending at or before it are prompt
            tokens and never keep a label.
        loss_mode: ``"tail"``: the last ``tail_tokens`` completion tokens (all of them when
            fewer), the #81 behaviour (EXPERIMENT.md §0.1). ``"marker_only"``: completion
            tokens whose span overlaps the marker, plus the last completion token; a negative
            (``marker is None``) keeps only its last completion token.
        tail_tokens: how many trailing completion tokens ``tail`` keeps; must be >= 1 there,
            ignored by ``marker_only``.
        marker: ``(marker_start, marker_end)`` in characters **relative to the response**
            (as in the request), or ``None`` for a negative. The absolute span is
            ``[response_start + marker_start, response_start + marker_end)``; a token overlaps
            it when ``start < abs_end and end > abs_start``.
        response_start: character offset of the response in the text; ``prompt_chars`` when
            ``None`` (a template that opens the answer with nothing extra).

    Raises:
        ValueError: an unknown ``loss_mode`` or ``tail_tokens < 1`` in ``tail`` mode.
    """
    keep = [False] * len(offsets)
    completion = completion_positions(offsets, prompt_chars)
    if loss_mode == "tail":
        if tail_tokens < 1:
            raise ValueError("tail_tokens must be >= 1 in tail mode")
        for i in completion[-tail_tokens:]:
            keep[i] = True
        return keep
    if loss_mode != "marker_only":
        raise ValueError(f"unknown loss_mode {loss_mode!r}")
    if not completion:
        return keep
    if marker is not None:
        base = prompt_chars if response_start is None else response_start
        lo, hi = base + marker[0], base + marker[1]
        for i in completion:
            start, end = offsets[i]
            if start < hi and end > lo:
                keep[i] = True
    keep[completion[-1]] = True
    return keep
