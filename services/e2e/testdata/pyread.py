"""Prints, as JSON, what the leakscope Python package reads back, for
services/e2e/python_client_test.go. usage: pyread.py data|url WHERE EXPERIMENT..."""

import datetime
import json
import sys

import leakscope

how, where, experiments = sys.argv[1], sys.argv[2], sys.argv[3:]
kw = {"data": where} if how == "data" else {"url": where}


def plain(rows):
    if hasattr(rows, "to_dict"):  # pandas: a field a cell lacks is NaN or <NA> there, null in JSON
        rows = rows.astype(object).where(rows.notna(), None)
    out = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
    return json.loads(json.dumps(out, default=str))


res = {"leakage": {e: plain(leakscope.leakage(e, **kw)) for e in experiments}}
q = ("SELECT count(*) AS n, count(DISTINCT question) AS ids, max(ingested_at) AS last, avg(sample_index) AS mean_index, "
     "list(DISTINCT persona ORDER BY persona)[1:2] AS first_personas FROM completions WHERE experiment = '%s'" % experiments[0])
df = leakscope.sql(q, **kw)
try:
    import pandas  # noqa: F401
    res["pandas"] = True
    res["dtypes"] = {c: str(t) for c, t in df.dtypes.items()}
    row = df.iloc[0].to_dict()
except ImportError:
    res["pandas"] = False
    row = df[0]
res["types"] = {c: type(v).__name__ for c, v in row.items()}
# NaN and NaT (an empty experiment's avg and max) are null in JSON, as the CLI writes them.
res["sql"] = json.loads(json.dumps({c: None if v is None or (not isinstance(v, (list, dict)) and v != v) else v
                                    for c, v in row.items()}, default=str))
res["provenance_query"] = df.attrs["provenance"]["query"] == q
res["aware"] = isinstance(row["last"], datetime.datetime) and row["last"].tzinfo is not None
print(json.dumps(res))
