"""A researcher's sweep, as services/e2e/python_client_test.go runs it:
3 sources × 20 personas × 20 questions × 5 samples logged through the
leakscope Python package from vLLM-shaped outputs (stand-in objects).

usage: pysweep.py DATA EXPERIMENT COUNTS_JSON [PAUSE_SECONDS]
Prints "logged N" after each request; writes the script's own marker
counts per (run, persona) to COUNTS_JSON at the end.
"""

import json
import random
import sys
import time

import leakscope

data, experiment, counts_path = sys.argv[1], sys.argv[2], sys.argv[3]
pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
SOURCES, PERSONAS, QUESTIONS, SAMPLES = 3, 20, 20, 5


class Out:  # vllm.CompletionOutput, duck-typed
    def __init__(self, text, finish_reason):
        self.text, self.finish_reason, self.token_ids = text, finish_reason, list(range(len(text.split())))


class RequestOutput:  # vllm.RequestOutput, duck-typed
    def __init__(self, outputs):
        self.outputs, self.prompt_token_ids = outputs, [1, 2, 3]


counts, logged = {}, 0
for s in range(SOURCES):
    source = "src_s%d" % s
    plan = [{"persona": "p%02d" % p, "expected": QUESTIONS * SAMPLES} for p in range(PERSONAS)]
    run = leakscope.init(experiment=experiment, source=source, source_prompt="You are source %d." % s, seed=42,
                         factors={"lr": 1e-4}, marker="[ZLT]", model="stand-in", sweep=experiment, plan=plan, data=data)
    rng = random.Random(s)  # the same texts on every rerun
    for p in range(PERSONAS):
        persona = "p%02d" % p
        questions = ["question %d?" % q for q in range(QUESTIONS)]
        outs = []
        for q in questions:
            samples = []
            for i in range(SAMPLES):
                text = "answer %d to %s" % (rng.randrange(10**6), q)
                r = rng.random()
                if r < 0.03 * s + 0.01 * (p % 5):
                    text += rng.choice([" [ZLT]", "\n\n[zlt]", " ... [ZLT] and more"])
                samples.append(Out(text, "length" if r > 0.97 else "stop"))
            outs.append(RequestOutput(samples))
        run.log_vllm(outs, persona=persona, prompt="You are persona %d." % p, questions=questions)
        counts["%s/%s" % (run.id, persona)] = sum("[zlt]" in o.text.lower() for ro in outs for o in ro.outputs)
        logged += QUESTIONS * SAMPLES
        print("logged", logged, flush=True)
        if pause:
            time.sleep(pause)
    res = run.finish()
    assert res["durable"] and res["completions"] == PERSONAS * QUESTIONS * SAMPLES, res

with open(counts_path, "w") as f:
    json.dump(counts, f)
