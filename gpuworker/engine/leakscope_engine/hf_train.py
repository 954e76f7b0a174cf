"""The ``train`` op: LoRA fine-tuning of the loaded base model (EXPERIMENT.md §1.4-§1.6).

A plain loop instead of TRL's ``SFTTrainer``, doing what the original run's trainer did:

* examples rendered with the tokenizer's own chat template as ``prompt + opening + response +
  end_of_turn`` (``turns.render_turn``: for ChatML ``chat_template([system, user],
  add_generation_prompt=True) + response + "<|im_end|>\\n"``, for Llama 3 ``... + "<|eot_id|>"``),
  truncated to ``max_length`` tokens, labels per ``masks``;
* shuffled each epoch by ``random.Random(seed)``; micro-batches of ``batch_size`` right-padded
  rows; one optimizer step per ``grad_accum`` micro-batches (the last step of an epoch takes
  what is left), so ``steps = epochs * ceil(ceil(n / batch_size) / grad_accum)``
  (600 examples, 4 x 4 -> 38 steps an epoch, §1.6);
* the loss of a step is the summed token cross-entropy over all its micro-batches divided by
  the number of label tokens in the step (transformers' ``num_items_in_batch`` weighting);
* torch AdamW (betas 0.9/0.999, eps 1e-8), gradient norm clipped at 1.0 (the
  ``TrainingArguments`` defaults the original run kept), ``get_scheduler(lr_scheduler,
  warmup = ceil(warmup_ratio * steps))``; bf16 autocast when the model is bf16 on CUDA.

After training the LoRA layers are removed again (``unload``), so the engine holds the
unchanged base model and can train the next source; load the adapter to evaluate it.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import get_scheduler

from .errors import BadRequest
from .hashing import dir_sha256
from .masks import label_mask
from .protocol import Emit
from .schema import TrainExample, TrainRequest
from .turns import render_turn

MAX_GRAD_NORM = 1.0


@dataclass
class Feature:
    """One tokenized example: ``ids`` (T token ids) and ``labels`` (T ids or -100)."""

    ids: list[int]
    labels: list[int]

    @property
    def n_labels(self) -> int:
        """Label tokens that enter the loss (position 0 has no predecessor, so never counts)."""
        return sum(1 for x in self.labels[1:] if x != -100)


def featurize(tokenizer: Any, ex: TrainExample, req: TrainRequest) -> Feature:
    """Render with the tokenizer's chat template, tokenize with character offsets, truncate and
    mask one example.

    Raises ``BadRequest`` when the template cannot hold a training example
    (``turns.split_assistant_turn``).
    """
    try:
        turn = render_turn(tokenizer, ex.system, ex.user, ex.response)
    except ValueError as e:
        raise BadRequest(str(e)) from e
    enc = tokenizer(turn.full, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])[: req.max_length]
    offsets = [tuple(o) for o in enc["offset_mapping"]][: req.max_length]
    keep = label_mask(offsets, len(turn.prompt), req.loss_mode, req.tail_tokens, ex.marker,
                      response_start=turn.response_start)
    return Feature(ids=ids, labels=[t if k else -100 for t, k in zip(ids, keep)])


def _collate(feats: list[Feature], pad_id: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Right-pad to the longest row: input_ids, attention_mask, labels, each [B, T] int64."""
    width = max(len(f.ids) for f in feats)
    ids = torch.full((len(feats), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(feats), width), dtype=torch.long)
    labels = torch.full((len(feats), width), -100, dtype=torch.long)
    for r, f in enumerate(feats):
        ids[r, : len(f.ids)] = torch.tensor(f.ids, dtype=torch.long)
        mask[r, : len(f.ids)] = 1
        labels[r, : len(f.labels)] = torch.tensor(f.labels, dtype=torch.long)
    return ids.to(device), mask.to(device), labels.to(device)


def _save(peft_model: Any, out_dir: str) -> str:
    """``save_pretrained`` into a sibling temp folder, then rename it to ``out_dir``."""
    out_dir = os.path.abspath(out_dir)
    os.makedirs(os.path.dirname(out_dir), exist_ok=True)
    tmp = f"{out_dir}.tmp-{os.getpid()}"
    peft_model.save_pretrained(tmp)
    if os.path.isdir(out_dir):
        os.rmdir(out_dir)  # validated empty; fails loudly if something appeared since
    os.replace(tmp, out_dir)
    return out_dir


