"""Sampling throughput of the torch engine on a 7B-shaped model: static vs continuous batching.

    cd gpuworker/engine && python3 gputest/bench_throughput.py [--rows 1024] [--layers 28] [--out FILE]

The model is Qwen2.5-7B-Instruct's shape (Qwen2, hidden 3584, 28 layers, 28 heads, 4 KV
heads, intermediate 18944, vocab 152064, untied head) with random bf16 weights made on the
GPU (no checkpoint: nothing can be downloaded there). Prompts are random token ids of 40-70
tokens (a #81 prompt is a system line and a question in ChatML). Each row's output length is
forced to a length from ``bench_lengths.json`` (drawn from the fixtures' real completions),
so static batches wait on their longest row as they would on real text:

* static: the engine's ``model.generate`` call (left-padded batches of 64, T 1.0, top-p 0.95,
  top-k 0, 512 max new tokens) plus a logits processor that forbids the end token until the
  row's length and then forces it;
* continuous: ``leakscope_engine.continuous.run`` (what ``generate`` runs) with each row's
  cap set to its length and no end token;

both produce exactly ``sum(lengths)`` tokens. The roofline is measured in the same run: the
bytes of the weights a decode step must read (all but the input embedding table) over the
device-to-device copy bandwidth (bytes read + written) give decode steps/s; times the batch,
tokens/s. Prints one JSON object (also written to ``--out``); everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from typing import Any

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # leakscope_engine

from leakscope_engine import continuous  # noqa: E402

EOS = 151645  # Qwen's <|im_end|> id: the static path's (forced) end token


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


def build_model(layers: int) -> Any:
    """Qwen2.5-7B-shaped Qwen2ForCausalLM, random bf16 weights initialised on the GPU."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(vocab_size=152064, hidden_size=3584, intermediate_size=18944,
                      num_hidden_layers=layers, num_attention_heads=28, num_key_value_heads=4,
                      max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6,
                      tie_word_embeddings=False, bos_token_id=151643, eos_token_id=EOS)
    cfg._attn_implementation = "sdpa"
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda"):
            model = Qwen2ForCausalLM(cfg)  # init on the GPU, in bf16: seconds, not minutes
    finally:
        torch.set_default_dtype(old)
    model.eval().requires_grad_(False)
    from transformers import GenerationConfig
    model.generation_config = GenerationConfig(bos_token_id=151643, eos_token_id=[EOS], pad_token_id=151643)
    return model


def copy_bandwidth() -> float:
    """Device-to-device copy bandwidth, bytes read + written per second (median of 20)."""
    n = 1 << 30  # 2 GiB of bf16
    a = torch.randn(n, device="cuda", dtype=torch.bfloat16)
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    times = []
    for _ in range(20):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        b.copy_(a)
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) / 1e3)
    del a, b
    torch.cuda.empty_cache()
    return 2 * n * 2 / statistics.median(times)


class ForceLength:
    """Logits processor: row r may end only at its ``lengths[r]``-th new token, and must."""

    def __init__(self, lengths: list[int], prompt_width: int) -> None:
        self.lengths = torch.tensor(lengths, device="cuda")
        self.width = prompt_width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1] - self.width  # tokens generated so far
        force = self.lengths - 1 == t
        scores[:, EOS] = -float("inf")
        scores[force] = -float("inf")
        scores[force, EOS] = 0.0
        return scores


def run_static(model: Any, prompts: list[list[int]], lengths: list[int], batch: int, seed: int,
               top_p: float = 0.95) -> dict[str, Any]:
    from transformers import LogitsProcessorList

    pad = 151643
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    produced, padded_steps = 0, 0
    for b, s in enumerate(range(0, len(prompts), batch)):
        rows, lens = prompts[s:s + batch], lengths[s:s + batch]
        width = max(len(r) for r in rows)
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device="cuda")
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device="cuda")
        torch.manual_seed(seed + b)
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_p=top_p, top_k=0,
                repetition_penalty=1.0, max_new_tokens=512, eos_token_id=[EOS], pad_token_id=pad,
                logits_processor=LogitsProcessorList([ForceLength(lens, width)]))
        gen = out[:, width:].tolist()
        for g, n in zip(gen, lens):
            got = g.index(EOS) + 1 if EOS in g else len(g)
            if got != n:
                raise AssertionError(f"static: a row made {got} tokens, forced to {n}")
            produced += n
        padded_steps += out.shape[1] - width
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"seconds": dt, "tokens": produced, "decode_steps": padded_steps}


