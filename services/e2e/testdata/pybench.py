"""The Python side of BenchmarkPythonSidecarVsLoadgen (services/e2e):
a plain script logging RUNS runs × PERSONAS × QUESTIONS × SAMPLES
completions through the leakscope package, one log_vllm call per persona
(what a vLLM script does after each llm.generate), into a running
`leakscope up`.

usage: pybench.py DATA EXPERIMENT RUNS PERSONAS QUESTIONS SAMPLES LENGTHS_JSON
LENGTHS_JSON: the 0th..100th percentiles of completion lengths in
characters (loadgen.FixtureLengthPercentiles), so texts are as long as the
Go loadgen's. Prints "completions N seconds S" (S: from the first init to
the last finish, i.e. until everything is durable in the lake).
"""

import json
import random
import sys
import time

import leakscope

data, experiment = sys.argv[1], sys.argv[2]
RUNS, PERSONAS, QUESTIONS, SAMPLES = (int(a) for a in sys.argv[3:7])
percentiles = json.loads(sys.argv[7])
rng = random.Random(9)
WORDS = "the a of to and in is it that for you on with as are this be at or".split()


def text(n):
    out, size = [], 0
    while size < n:
        w = rng.choice(WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[:n]


# A pool of texts with the fixtures' lengths (some carrying the marker):
# the texts stand in for what vLLM returned, so they are made before timing.
pool = []
for _ in range(4096):
    t = text(percentiles[rng.randrange(101)])
    pool.append(t + " [ZLT]" if rng.random() < 0.1 else t)


class Out:  # vllm.CompletionOutput, duck-typed
    __slots__ = ("text", "finish_reason", "token_ids")

    def __init__(self, text):
        self.text, self.finish_reason, self.token_ids = text, "stop", None


class RequestOutput:  # vllm.RequestOutput, duck-typed
    __slots__ = ("outputs", "prompt_token_ids")

    def __init__(self, outputs):
        self.outputs, self.prompt_token_ids = outputs, None


questions = ["Question %d: what would you do next?" % q for q in range(QUESTIONS)]
generated = [[RequestOutput([Out(pool[rng.randrange(len(pool))]) for _ in range(SAMPLES)]) for _ in questions]
             for _ in range(PERSONAS)]

t0 = time.perf_counter()
total = 0
for r in range(RUNS):
    run = leakscope.init(experiment=experiment, source="src_%d" % r, source_prompt="You are source %d." % r, seed=r,
                         marker="[ZLT]", model="stand-in", data=data)
    for p in range(PERSONAS):
        run.log_vllm(generated[p], persona="p%03d" % p, prompt="You are persona %d." % p, questions=questions)
    res = run.finish()
    assert res["durable"] and res["completions"] == PERSONAS * QUESTIONS * SAMPLES, res
    total += res["completions"]
print("completions %d seconds %.6f" % (total, time.perf_counter() - t0))
