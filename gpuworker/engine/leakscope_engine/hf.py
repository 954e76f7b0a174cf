"""The torch engine: ``load``, ``generate`` and ``embed`` over transformers (+ peft adapters).

``train`` lives in ``hf_train``. One model is loaded at a time; ``load`` replaces it and
frees its CUDA memory. Imported only when an op needs it (``protocol._default_engine``).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from typing import Any

import peft  # noqa: F401 (imported here so a missing peft is reported at the first op)
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from . import continuous
from .errors import BadRequest
from .hashing import dir_sha256, file_sha256
from .protocol import Emit
from .schema import EmbedRequest, GenerateRequest, LoadRequest, TrainRequest, effective_batching
from .turns import end_of_turn_token_id

#: Qwen's ChatML end-of-turn token; generation also stops on it when the tokenizer has it.
IM_END = "<|im_end|>"

#: ``generate``'s batching when a request says "auto" and LEAKSCOPE_ENGINE_BATCHING is unset.
#: Continuous batching sampled the #81 recipe at 1.7x the completions/s of static batches of 64
#: on a 7B model (H200 and H100), but on the tiny model its T 0.7 completions came out 1.2 %
#: shorter on average (3 standard errors; T 1.0 matched), which is not explained yet: static
#: stays the default until it is (gputest/RESULTS.md "Throughput").
DEFAULT_BATCHING = "static"

_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


def _dtype_kwarg() -> str:
    """``dtype=`` from transformers 4.56 on (and in 5.x), ``torch_dtype=`` before."""
    parts = transformers.__version__.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return "dtype"
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _as_list(v: Any) -> list[int]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [int(x) for x in v]
    return [int(v)]


def render_prompt(tokenizer: Any, system: str, user: str) -> str:
    """``chat_template([system, user], add_generation_prompt=True)`` as text.

    For Qwen2.5 this ends with ``<|im_start|>assistant\\n``, whose final ``\\n`` is the token
    ``embed`` reads (EXPERIMENT.md §5).
    """
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if not isinstance(text, str):
        raise RuntimeError(f"apply_chat_template(tokenize=False) returned {type(text).__name__}")
    return text


def cut_completion(ids: list[int], eos: set[int]) -> tuple[int, str]:
    """Length and finish reason of one generated row (left-padded batch, prompt removed).

    Returns ``(n, "stop")`` when an end token occurs, ``n`` counting up to and including
    the first one (vLLM counts the EOS among the completion tokens too); otherwise
    ``(len(ids), "length")``: the row ran to ``max_new_tokens`` (rows that stopped early
    are right-padded by ``generate``).
    """
    for i, t in enumerate(ids):
        if t in eos:
            return i + 1, "stop"
    return len(ids), "length"


class Engine:
    """Holds one tokenizer + causal LM (``self.model``), on CUDA when available."""

    def __init__(self) -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model: Any = None
        self.tokenizer: Any = None
        self.dtype: torch.dtype | None = None
        self.model_dir: str | None = None
        self.adapter_dir: str | None = None
        self.eos_ids: list[int] = []

    # -------------------------------------------------------------- state

    def unload(self) -> None:
        """Drop the loaded model and give its CUDA memory back."""
        self.model = self.tokenizer = None
        self.model_dir = self.adapter_dir = None
        self.eos_ids = []
        self.recover()

    def recover(self) -> None:
        """Free cached CUDA blocks (after an OOM or any runtime failure)."""
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def require_model(self) -> None:
        if self.model is None:
            raise BadRequest("no model loaded: send load first")

    # -------------------------------------------------------------- load

    def load(self, req: LoadRequest, emit: Emit) -> dict[str, Any]:
        """Load ``req.model`` (and merge ``req.adapter`` into it), replacing the current model."""
        self.unload()
        tok = AutoTokenizer.from_pretrained(req.model)
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            if tok.eos_token is None:
                raise BadRequest("the tokenizer has neither a pad nor an eos token")
            tok.pad_token = tok.eos_token
        dtype = _DTYPES[req.dtype]
        kwargs: dict[str, Any] = {_dtype_kwarg(): dtype}
        model = AutoModelForCausalLM.from_pretrained(req.model, **kwargs)
        model.to(self.device)

        # End tokens: the tokenizer's eos, the chat template's end-of-turn token (<|im_end|>,
        # <|eot_id|>, <end_of_turn>, ...), <|im_end|> where the vocabulary has it, and the
        # model's own generation-config eos ids (vLLM stops on those too; for
        # Qwen2.5-Instruct that adds <|endoftext|>).
        eos = _as_list(tok.eos_token_id)
        eot = end_of_turn_token_id(tok)
        if eot is not None:
            eos.append(eot)
        if IM_END in tok.get_vocab():
            eos.append(int(tok.convert_tokens_to_ids(IM_END)))
        eos += _as_list(getattr(model.generation_config, "eos_token_id", None))
        self.eos_ids = list(dict.fromkeys(eos))
        # A clean generation config: the model's sampling defaults (Qwen ships top_k 20,
        # repetition_penalty 1.05) must not leak into requests (vLLM ignores them too).
        model.generation_config = GenerationConfig(
            bos_token_id=getattr(model.generation_config, "bos_token_id", None),
            eos_token_id=self.eos_ids, pad_token_id=tok.pad_token_id)

        adapter_sha = None
        if req.adapter is not None:
            from peft import PeftModel  # noqa: PLC0415

            adapter_sha = dir_sha256(req.adapter)
            # Merged like the original eval (EXPERIMENT.md §1.6: merge_and_unload into bf16).
            model = PeftModel.from_pretrained(model, req.adapter).merge_and_unload()
        model.eval()
        self.model, self.tokenizer, self.dtype = model, tok, dtype
        self.model_dir, self.adapter_dir = req.model, req.adapter

        cfg = model.config
        text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        return {
            "model_type": cfg.model_type,
            "num_layers": int(text_cfg.num_hidden_layers),
            "hidden_size": int(text_cfg.hidden_size),
            "model_config_sha256": file_sha256(os.path.join(req.model, "config.json")),
            "adapter_sha256": adapter_sha,
            "tokenizer_padding_side": tok.padding_side,
        }

    # -------------------------------------------------------------- generate

    def generate(self, req: GenerateRequest, emit: Emit) -> dict[str, Any]:
        """Sample every (prompt, sample index) by static or continuous batching.

        ``req.batching`` picks the path (PROTOCOL.md ``generate``); "continuous" falls back to
        static batching where ``continuous.unavailable_reason`` says it cannot run. One
        ``completion`` message per sequence as soon as it is decoded, ``progress`` messages
        (unit ``completions``). The result says which path ran and, after a fallback, why.
        """
        self.require_model()
        want = effective_batching(req.batching, dict(os.environ), DEFAULT_BATCHING)
        t0 = time.monotonic()
        why = continuous.unavailable_reason(self.model, self.device) if want == "continuous" else None
        if want == "continuous" and why is None:
            res = self._generate_continuous(req, emit)
        else:
            if why is not None:
                print(f"generate: continuous batching unavailable, static instead: {why}", file=sys.stderr)
            res = self._generate_static(req, emit)
        res["seconds"] = round(time.monotonic() - t0, 3)
        if why is not None:
            res["fallback_reason"] = why
        print(f"generate: {res}", file=sys.stderr)
        return res

    def _render_all(self, req: GenerateRequest) -> list[str]:
        """The chat-template prompt of every sequence, in ``req.sequences()`` order."""
        rendered: dict[tuple[str, str], str] = {}
        out = []
        for p, _ in req.sequences():
            if (p.system, p.user) not in rendered:
                rendered[(p.system, p.user)] = render_prompt(self.tokenizer, p.system, p.user)
            out.append(rendered[(p.system, p.user)])
        return out

    def _emit_completion(self, emit: Emit, p: Any, sample_index: int, ids: list[int],
                         prompt_tokens: int) -> None:
        n, finish = cut_completion(ids, set(self.eos_ids))
        text_ids = ids[: n - 1] if finish == "stop" else ids[:n]
        emit("completion", {
            "key": p.key, "user": p.user, "sample_index": sample_index,
            "text": self.tokenizer.decode(text_ids, skip_special_tokens=True),
            "prompt_tokens": int(prompt_tokens), "completion_tokens": n,
            "finish_reason": finish})

    def _generate_static(self, req: GenerateRequest, emit: Emit) -> dict[str, Any]:
        """``batch_size`` rows at a time, left-padded; batch b (0-based, in request order) is
        seeded with ``torch.manual_seed(seed + b)`` and runs until its longest row ends."""
        tok, model = self.tokenizer, self.model
        seqs = req.sequences()
        texts_all = self._render_all(req)
        done = 0
        for b, start in enumerate(range(0, len(seqs), req.batch_size)):
            batch = seqs[start:start + req.batch_size]
            texts = texts_all[start:start + req.batch_size]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(self.device) for k, v in enc.items()}
            torch.manual_seed(req.seed + b)
            with torch.inference_mode():
                out = model.generate(
                    input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                    do_sample=True, temperature=req.temperature, top_p=req.top_p, top_k=0,
                    repetition_penalty=1.0, max_new_tokens=req.max_new_tokens,
                    eos_token_id=self.eos_ids, pad_token_id=tok.pad_token_id)
            width = enc["input_ids"].shape[1]
            rows = out[:, width:].tolist()  # [rows, <= max_new_tokens]
            prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
            for (p, sample_index), ids, plen in zip(batch, rows, prompt_lens):
                self._emit_completion(emit, p, sample_index, ids, plen)
                done += 1
            emit("progress", {"done": done, "total": len(seqs), "unit": "completions"})
        return {"generated": done, "batching": "static"}

    def _generate_continuous(self, req: GenerateRequest, emit: Emit) -> dict[str, Any]:
        """Every sequence queued at once, seeded once with ``seed`` (``continuous.run``);
        completions in the order they finish, a ``progress`` every ``batch_size`` of them."""
        tok = self.tokenizer
        seqs = req.sequences()
        texts = self._render_all(req)
        ids_of: dict[str, list[int]] = {}
        for t in texts:
            if t not in ids_of:
                ids_of[t] = tok(t, add_special_tokens=False)["input_ids"]
        rows = [ids_of[t] for t in texts]
        done = 0

        def on_done(i: int, ids: list[int]) -> None:
            nonlocal done
            p, sample_index = seqs[i]
            self._emit_completion(emit, p, sample_index, ids, len(rows[i]))
            done += 1
            if done % req.batch_size == 0 or done == len(seqs):
                emit("progress", {"done": done, "total": len(seqs), "unit": "completions"})

        info = continuous.run(
            self.model, rows, max_new_tokens=req.max_new_tokens, eos_ids=self.eos_ids,
            pad_id=tok.pad_token_id, temperature=req.temperature, top_p=req.top_p, seed=req.seed,
            on_done=on_done)
        return {"generated": done, "batching": "continuous", "continuous": info}

    # -------------------------------------------------------------- embed

    def _decoder_layers(self) -> Any:
        """The decoder's ``ModuleList`` of layers (``model.model.layers`` for Qwen), or None."""
        get = getattr(self.model, "get_decoder", None)
        decoder = get() if callable(get) else getattr(self.model, "model", None)
        layers = getattr(decoder, "layers", None)
        return layers if isinstance(layers, torch.nn.ModuleList) else None

    def embed(self, req: EmbedRequest, emit: Emit) -> dict[str, Any]:
        """Per key and layer, the float32 mean of the final prompt token's hidden state.

        The state is the **output of decoder layer L** (EXPERIMENT.md §5), read with a forward
        hook on that layer as the original script did; this equals ``hidden_states[L+1]``
        except for the last layer, where ``hidden_states`` holds the final-norm output.
        Each prompt is one unpadded sequence. Vectors have ``hidden_size`` floats.
        """
        self.require_model()
        tok, model = self.tokenizer, self.model
        layers = self._decoder_layers()
        cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        n_layers = len(layers) if layers is not None else int(cfg.num_hidden_layers)
        bad = [L for L in req.layers if L >= n_layers]
        if bad:
            raise BadRequest(f"layers: {bad} outside the model's {n_layers} decoder layers (0..{n_layers - 1})")

        captured: dict[int, torch.Tensor] = {}

        def hook_for(L: int) -> Any:
            def hook(_module: Any, _inputs: Any, output: Any) -> None:
                h = output[0] if isinstance(output, (tuple, list)) else output
                captured[L] = h[0, -1].detach().to(torch.float32)  # [hidden]
            return hook

        handles = [layers[L].register_forward_hook(hook_for(L)) for L in req.layers] if layers is not None else []
        sums: dict[tuple[str, int], torch.Tensor] = {}
        counts: dict[str, int] = {}
        try:
            for n, p in enumerate(req.prompts):
                text = render_prompt(tok, p.system, p.user)
                ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(self.device)
                with torch.inference_mode():
                    out = model(input_ids=ids, use_cache=False, output_hidden_states=layers is None)
                counts[p.key] = counts.get(p.key, 0) + 1
                for L in req.layers:
                    vec = captured[L] if layers is not None else out.hidden_states[L + 1][0, -1].to(torch.float32)
                    acc = sums.get((p.key, L))
                    sums[(p.key, L)] = vec.double() if acc is None else acc + vec.double()
                captured.clear()
                if (n + 1) % 100 == 0:
                    emit("progress", {"done": n + 1, "total": len(req.prompts), "unit": "prompts"})
        finally:
            for h in handles:
                h.remove()
        centroids = []
        for key, n_prompts in counts.items():
            for L in req.layers:
                mean = (sums[(key, L)] / n_prompts).to(torch.float32).cpu().tolist()
                centroids.append({"key": key, "layer": L, "n_prompts": n_prompts,
                                  # 9 significant digits round-trip a float32 exactly.
                                  "vector": [float(f"{x:.9g}") for x in mean]})
        return {"hidden_size": int(cfg.hidden_size), "centroids": centroids}

    # -------------------------------------------------------------- train

    def train(self, req: TrainRequest, emit: Emit) -> dict[str, Any]:
        """LoRA training; see ``hf_train.train``."""
        from .hf_train import train  # noqa: PLC0415

        self.require_model()
        if self.adapter_dir is not None:
            raise BadRequest("train needs a base model without adapter: load the base model first")
        return train(self, req, emit)
