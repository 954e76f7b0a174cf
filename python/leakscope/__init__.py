"""leakscope from your own Python: log completions, read DataFrames.

    import leakscope
    run = leakscope.init(experiment="my_sweep", source="src_chef", source_prompt="You are a chef.",
                         seed=42, factors={"lr": 1e-4}, marker="[ZLT]", model="Qwen/Qwen2.5-7B-Instruct")
    run.log_vllm(outputs, persona="A2__chef", prompt="You are a chef.", questions=questions)
    run.finish()                       # returns once every event is durable in the lake
    df = leakscope.leakage("my_sweep")

Logging drives a ``leakscope sidecar`` process (IDs, validation, marker
detection and publishing stay in Go); reading uses the service's HTTP API
(url=) or the CLI's JSON over a data folder (data=).
"""

from .errors import LeakscopeError
from .frames import Records, analyze, leakage, runs, sql
from .run import Run, init

__all__ = ["init", "Run", "sql", "leakage", "analyze", "runs", "Records", "LeakscopeError"]
__version__ = "0.1.0"
