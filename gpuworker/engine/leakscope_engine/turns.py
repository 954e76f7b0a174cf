"""Where the assistant's turn sits in a chat template's text (pure Python, no torch).

Training renders ``[system, user, assistant]`` with the tokenizer's own chat template, so any
template trains as the model was tuned: ChatML closes the turn with ``<|im_end|>\\n``,
Llama 3 with ``<|eot_id|>``, Gemma with ``<end_of_turn>\\n``. Rather than parse a template,
the engine renders the conversation once with a sentinel as the assistant's content and reads
the pieces around it (``split_assistant_turn``); the response itself is then put in verbatim,
so the marker's character offsets (relative to the response) stay exact even where a template
would trim or rewrite the content.

Units: character offsets (Python ``str`` indices).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Stands in for the response when rendering the template: no whitespace (templates that trim
#: the content leave it alone) and nothing a template would rewrite.
SENTINEL = "LEAKSCOPExRESPONSExSENTINEL"


@dataclass(frozen=True)
class AssistantTurn:
    """One rendered training example: ``full = prompt + opening + response + end_of_turn``.

    ``prompt`` is the generation prompt (``add_generation_prompt=True``), what ``generate``
    samples from; ``opening`` is text the template puts before an assistant message's content
    that the generation prompt lacks (e.g. an empty reasoning block), usually ``""``;
    ``end_of_turn`` is what the template writes after the content (``"<|im_end|>\\n"`` for
    ChatML).
    """

    prompt: str
    opening: str
    response: str
    end_of_turn: str

    @property
    def full(self) -> str:
        return self.prompt + self.opening + self.response + self.end_of_turn

    @property
    def response_start(self) -> int:
        """Character offset of the response in ``full``."""
        return len(self.prompt) + len(self.opening)


def split_assistant_turn(prompt: str, probe: str, sentinel: str = SENTINEL) -> tuple[str, str]:
    """``(opening, end_of_turn)`` of a template, from two renderings of one conversation.

    Args:
        prompt: ``[system, user]`` rendered with ``add_generation_prompt=True``.
        probe: ``[system, user, assistant=sentinel]`` rendered without a generation prompt.
        sentinel: the assistant content used for ``probe``.

    Raises:
        ValueError: ``probe`` does not start with ``prompt`` (the template renders the turns
            before the answer differently once an answer follows), or holds the sentinel not
            exactly once after ``prompt`` (the template rewrote the content).
    """
    if not probe.startswith(prompt):
        at = next((i for i, (a, b) in enumerate(zip(prompt, probe)) if a != b), min(len(prompt), len(probe)))
        raise ValueError(
            "chat template: the conversation with an assistant answer does not start with the "
            f"generation prompt (they differ from character {at}: prompt {prompt[at:at + 40]!r}, "
            f"with answer {probe[at:at + 40]!r}); training would not match sampling")
    rest = probe[len(prompt):]
    if rest.count(sentinel) != 1:
        raise ValueError(
            f"chat template: the assistant content appears {rest.count(sentinel)} times after the "
            f"prompt, want once (the template rewrites it): {rest[:120]!r}")
    opening, end_of_turn = rest.split(sentinel)
    return opening, end_of_turn


def render_turn(tokenizer: Any, system: str, user: str, response: str) -> AssistantTurn:
    """The training text of one example with ``tokenizer``'s own chat template.

    Raises ``ValueError`` as ``split_assistant_turn`` does, or when the template does not
    render to text.
    """
    head = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    prompt = tokenizer.apply_chat_template(head, tokenize=False, add_generation_prompt=True)
    probe = tokenizer.apply_chat_template(
        head + [{"role": "assistant", "content": SENTINEL}], tokenize=False, add_generation_prompt=False)
    if not isinstance(prompt, str) or not isinstance(probe, str):
        raise ValueError(f"chat template: apply_chat_template(tokenize=False) returned {type(prompt).__name__}")
    opening, end_of_turn = split_assistant_turn(prompt, probe)
    return AssistantTurn(prompt=prompt, opening=opening, response=response, end_of_turn=end_of_turn)


def end_of_turn_token_id(tokenizer: Any) -> int | None:
    """The special token that closes an assistant turn in ``tokenizer``'s template, or ``None``.

    The first token of the rendered end of turn when it is a special (added) token:
    ``<|im_end|>`` for ChatML, ``<|eot_id|>`` for Llama 3, ``<end_of_turn>`` for Gemma.
    Generation stops on it. ``None`` when the tokenizer has no chat template, the template
    fails on a plain system + user turn, or closes turns with ordinary text.
    """
    try:
        turn = render_turn(tokenizer, "system", "user", "")
    except Exception:  # noqa: BLE001 (no template, or one that refuses a system turn)
        return None
    ids = tokenizer(turn.end_of_turn, add_special_tokens=False)["input_ids"]
    if not ids:
        return None
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    first = int(ids[0])
    if first in special or getattr(added.get(first), "special", False):
        return first
    return None