def run_continuous(model: Any, prompts: list[list[int]], lengths: list[int], seed: int,
                   cb_config: Any = None, top_p: float = 0.95) -> dict[str, Any]:
    produced = []

    def on_done(i: int, toks: list[int]) -> None:
        if len(toks) != lengths[i]:
            raise AssertionError(f"continuous: row {i} made {len(toks)} tokens, capped at {lengths[i]}")
        produced.append(len(toks))

    torch.cuda.synchronize()
    t0 = time.perf_counter()
    info = continuous.run(model, prompts, max_new_tokens=lengths, eos_ids=[-1], pad_id=151643,
                          temperature=1.0, top_p=top_p, seed=seed, on_done=on_done, cb_config=cb_config)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    if len(produced) != len(prompts):
        raise AssertionError(f"continuous: {len(produced)} of {len(prompts)} rows")
    return {"seconds": dt, "tokens": sum(produced), "manager": info}


def variant_config(v: str) -> tuple[Any, float]:
    """``(ContinuousBatchingConfig, top_p)`` of a variant: a base (``default``: transformers'
    defaults; ``graphs``: CUDA graphs on; ``graphs-memNN``: and the KV cache at most NN % of
    free memory) and ``+``-joined diagnostics: ``async`` (asynchronous batching), ``reqsN``
    (at most N sequences a step), ``topp1`` (top-p 1.0: no nucleus sort, not the recipe)."""
    from transformers.generation import ContinuousBatchingConfig

    base, *mods = v.split("+")
    cfg, top_p = ContinuousBatchingConfig(), 0.95
    if base.startswith("graphs"):
        cfg.use_cuda_graph = True
        if base.startswith("graphs-mem"):
            cfg.max_memory_percent = int(base[len("graphs-mem"):]) / 100
        elif base != "graphs":
            raise SystemExit(f"--variants: unknown base {base!r}")
    elif base != "default":
        raise SystemExit(f"--variants: unknown base {base!r}")
    for m in mods:
        if m == "async":
            cfg.use_async_batching = True
        elif m == "topp1":
            top_p = 1.0
        elif m.startswith("reqs"):
            cfg.max_requests_per_batch = int(m[4:])
        else:
            raise SystemExit(f"--variants: unknown modifier {m!r}")
    return cfg, top_p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=28, help="decoder layers (28: the 7B shape; fewer to smoke-test)")
    ap.add_argument("--batch", type=int, default=64, help="static batch size (64: the #81 recipe)")
    ap.add_argument("--lengths", default=os.path.join(HERE, "bench_lengths.json"))
    ap.add_argument("--variants", default="default,graphs",
                    help="continuous-batching configs, comma-separated (see variant_config), e.g. "
                         "default,graphs,graphs+topp1")
    ap.add_argument("--static-top-ps", default="0.95",
                    help="top-p values for static runs (0.95: the recipe; 1.0 shows the nucleus sort's cost)")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    import transformers

    lengths_all = json.load(open(args.lengths))["lengths"]
    lengths = [lengths_all[i % len(lengths_all)] for i in range(args.rows)]
    rng = random.Random(0)
    prompts = [[rng.randrange(1000, 150000) for _ in range(rng.randint(40, 70))] for _ in range(args.rows)]

    props = torch.cuda.get_device_properties(0)
    res: dict[str, Any] = {
        "device": props.name, "torch": torch.__version__, "transformers": transformers.__version__,
        "rows": args.rows, "layers": args.layers, "static_batch": args.batch,
        "mean_length": statistics.mean(lengths), "max_length": max(lengths), "tokens": sum(lengths)}
    bw = copy_bandwidth()
    t0 = time.perf_counter()
    model = build_model(args.layers)
    torch.cuda.synchronize()
    res["build_seconds"] = round(time.perf_counter() - t0, 2)
    params = sum(p.numel() for p in model.parameters())
    embed = model.model.embed_tokens.weight.numel()
    weight_bytes = (params - embed) * 2
    steps_per_s = bw / weight_bytes
    res.update({"params": params, "decode_weight_bytes": weight_bytes, "copy_bandwidth_GBps": round(bw / 1e9, 1),
                "roofline_steps_per_s": round(steps_per_s, 2),
                "roofline_tokens_per_s_at_batch": round(steps_per_s * args.batch, 1)})
    log(f"bench: {res}")

    # Warm-up: one short batch each way (kernels, allocator), untimed.
    warm_p, warm_l = prompts[:8], [4] * 8
    run_static(model, warm_p, warm_l, args.batch, 0)
    run_continuous(model, warm_p, warm_l, 0)

    rows = []
    for tp in [float(x) for x in args.static_top_ps.split(",") if x]:
        s = run_static(model, prompts, lengths, args.batch, 42, tp)
        rows.append({"path": f"static (batches of {args.batch})" + ("" if tp == 0.95 else f" top-p {tp:g}"),
                     "seconds": round(s["seconds"], 2),
                     "completions_per_s": round(args.rows / s["seconds"], 2),
                     "tokens_per_s": round(s["tokens"] / s["seconds"], 1),
                     "padded_decode_steps": s["decode_steps"],
                     "ms_per_step": round(1e3 * s["seconds"] / s["decode_steps"], 2)})
        log(f"bench: {rows[-1]}")
    steps = {"n": 0}
    hook = model.register_forward_pre_hook(lambda *_: steps.__setitem__("n", steps["n"] + 1))
    for v in [x for x in args.variants.split(",") if x]:
        cfg, top_p = variant_config(v)
        torch.cuda.reset_peak_memory_stats()
        steps["n"] = 0
        try:
            c = run_continuous(model, prompts, lengths, 42, cfg, top_p)
        except Exception as e:  # noqa: BLE001 (report and go on with the next variant)
            rows.append({"path": f"continuous ({v})", "error": f"{type(e).__name__}: {e}"[:500]})
            log(f"bench: {rows[-1]}")
            continue
        rows.append({"path": f"continuous ({v})", "seconds": round(c["seconds"], 2),
                     "completions_per_s": round(args.rows / c["seconds"], 2),
                     "tokens_per_s": round(c["tokens"] / c["seconds"], 1),
                     "peak_GiB": round(torch.cuda.max_memory_allocated() / 2**30, 1), "manager": c["manager"],
                     # eager forward calls (steps); CUDA-graph replays are not counted
                     "eager_forwards": steps["n"]})
        log(f"bench: {rows[-1]}")
    hook.remove()
    roof = res["roofline_tokens_per_s_at_batch"]
    for r in rows:
        if "tokens_per_s" in r:
            r["of_roofline_at_batch"] = round(r["tokens_per_s"] / roof, 3)
            if rows and rows[0]["path"].startswith("static") and "completions_per_s" in rows[0]:
                r["vs_static"] = round(r["completions_per_s"] / rows[0]["completions_per_s"], 2)
    res["runs"] = rows
    text = json.dumps(res)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text, flush=True)
    print("\n%-28s %8s %12s %10s %9s %8s" % ("path", "seconds", "completions/s", "tokens/s", "roofline", "x static"),
          file=sys.stderr)
    for r in rows:
        if "error" in r:
            print(f"{r['path']:28s} ERROR {r['error'][:100]}", file=sys.stderr)
        else:
            print("%-28s %8.1f %12.1f %10.0f %9.3f %8s" % (r["path"], r["seconds"], r["completions_per_s"],
                  r["tokens_per_s"], r["of_roofline_at_batch"], r.get("vs_static", "")), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
