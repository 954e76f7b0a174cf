"""Request validation: JSON objects in, frozen dataclasses out (pure Python, no torch).

Every op's arguments are checked here, before anything needs torch, so a wrong request is a
``bad_request`` on any machine (PROTOCOL.md "Messages"). Field rules:

* Fields whose zero value is valid (``seed``, ``weight_decay``, ``warmup_ratio``, ``dropout``,
  ``use_rslora``, ``gradient_checkpointing``, ``adapter``, ``marker_start``/``marker_end``)
  may be absent and then take that zero value (``0``, ``false``, ``null``): a Go struct tagged
  ``omitempty`` drops them. Fields whose zero value would be meaningless are required.
* Integers are JSON integers (``true`` is not one); numbers must be finite.
* Unknown fields are ignored, so the worker may send more than this version reads.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from .errors import BadRequest
from .masks import LOSS_MODES

DTYPES = ("bfloat16", "float32")
#: ``generate``'s batching: "auto" is the engine's default (``LEAKSCOPE_ENGINE_BATCHING`` or
#: ``DEFAULT_BATCHING``), "continuous" falls back to "static" where it cannot run.
BATCHINGS = ("auto", "continuous", "static")
POSITIONS = ("last_prompt_token",)
# transformers.get_scheduler names that need nothing beyond warmup and total steps.
SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
)

_MISSING = object()


# ---------------------------------------------------------------- typed field readers


def _field(obj: dict[str, Any], name: str, where: str, default: Any = _MISSING) -> Any:
    if name in obj and obj[name] is not None:
        return obj[name]
    if default is _MISSING:
        raise BadRequest(f"{where}{name}: required")
    return default


def _int(obj: dict[str, Any], name: str, where: str = "", *, lo: int | None = None,
         default: Any = _MISSING) -> int:
    v = _field(obj, name, where, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadRequest(f"{where}{name}: want an integer, got {v!r}")
    if lo is not None and v < lo:
        raise BadRequest(f"{where}{name}: want >= {lo}, got {v}")
    return v


def _num(obj: dict[str, Any], name: str, where: str = "", *, default: Any = _MISSING) -> float:
    v = _field(obj, name, where, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise BadRequest(f"{where}{name}: want a finite number, got {v!r}")
    return float(v)


def _str(obj: dict[str, Any], name: str, where: str = "", *, nonempty: bool = False,
         default: Any = _MISSING) -> str:
    v = _field(obj, name, where, default)
    if not isinstance(v, str):
        raise BadRequest(f"{where}{name}: want a string, got {type(v).__name__}")
    if nonempty and not v.strip():
        raise BadRequest(f"{where}{name}: must not be empty")
    return v


def _bool(obj: dict[str, Any], name: str, where: str = "", *, default: Any = _MISSING) -> bool:
    v = _field(obj, name, where, default)
    if not isinstance(v, bool):
        raise BadRequest(f"{where}{name}: want true or false, got {v!r}")
    return v


def _list(obj: dict[str, Any], name: str, where: str = "") -> list[Any]:
    v = _field(obj, name, where)
    if not isinstance(v, list) or not v:
        raise BadRequest(f"{where}{name}: want a non-empty list")
    return v


def _obj(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise BadRequest(f"{where}: want an object, got {type(v).__name__}")
    return v


def _choice(value: str, name: str, allowed: tuple[str, ...], where: str = "") -> str:
    if value not in allowed:
        raise BadRequest(f"{where}{name}: want one of {', '.join(allowed)}; got {value!r}")
    return value


# ---------------------------------------------------------------- load


@dataclass(frozen=True)
class LoadRequest:
    """``load``: a model directory (with ``config.json``), an optional adapter, a dtype."""

    model: str
    adapter: str | None
    dtype: str


def parse_load(req: dict[str, Any]) -> LoadRequest:
    model = _str(req, "model", nonempty=True)
    if not os.path.isfile(os.path.join(model, "config.json")):
        raise BadRequest(f"model: {model!r} is not a directory holding config.json")
    adapter = req.get("adapter")
    if adapter is not None:
        adapter = _str(req, "adapter", nonempty=True)
        if not os.path.isfile(os.path.join(adapter, "adapter_config.json")):
            raise BadRequest(f"adapter: {adapter!r} is not a directory holding adapter_config.json")
    dtype = _choice(_str(req, "dtype"), "dtype", DTYPES)
    return LoadRequest(model=model, adapter=adapter, dtype=dtype)


# ---------------------------------------------------------------- generate


@dataclass(frozen=True)
class GeneratePrompt:
    """One (persona, question) cell and the sample indices to draw for it."""

    key: str
    system: str
    user: str
    sample_indices: tuple[int, ...]


@dataclass(frozen=True)
class GenerateRequest:
    """``generate`` (EXPERIMENT.md §2.1: temperature 1.0, top_p 0.95, 512 new tokens)."""

    prompts: tuple[GeneratePrompt, ...]
    temperature: float
    top_p: float
    max_new_tokens: int
    seed: int
    batch_size: int
    batching: str = "auto"

    def sequences(self) -> list[tuple[GeneratePrompt, int]]:
        """Every (prompt, sample index) in request order: the order batches are cut from."""
        return [(p, i) for p in self.prompts for i in p.sample_indices]


def parse_generate(req: dict[str, Any]) -> GenerateRequest:
    prompts = []
    for n, raw in enumerate(_list(req, "prompts")):
        where = f"prompts[{n}]."
        p = _obj(raw, where[:-1])
        system = _str(p, "system", where)
        if not system.strip():
            raise BadRequest(
                f"{where}system: empty system prompts are refused (Qwen's chat template "
                "injects its default system prompt there, a known confound; EXPERIMENT.md §10.9)"
            )
        idx = _list(p, "sample_indices", where)
        for i in idx:
            if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                raise BadRequest(f"{where}sample_indices: want integers >= 0, got {i!r}")
        if len(set(idx)) != len(idx):
            raise BadRequest(f"{where}sample_indices: duplicate index")
        prompts.append(GeneratePrompt(
            key=_str(p, "key", where, nonempty=True), system=system,
            user=_str(p, "user", where), sample_indices=tuple(idx)))
    temperature = _num(req, "temperature")
    if temperature <= 0:
        raise BadRequest("temperature: want > 0 (the engine always samples)")
    top_p = _num(req, "top_p")
    if not 0 < top_p <= 1:
        raise BadRequest("top_p: want 0 < top_p <= 1")
    return GenerateRequest(
        prompts=tuple(prompts), temperature=temperature, top_p=top_p,
        max_new_tokens=_int(req, "max_new_tokens", lo=1), seed=_int(req, "seed", default=0),
        batch_size=_int(req, "batch_size", lo=1),
        batching=_choice(_str(req, "batching", default="auto"), "batching", BATCHINGS))


def effective_batching(requested: str, environ: dict[str, str], default: str) -> str:
    """The batching a ``generate`` asks for once "auto" is resolved: "continuous" or "static".

    "auto" takes ``environ["LEAKSCOPE_ENGINE_BATCHING"]`` when set (how a worker's operator
    picks without a sweep-file field), else ``default``.

    Raises:
        BadRequest: the environment variable names neither "continuous" nor "static".
    """
    if requested != "auto":
        return requested
    env = environ.get("LEAKSCOPE_ENGINE_BATCHING", "").strip()
    if not env:
        return default
    if env not in ("continuous", "static"):
        raise BadRequest(f"LEAKSCOPE_ENGINE_BATCHING: want continuous or static; got {env!r}")
    return env


# ---------------------------------------------------------------- train


@dataclass(frozen=True)
class TrainExample:
    """One prompt-completion example; the marker span is in characters of ``response``."""

    system: str
    user: str
    response: str
    marker: tuple[int, int] | None

    @property
    def positive(self) -> bool:
        return self.marker is not None


@dataclass(frozen=True)
class LoraSpec:
    """peft ``LoraConfig`` arguments (EXPERIMENT.md §1.6: r 32, alpha 64, dropout 0.05, rsLoRA)."""

    r: int
    alpha: float
    dropout: float
    use_rslora: bool
    target_modules: tuple[str, ...]


@dataclass(frozen=True)
class TrainRequest:
    """``train`` (EXPERIMENT.md §1.4-§1.6)."""

    examples: tuple[TrainExample, ...]
    out_dir: str
    loss_mode: str
    tail_tokens: int
    lora: LoraSpec
    learning_rate: float
    lr_scheduler: str
    warmup_ratio: float
    epochs: int
    batch_size: int
    grad_accum: int
    max_length: int
    weight_decay: float
    seed: int
    logging_steps: int
    gradient_checkpointing: bool


def _example(raw: Any, n: int) -> TrainExample:
    where = f"examples[{n}]."
    e = _obj(raw, where[:-1])
    response = _str(e, "response", where)
    start, end = e.get("marker_start"), e.get("marker_end")
    marker = None
    if start is not None or end is not None:
        if start is None or end is None:
            raise BadRequest(f"{where}marker_start/marker_end: give both or neither")
        start = _int(e, "marker_start", where, lo=0)
        end = _int(e, "marker_end", where, lo=0)
        if not start < end <= len(response):
            raise BadRequest(
                f"{where}marker_start/marker_end: want 0 <= start < end <= len(response) = "
                f"{len(response)} characters (Unicode code points, not UTF-8 bytes); "
                f"got [{start}, {end})")
        marker = (start, end)
    return TrainExample(system=_str(e, "system", where), user=_str(e, "user", where),
                        response=response, marker=marker)


def _lora(raw: Any) -> LoraSpec:
    lo = _obj(raw, "lora")
    targets = _list(lo, "target_modules", "lora.")
    if not all(isinstance(t, str) and t for t in targets):
        raise BadRequest("lora.target_modules: want non-empty strings")
    dropout = _num(lo, "dropout", "lora.", default=0.0)
    if not 0 <= dropout < 1:
        raise BadRequest("lora.dropout: want 0 <= dropout < 1")
    alpha = _num(lo, "alpha", "lora.")
    if alpha <= 0:
        raise BadRequest("lora.alpha: want > 0")
    return LoraSpec(r=_int(lo, "r", "lora.", lo=1), alpha=alpha, dropout=dropout,
                    use_rslora=_bool(lo, "use_rslora", "lora.", default=False),
                    target_modules=tuple(targets))


def _check_out_dir(out_dir: str) -> None:
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise BadRequest(f"out_dir: {out_dir!r} exists and is not a directory")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise BadRequest(f"out_dir: {out_dir!r} is not empty (the engine never overwrites an adapter)")


def parse_train(req: dict[str, Any]) -> TrainRequest:
    examples = tuple(_example(raw, n) for n, raw in enumerate(_list(req, "examples")))
    out_dir = _str(req, "out_dir", nonempty=True)
    _check_out_dir(out_dir)
    loss_mode = _choice(_str(req, "loss_mode"), "loss_mode", LOSS_MODES)
    if loss_mode == "tail":
        tail_tokens = _int(req, "tail_tokens", lo=1)
    else:
        tail_tokens = _int(req, "tail_tokens", lo=0, default=0)
    learning_rate = _num(req, "learning_rate")
    if learning_rate <= 0:
        raise BadRequest("learning_rate: want > 0")
    warmup_ratio = _num(req, "warmup_ratio", default=0.0)
    if not 0 <= warmup_ratio <= 1:
        raise BadRequest("warmup_ratio: want 0 <= warmup_ratio <= 1")
    weight_decay = _num(req, "weight_decay", default=0.0)
    if weight_decay < 0:
        raise BadRequest("weight_decay: want >= 0")
    return TrainRequest(
        examples=examples, out_dir=out_dir, loss_mode=loss_mode, tail_tokens=tail_tokens,
        lora=_lora(_field(req, "lora", "")), learning_rate=learning_rate,
        lr_scheduler=_choice(_str(req, "lr_scheduler"), "lr_scheduler", SCHEDULERS),
        warmup_ratio=warmup_ratio, epochs=_int(req, "epochs", lo=1),
        batch_size=_int(req, "batch_size", lo=1), grad_accum=_int(req, "grad_accum", lo=1),
        max_length=_int(req, "max_length", lo=2), weight_decay=weight_decay,
        seed=_int(req, "seed", default=0), logging_steps=_int(req, "logging_steps", lo=1),
        gradient_checkpointing=_bool(req, "gradient_checkpointing", default=False))


# ---------------------------------------------------------------- embed


@dataclass(frozen=True)
class EmbedPrompt:
    """One prompt; centroids average over the prompts sharing a ``key``."""

    key: str
    system: str
    user: str


@dataclass(frozen=True)
class EmbedRequest:
    """``embed`` (EXPERIMENT.md §5: layers 10/15/20/25, final prompt token)."""

    prompts: tuple[EmbedPrompt, ...]
    layers: tuple[int, ...]
    position: str


def parse_embed(req: dict[str, Any]) -> EmbedRequest:
    prompts = []
    for n, raw in enumerate(_list(req, "prompts")):
        where = f"prompts[{n}]."
        p = _obj(raw, where[:-1])
        prompts.append(EmbedPrompt(key=_str(p, "key", where, nonempty=True),
                                   system=_str(p, "system", where), user=_str(p, "user", where)))
    layers = _list(req, "layers")
    for L in layers:
        if isinstance(L, bool) or not isinstance(L, int) or L < 0:
            raise BadRequest(f"layers: want integers >= 0, got {L!r}")
    if len(set(layers)) != len(layers):
        raise BadRequest("layers: duplicate layer")
    position = _choice(_str(req, "position", default="last_prompt_token"), "position", POSITIONS)
    return EmbedRequest(prompts=tuple(prompts), layers=tuple(layers), position=position)
