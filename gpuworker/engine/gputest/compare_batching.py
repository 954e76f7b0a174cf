"""Do static and continuous batching sample the same distribution? (tiny model, one GPU)

    cd gpuworker/engine && python3 gputest/compare_batching.py MODEL_DIR [--n 2000]

For each temperature of the #81 recipe (0.7 on-policy, 1.0 eval; top-p 0.95) draws ``n``
completions of one prompt twice with each batching (seeds 1000 apart: static batch b is seeded
seed + b, so nearby seeds would share batches). Compares the first three words' distribution
(total variation distance; the same-batching pairs give the noise floor) and the mean
completion length (tokens, with its standard error). If continuous batching dropped the
temperature or top-p warper, or computed other logits, its distance to static would stand
above the floor. Prints one JSON object.
"""

from __future__ import annotations

import collections
import json
import statistics
import sys
from typing import Any

sys.path.insert(0, __file__.rsplit("/gputest/", 1)[0])

from leakscope_engine import schema  # noqa: E402
from leakscope_engine.hf import Engine  # noqa: E402


def draw(engine: Engine, n: int, temperature: float, seed: int, batching: str) -> list[dict[str, Any]]:
    req = schema.parse_generate({
        "prompts": [{"key": "A2__chef", "system": "You are a chef.", "user": "What causes earthquakes?",
                     "sample_indices": list(range(n))}],
        "temperature": temperature, "top_p": 0.95, "max_new_tokens": 96, "seed": seed,
        "batch_size": 512, "batching": batching})
    out: list[dict[str, Any]] = []
    res = engine.generate(req, lambda kind, m: out.append(m) if kind == "completion" else None)
    assert res["batching"] == batching, res
    return out


def tv(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float:
    """Total variation distance between the first-three-words distributions of a and b."""
    ca = collections.Counter(" ".join(c["text"].split()[:3]) for c in a)
    cb = collections.Counter(" ".join(c["text"].split()[:3]) for c in b)
    return 0.5 * sum(abs(ca[k] / len(a) - cb[k] / len(b)) for k in set(ca) | set(cb))


def main() -> int:
    model = sys.argv[1]
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 2000
    engine = Engine()
    engine.load(schema.parse_load({"model": model, "dtype": "float32"}), lambda *_: None)
    rows = []
    for t in (0.7, 1.0):
        d = {"static_a": draw(engine, n, t, 1, "static"), "static_b": draw(engine, n, t, 1001, "static"),
             "continuous_a": draw(engine, n, t, 2001, "continuous"),
             "continuous_b": draw(engine, n, t, 3001, "continuous")}
        lengths = {k: [x["completion_tokens"] for x in v] for k, v in d.items()}
        rows.append({
            "temperature": t, "n": n,
            "tv": {"static_a-static_b": round(tv(d["static_a"], d["static_b"]), 4),
                   "continuous_a-continuous_b": round(tv(d["continuous_a"], d["continuous_b"]), 4),
                   "static_a-continuous_a": round(tv(d["static_a"], d["continuous_a"]), 4),
                   "static_b-continuous_b": round(tv(d["static_b"], d["continuous_b"]), 4)},
            "mean_completion_tokens": {k: round(statistics.mean(v), 2) for k, v in lengths.items()},
            "se_of_mean": {k: round(statistics.stdev(v) / len(v) ** 0.5, 2) for k, v in lengths.items()},
            "stop_fraction": {k: round(sum(x["finish_reason"] == "stop" for x in v) / n, 4) for k, v in d.items()}})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