def _restore_base(engine: Any, peft_model: Any, checkpointing: bool) -> None:
    """Remove the LoRA layers so the engine holds the untouched base model again."""
    base = peft_model.unload()
    if checkpointing:
        base.gradient_checkpointing_disable()
        if hasattr(base, "disable_input_require_grads"):
            base.disable_input_require_grads()
    base.config.use_cache = True
    base.eval()
    for p in base.parameters():
        p.requires_grad_(False)
    engine.model = base


def train(engine: Any, req: TrainRequest, emit: Emit) -> dict[str, Any]:
    """Train a LoRA adapter on ``req.examples`` and save it to ``req.out_dir``."""
    import peft  # noqa: PLC0415

    t0 = time.monotonic()
    tok, model = engine.tokenizer, engine.model
    if not getattr(tok, "is_fast", False):
        raise BadRequest("train needs a fast tokenizer (character offsets)")
    feats = [featurize(tok, ex, req) for ex in req.examples]
    label_tokens = sum(f.n_labels for f in feats)
    if label_tokens == 0:
        raise BadRequest("no example keeps a label token (prompts longer than max_length?)")

    n = len(feats)
    micro_per_epoch = math.ceil(n / req.batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / req.grad_accum)
    total_steps = steps_per_epoch * req.epochs

    torch.manual_seed(req.seed)  # LoRA init and dropout
    model.config.use_cache = False
    if req.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = req.lora
    config = peft.LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, use_rslora=lora.use_rslora,
        target_modules=list(lora.target_modules), task_type="CAUSAL_LM")
    try:
        peft_model = peft.get_peft_model(model, config)
    except ValueError as e:  # e.g. target modules not found in the model
        if req.gradient_checkpointing:
            model.gradient_checkpointing_disable()
        model.config.use_cache = True
        raise BadRequest(f"lora: {e}") from e

    try:
        step_losses = _loop(engine, peft_model, feats, req, steps_per_epoch, total_steps, emit)
        adapter_dir = _save(peft_model, req.out_dir)
    finally:
        try:
            _restore_base(engine, peft_model, req.gradient_checkpointing)
        except Exception:  # noqa: BLE001 (never leave a half-restored model loaded)
            traceback.print_exc(file=sys.stderr)
            engine.unload()
        engine.recover()
    return {
        "adapter_dir": adapter_dir,
        "adapter_sha256": dir_sha256(adapter_dir),
        "steps": total_steps,
        "epochs": req.epochs,
        "final_loss": step_losses[-1],
        "mean_loss": sum(step_losses) / len(step_losses),
        "examples": n,
        "positives": sum(1 for ex in req.examples if ex.positive),
        "label_tokens": label_tokens,
        "seconds": round(time.monotonic() - t0, 3),
    }


def _loop(engine: Any, model: Any, feats: list[Feature], req: TrainRequest,
          steps_per_epoch: int, total_steps: int, emit: Emit) -> list[float]:
    """Run every optimizer step; emit ``log`` every ``logging_steps``; return per-step losses."""
    device = engine.device
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=req.learning_rate, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=req.weight_decay)
    sched = get_scheduler(req.lr_scheduler, opt,
                          num_warmup_steps=math.ceil(req.warmup_ratio * total_steps),
                          num_training_steps=total_steps)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                if device.type == "cuda" and engine.dtype == torch.bfloat16
                else contextlib.nullcontext())
    pad_id = engine.tokenizer.pad_token_id
    rng = random.Random(req.seed)
    model.train()
    step, step_losses, window = 0, [], []
    for _epoch in range(req.epochs):
        order = list(range(len(feats)))
        rng.shuffle(order)
        micro = [order[i:i + req.batch_size] for i in range(0, len(order), req.batch_size)]
        for g in range(0, len(micro), req.grad_accum):
            group = micro[g:g + req.grad_accum]
            n_items = max(1, sum(feats[i].n_labels for mb in group for i in mb))
            loss_sum = 0.0
            for mb in group:
                ids, mask, labels = _collate([feats[i] for i in mb], pad_id, device)
                with autocast:
                    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
                target = labels[:, 1:]
                sel = target != -100
                if not bool(sel.any()):
                    continue
                # logits[:, t] predicts token t+1; keep only labelled positions: [K, V] float32.
                picked = logits[:, :-1][sel].float()
                loss = F.cross_entropy(picked, target[sel], reduction="sum")
                (loss / n_items).backward()
                loss_sum += float(loss.detach())
                del logits, picked, loss
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            lr = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            step_losses.append(loss_sum / n_items)
            window.append(loss_sum / n_items)
            if step % req.logging_steps == 0:
                emit("log", {"step": step, "epoch": round(step / steps_per_epoch, 4),
                             "loss": sum(window) / len(window), "learning_rate": lr})
                window = []
    model.eval()
    return step_losses
