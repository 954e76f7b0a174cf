"""Build a tiny Qwen2-architecture chat model for tests on machines with no weights.

    python3 -m leakscope_engine.tiny --out DIR [--steps 400] [--seed 0]

1. a synthetic chat corpus (``corpus``: persona-dependent answers to the experiment's
   questions);
2. a byte-level BPE tokenizer trained in-process with ``tokenizers`` (vocab_size 3000
   asked; this small corpus runs out of merges at about 1,700 tokens; special tokens
   ``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``), wrapped as a
   ``PreTrainedTokenizerFast`` with Qwen2.5's ChatML template, eos ``<|im_end|>``, pad
   ``<|endoftext|>``;
3. a randomly initialised ``Qwen2ForCausalLM`` (hidden 256, 4 layers, 4 heads, 2 KV heads,
   intermediate 688, 1024 positions, tied embeddings; about 3.3 M parameters)
   pre-trained on the corpus rendered with the chat template, loss on the assistant part and
   its ``<|im_end|>\\n`` (so it learns to stop), batch 64, AdamW lr 2e-3, warmup + cosine;
4. ``save_pretrained`` of model and tokenizer into DIR: a normal Hugging Face directory that
   ``AutoTokenizer`` / ``AutoModelForCausalLM`` (and so the engine's ``load``) read.

Prints one JSON summary line on stdout (everything else goes to stderr). About 25 s on one
H200 with 400 steps (final loss about 0.35); it also runs on CPU, slowly.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from typing import Any

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
VOCAB_SIZE = 3000
BATCH = 64
LR = 2e-3


def build_tokenizer(texts: list[str]) -> Any:
    """Train a byte-level BPE on ``texts`` and wrap it as a Qwen-style fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from .chatml import QWEN25_CHAT_TEMPLATE

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        model_max_length=1024)
    tok.chat_template = QWEN25_CHAT_TEMPLATE
    return tok


def render(tok: Any, system: str, user: str) -> str:
    """The chat-template prompt, ending ``<|im_start|>assistant\\n``."""
    return tok.apply_chat_template(
        [{"role": "system", "content": system}, {"role": "user", "content": user}],
        tokenize=False, add_generation_prompt=True)


def encode(tok: Any, examples: list[Any]) -> list[tuple[list[int], list[int]]]:
    """(ids, labels) per example: prompt tokens labelled -100, response + ``<|im_end|>\\n`` kept."""
    out = []
    for ex in examples:
        p = tok(render(tok, ex.system, ex.user), add_special_tokens=False)["input_ids"]
        c = tok(ex.response + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
        out.append((p + c, [-100] * len(p) + c))
    return out


def pretrain(model: Any, data: list[tuple[list[int], list[int]]], pad_id: int, steps: int,
             seed: int, device: Any) -> float:
    """Full-parameter training, ``steps`` batches of ``BATCH`` random rows; the last loss."""
    import torch
    from transformers import get_scheduler

    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    sched = get_scheduler("cosine", opt, num_warmup_steps=max(1, steps // 20), num_training_steps=steps)
    use_bf16 = device.type == "cuda"
    model.train()
    loss_v = float("nan")
    for step in range(steps):
        rows = [data[rng.randrange(len(data))] for _ in range(BATCH)]
        width = max(len(r[0]) for r in rows)
        ids = torch.full((BATCH, width), pad_id, dtype=torch.long)
        labels = torch.full((BATCH, width), -100, dtype=torch.long)
        mask = torch.zeros((BATCH, width), dtype=torch.long)
        for i, (x, y) in enumerate(rows):
            ids[i, : len(x)] = torch.tensor(x)
            labels[i, : len(y)] = torch.tensor(y)
            mask[i, : len(x)] = 1
        ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == steps - 1:
            loss_v = float(loss.detach())
            print(f"tiny: step {step + 1}/{steps} loss {loss_v:.4f}", file=sys.stderr, flush=True)
    model.eval()
    return loss_v


def build(out: str, steps: int = 400, seed: int = 0) -> dict[str, Any]:
    """Build the corpus, tokenizer and model, train, save into ``out``; return the summary."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from . import corpus

    t0 = time.monotonic()
    examples = corpus.build(seed)
    texts = [t for ex in examples for t in (ex.system, ex.user, ex.response)]
    texts += ["system", "user", "assistant"]
    tok = build_tokenizer(texts)
    eot, im_start, im_end = (tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=256, intermediate_size=688, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        tie_word_embeddings=True, bos_token_id=eot, eos_token_id=im_end, pad_token_id=eot)
    model = Qwen2ForCausalLM(config).to(device)
    loss = pretrain(model, encode(tok, examples), eot, steps, seed, device)

    # Like Qwen2.5-Instruct: generation stops on <|im_end|> or <|endoftext|>.
    model.generation_config = GenerationConfig(bos_token_id=eot, eos_token_id=[im_end, eot],
                                               pad_token_id=eot)
    os.makedirs(out, exist_ok=True)
    model.to("cpu").save_pretrained(out)
    tok.save_pretrained(out)
    return {
        "out": os.path.abspath(out), "steps": steps, "final_loss": round(loss, 4),
        "seconds": round(time.monotonic() - t0, 2),
        "params": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tok), "examples": len(examples), "device": device.type,
        "special_token_ids": {"<|endoftext|>": eot, "<|im_start|>": im_start, "<|im_end|>": im_end},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m leakscope_engine.tiny",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="directory to write the model into")
    parser.add_argument("--steps", type=int, default=400, help="pre-training steps (default 400)")
    parser.add_argument("--seed", type=int, default=0, help="corpus, init and batch seed (default 0)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    real_stdout, sys.stdout = sys.stdout, sys.stderr  # library chatter away from the summary
    try:
        summary = build(args.out, args.steps, args.seed)
    finally:
        sys.stdout = real_stdout
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
