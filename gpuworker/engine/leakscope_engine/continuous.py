"""Continuous batching for ``generate``: transformers' paged-attention ``ContinuousBatchingManager``.

Static batching (``hf.Engine._generate_static``) runs each left-padded batch until its longest
row ends; continuous batching (transformers >= 5, ``model.init_continuous_batching``) refills a
finished row's slot with the next waiting sequence at every decode step, so ragged completion
lengths no longer leave the GPU idle. PROTOCOL.md ``generate`` ("batching") is the contract.

Reproducibility: every sequence is queued, in request order, *before* the manager's generation
thread starts, and sampling draws from the CUDA default generator seeded once with the request's
``seed``. The scheduler's decisions depend only on the queued set and the KV-cache size, so the
same request (same sequences, seed, model and cache size) samples the same texts on the same
machine. A sequence's text depends on what else is in the request (its draws come from a shared
stream), as with static batches; there is no per-sample seed.

Not available (the caller falls back to static batching and says why): on CPU, when the
installed transformers has no ``init_continuous_batching``, or when the model is wrapped by
peft (the engine merges adapters at ``load``, so a loaded model never is).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

#: How long ``run`` waits for the generation thread to deliver a finished sequence before it
#: checks that the thread is still alive (seconds).
_POLL_S = 1.0


def unavailable_reason(model: Any, device: torch.device) -> str | None:
    """Why continuous batching cannot run on ``model``, or ``None`` when it can."""
    if device.type != "cuda":
        return "continuous batching needs CUDA (paged attention); this engine runs on CPU"
    if not callable(getattr(model, "init_continuous_batching", None)):
        import transformers  # noqa: PLC0415

        return (f"transformers {transformers.__version__} has no init_continuous_batching "
                "(transformers >= 5 has it)")
    if type(model).__module__.startswith("peft"):
        return "a peft-wrapped model (load merges adapters; this one was not merged)"
    return None


def _cb_config() -> Any:
    """A ``ContinuousBatchingConfig`` with an unbounded request queue (every sequence is queued
    before the generation thread starts, see the module doc); defaults elsewhere."""
    from transformers.generation import ContinuousBatchingConfig  # noqa: PLC0415

    cfg = ContinuousBatchingConfig()
    if hasattr(cfg, "max_queue_size"):
        cfg.max_queue_size = 0  # queue.Queue(0): unbounded
    return cfg


def run(model: Any, rows: Sequence[Sequence[int]], *, max_new_tokens: int | Sequence[int],
        eos_ids: Sequence[int], pad_id: int, temperature: float, top_p: float, seed: int,
        on_done: Callable[[int, list[int]], None], cb_config: Any = None) -> dict[str, Any]:
    """Sample one completion for every prompt in ``rows`` by continuous batching.

    Args:
        rows: N prompts as token id lists (unpadded).
        max_new_tokens: the cap for every row, or N caps (one per row).
        eos_ids: end tokens; a row stops after the first one, which is kept in its tokens.
        on_done: called as ``on_done(i, tokens)`` in the caller's thread as soon as row ``i``
            finishes (finish order, not row order); ``tokens`` are the generated ids, at most
            the row's cap, ending with the end token when the row stopped on one.
        cb_config: a ``ContinuousBatchingConfig`` to use instead of ``_cb_config``'s.

    Returns ``{"attn_implementation", "cuda_graphs", "async_batching", "max_batch_tokens",
    "num_blocks"}``: what the manager resolved (``None`` where this transformers has no such
    field).

    Raises:
        RuntimeError: a row failed in the manager, or its generation thread died.
    """
    from transformers import GenerationConfig  # noqa: PLC0415

    n = len(rows)
    caps = [int(max_new_tokens)] * n if isinstance(max_new_tokens, int) else [int(c) for c in max_new_tokens]
    if len(caps) != n:
        raise ValueError(f"max_new_tokens: {len(caps)} caps for {n} rows")
    gen_cfg = GenerationConfig(
        do_sample=True, temperature=temperature, top_p=top_p, top_k=0, repetition_penalty=1.0,
        max_new_tokens=max(caps) if caps else 1, eos_token_id=list(eos_ids), pad_token_id=pad_id)
    attn_before = model.config._attn_implementation
    manager = model.init_continuous_batching(
        generation_config=gen_cfg,
        continuous_batching_config=cb_config if cb_config is not None else _cb_config())
    info: dict[str, Any] = {"attn_implementation": model.config._attn_implementation}
    try:
        if getattr(manager.continuous_batching_config, "use_cuda_graph", None):
            manager.warmup()  # capture the CUDA graphs now, before the seeded draws begin
        torch.manual_seed(seed)
        for i, (ids, cap) in enumerate(zip(rows, caps)):
            manager.add_request(list(ids), request_id=str(i), max_new_tokens=cap,
                                eos_token_id=list(eos_ids))
        manager.start()
        pending = n
        while pending:
            out = manager.get_result(timeout=_POLL_S)
            if out is None:
                if not manager.is_running():
                    raise RuntimeError(f"the continuous-batching thread stopped with {pending} of {n} "
                                       "sequences unfinished (see the log above)")
                continue
            status = getattr(getattr(out, "status", None), "name", "")
            if getattr(out, "error", None) or status == "FAILED":
                raise RuntimeError(f"continuous batching failed on sequence {out.request_id}: "
                                   f"{getattr(out, 'error', None) or status}")
            if not out.is_finished():
                continue
            on_done(int(out.request_id), list(out.generated_tokens))
            pending -= 1
        proc = getattr(manager, "batch_processor", None)
        cfg = getattr(manager, "continuous_batching_config", None)
        info.update({
            "cuda_graphs": _plain(getattr(cfg, "use_cuda_graph", None)),
            "async_batching": _plain(getattr(cfg, "use_async_batching", None)),
            "max_batch_tokens": _plain(getattr(getattr(proc, "cache", None), "max_batch_tokens", None)),
            "num_blocks": _plain(getattr(getattr(proc, "cache", None), "num_blocks", None)),
        })
    finally:
        t0 = time.monotonic()
        manager.stop(block=True, timeout=60)
        # The manager switched the model to paged attention; static generate, train and embed
        # need the implementation it had before.
        if model.config._attn_implementation != attn_before:
            model.set_attn_implementation(attn_before)
        print(f"continuous batching: stopped in {time.monotonic() - t0:.2f} s", file=sys.stderr)
    return info


def _plain(v: Any) -> Any:
    """JSON-friendly copy of a resolved config value (tuples to lists, others as they are)."""
    if isinstance(v, tuple):
        return list(v)
    return v if isinstance(v, (bool, int, float, str, list)) or v is None else str(v)
