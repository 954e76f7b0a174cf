"""Check the GPU test's lake with pandas/pyarrow (what researchers use):
per-cell completion counts (distinct event IDs: the lake may hold a row
twice, the query views keep one), marker rates with the strict detector
("[zlt]" anywhere, ignoring case — EXPERIMENT.md §2.2), finish reasons.
Prints one JSON object."""
import json
import sys

import pandas as pd

lake = sys.argv[1]
exp = sys.argv[2] if len(sys.argv) > 2 else "gpu_test"
c = pd.read_parquet(f"{lake}/completions/experiment={exp}")
rows = len(c)
c = c.drop_duplicates("event_id")
c["hit"] = c["text"].str.lower().str.contains("[zlt]", regex=False)
cells = (
    c.groupby(["run_id", "persona"])
    .agg(n=("event_id", "size"), found=("hit", "sum"), length_cut=("finish_reason", lambda s: int((s == "length").sum())))
    .reset_index()
)
cells["rate"] = cells["found"] / cells["n"]
dup_keys = int(c.duplicated(["run_id", "persona", "question", "sample_index"]).sum())
out = {
    "raw_rows": rows,
    "distinct_completions": len(c),
    "duplicate_natural_keys": dup_keys,
    "cells": cells.to_dict(orient="records"),
}
try:  # adaptive runs (issue 11): each cell's final n and stop reason
    f = pd.read_parquet(f"{lake}/run_finished/experiment={exp}").drop_duplicates("event_id")
    out["adaptive_cells"] = {r.run_id: json.loads(r.cells_json) for r in f.itertuples() if isinstance(getattr(r, "cells_json", None), str)}
except Exception as e:  # noqa: BLE001
    out["adaptive_cells"] = f"unreadable: {e}"
for t in ["training_steps", "embeddings", "cosines", "job_status", "stop_decisions"]:
    try:
        out[t] = int(pd.read_parquet(f"{lake}/{t}/experiment={exp}")["event_id"].nunique())
    except Exception as e:  # noqa: BLE001 - report, do not fail the check
        out[t] = f"unreadable: {e}"
print(json.dumps(out, indent=1, default=int))
