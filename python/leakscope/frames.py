"""Reading leakscope as DataFrames: sql, leakage, analyze, runs.

Each function asks either a running service (url=, or $LEAKSCOPE_URL: its
HTTP API /api/sql, /api/leakage, /api/analyze, /api/runs) or a data folder
(data=, or $LEAKSCOPE_DATA, default ./leakscope-data: the CLI's JSON
output, e.g. ``leakscope --data D leakage --format json``). The result is a
pandas DataFrame when pandas is importable, else a :class:`Records` list of
dicts; both carry ``.attrs["provenance"]``.
"""

import datetime as _dt
import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from ._binary import find_binary
from .errors import LeakscopeError

try:  # pandas when installed; the core is the standard library
    import pandas as _pd
except ImportError:  # pragma: no cover - depends on the machine
    _pd = None


class Records(list):
    """A list of row dicts with ``attrs`` (as a DataFrame has) — what the
    readers return when pandas is not installed."""

    def __init__(self, rows=(), attrs=None):
        super().__init__(rows)
        self.attrs = dict(attrs or {})

    @property
    def columns(self):
        return list(self.attrs.get("columns", []))


# ---- where the answer comes from --------------------------------------


def _source(data, url):
    url = url or (None if data else os.environ.get("LEAKSCOPE_URL"))
    if url:
        return ("http", url.rstrip("/"))
    return ("data", str(data or os.environ.get("LEAKSCOPE_DATA", "./leakscope-data")))


def _http(base, path, params=None, body=None):
    q = urllib.parse.urlencode(params or [], doseq=True)
    req = urllib.request.Request(base + path + ("?" + q if q else ""), data=body,
                                 method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        try:
            msg = json.load(e).get("error", e.reason)
        except ValueError:
            msg = e.reason
        raise LeakscopeError("%s%s: HTTP %d: %s" % (base, path, e.code, msg))
    except urllib.error.URLError as e:
        raise LeakscopeError("%s: %s (is `leakscope up` running?)" % (base, e.reason))


def _cli(data, args, binary=None):
    argv = [find_binary(binary), "--data", data] + args
    p = subprocess.run(argv, capture_output=True, text=True, encoding="utf-8")
    if p.returncode != 0:
        raise LeakscopeError(p.stderr.strip().removeprefix("leakscope: ") or "exit status %d" % p.returncode)
    return json.loads(p.stdout), [ln[len("note: "):] for ln in p.stderr.splitlines() if ln.startswith("note: ")]


def _now():
    return _dt.datetime.now(_dt.timezone.utc)


# ---- typing --------------------------------------------------------------

_INT = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|INT\d*)$")
_FLOAT = re.compile(r"^(FLOAT|DOUBLE|REAL|DECIMAL.*)$")


def parse_time(s):
    """An RFC 3339 timestamp (any fraction digits, Z or offset) → aware datetime; None stays None."""
    if s is None or isinstance(s, _dt.datetime):
        return s
    m = re.match(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$", s)
    if not m:
        return _dt.datetime.fromisoformat(s)  # dates and other ISO forms; raises ValueError otherwise
    frac = (m.group(2) or "")[:7].ljust(7, "0") if m.group(2) else ""
    tz = m.group(3) or "+00:00"
    return _dt.datetime.fromisoformat(m.group(1) + frac + ("+00:00" if tz == "Z" else tz))


def _kind(duck_type):
    t = (duck_type or "").upper()
    if t.endswith("[]") or t.startswith(("LIST", "STRUCT", "MAP")):
        return "object"
    if _INT.match(t):
        return "int"
    if _FLOAT.match(t):
        return "float"
    if t == "BOOLEAN":
        return "bool"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return "time"
    return "str" if t in ("VARCHAR", "UUID", "BLOB") else "object"


def _convert(v, kind):
    if v is None:
        return None
    if kind == "time":
        return parse_time(v)
    if kind == "float":
        return float(v)
    if kind == "int":
        return int(v)
    return v


def _frame(rows, columns, kinds, provenance):
    """rows: list of dicts; kinds: column → int|float|bool|time|str|object."""
    for r in rows:
        for c, k in kinds.items():
            if c in r:
                r[c] = _convert(r[c], k)
    attrs = {"provenance": provenance}
    if _pd is None:
        attrs["columns"], attrs["kinds"] = list(columns), dict(kinds)
        return Records(rows, attrs)
    df = _pd.DataFrame.from_records(rows, columns=list(columns))
    for c, k in kinds.items():
        if c not in df.columns:
            continue
        if k == "int":
            df[c] = df[c].astype("Int64")
        elif k == "float":
            df[c] = _pd.to_numeric(df[c], errors="coerce").astype("float64")
        elif k == "bool":
            df[c] = df[c].astype("boolean")
        elif k == "time":
            df[c] = _pd.to_datetime(df[c], utc=True)
    df.attrs.update(attrs)
    return df


# JSON writes the float 1.0 as 1: only columns named as counts or indices
# are typed as integers, every other numeric column as float.
_INT_NAME = re.compile(r"^(n|n_\w+|\w+_n|found|total|\w+_found|count|\w+_count|seed|completions|cells|cosine_pairs|"
                       r"expected|layer|\w+_index|runs|lake_files|cells_in_scope)$")


def _infer_kinds(rows, columns):
    """Kinds from JSON values: numbers numeric, *_at / time columns timestamps."""
    kinds = {}
    for c in columns:
        vals = [r.get(c) for r in rows if r.get(c) is not None]
        if c.endswith("_at") or c == "time":
            kinds[c] = "time"
        elif vals and all(isinstance(v, bool) for v in vals):
            kinds[c] = "bool"
        elif vals and _INT_NAME.match(c) and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            kinds[c] = "int"
        elif vals and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            kinds[c] = "float"
        elif vals and all(isinstance(v, str) for v in vals):
            kinds[c] = "str"
        else:
            kinds[c] = "object"
    return kinds


# ---- scope -------------------------------------------------------------------


def _list(v):
    if v is None:
        return []
    if isinstance(v, (list, tuple, set)):
        return [str(x) for x in v]
    return [str(v)]


def _where(where):
    """{"lr": "1e-4", "trait": ["A", "B"]} → ["lr=1e-4", "trait=A|B"]."""
    out = []
    for k, v in (where or {}).items():
        out.append("%s=%s" % (k, "|".join(_list(v))))
    return out


def _scope(kw):
    """Pops the scope keywords: run(s), seed(s), sweep(s), source(s), where, include_retracted."""
    s = {}
    for one, many in (("run", "runs"), ("seed", "seeds"), ("sweep", "sweeps"), ("source", "sources")):
        vals = _list(kw.pop(one, None)) + _list(kw.pop(many, None))
        if vals:
            s[one] = vals
    w = _where(kw.pop("where", None))
    if w:
        s["where"] = w
    if kw.pop("include_retracted", False):
        s["include_retracted"] = True
    return s


def _scope_flags(s):
    args = []
    for k in ("run", "seed", "sweep", "source", "where"):
        for v in s.get(k, []):
            args += ["--" + k, v]
    if s.get("include_retracted"):
        args.append("--include-retracted")
    return args


def _scope_params(s):
    """The scope as the estimands' own parameters (runs, seeds, …, where joined with ';')."""
    p = {}
    for k in ("run", "seed", "sweep", "source"):
        if s.get(k):
            p[k + "s"] = ",".join(s[k])
    if s.get("where"):
        p["where"] = ";".join(s["where"])
    if s.get("include_retracted"):
        p["include_retracted"] = "true"
    return p


def _reject(kw, what):
    if kw:
        raise LeakscopeError("unknown argument(s) %s" % ", ".join(sorted(kw)), field=what)


# ---- the readers ---------------------------------------------------------------


def sql(q, data=None, url=None, binary=None):
    """Run one read-only SQL statement over the lake's views (runs,
    completions, marker_hits, cells, …) and return its rows, typed from
    DuckDB's column types: integers Int64, floats float64, booleans,
    timestamps as UTC datetimes, lists as lists. Raises LeakscopeError
    with DuckDB's message on a bad statement."""
    if not isinstance(q, str):
        raise LeakscopeError("is %s, want a str" % type(q).__name__, field="q")
    try:
        body = q.encode("utf-8")
    except UnicodeEncodeError as e:
        raise LeakscopeError("is not valid Unicode text: %r at position %d" % (q[e.start], e.start), field="q")
    kind, where = _source(data, url)
    if kind == "http":
        res = _http(where, "/api/sql", body=body)
    else:
        # "--": a statement may begin with "-- a comment", which is no flag.
        res, _ = _cli(where, ["sql", "--format", "json-table", "--", q], binary)
    cols, types = res["columns"], res.get("types") or [None] * len(res["columns"])
    if len(set(cols)) != len(cols):
        raise LeakscopeError("the statement returns columns with the same name (%s): give them aliases" % ", ".join(cols))
    rows = [dict(zip(cols, r)) for r in res["rows"]]
    kinds = {c: _kind(t) for c, t in zip(cols, types)}
    prov = {"from": where, "via": kind, "query": q, "columns": dict(zip(cols, types)), "retrieved_at": _now()}
    return _frame(rows, cols, kinds, prov)


def leakage(experiment, detector=None, marker=None, include_base=False, data=None, url=None, binary=None, **scope):
    """The leakage matrix of an experiment: one row per (run, bystander)
    cell with rate (fraction in [0,1]), found, total, ci95_low/high,
    rate_minus_base, … exactly as ``leakscope leakage --format json``.
    Scope keywords: run(s), seed(s) (training seeds), sweep(s), source(s),
    where={factor: value or [alternatives]}, include_retracted.
    attrs["provenance"] holds the request, detector_rule, notes and
    counted_from."""
    s = _scope(scope)
    _reject(scope, "scope")
    kind, where = _source(data, url)
    if kind == "http":
        params = [("experiment", experiment)]
        for k, v in (("detector", detector), ("marker", marker)):
            if v:
                params.append((k, v))
        if include_base:
            params.append(("include_base", "true"))
        for k, vals in s.items():
            params += [(k, "true")] if vals is True else [(k, v) for v in vals]
        res = _http(where, "/api/leakage", params)
    else:
        args = ["leakage", "--experiment", experiment, "--format", "json"]
        for k, v in (("detector", detector), ("marker", marker)):
            if v:
                args += ["--" + k, v]
        if include_base:
            args.append("--include-base")
        res, _ = _cli(where, args + _scope_flags(s), binary)
    cells = res.pop("cells") or []
    cols = []  # fields left empty are omitted from a cell: the union, in order
    for c in cells:
        cols += [k for k in c if k not in cols]
    prov = dict(res, **{"from": where, "via": kind, "retrieved_at": _now()})
    return _frame(cells, cols, _infer_kinds(cells, cols), prov)


def analyze(name, experiment, data=None, url=None, binary=None, **params):
    """A named estimand (``leakscope analyze --list``) over an experiment:
    its table, typed, with attrs["provenance"] = the estimand's provenance
    (runs, params, lake fingerprint, code version, computed_at) plus
    estimand and notes. params are the estimand's parameters (seed= is its
    RNG seed); the scope keywords runs/seeds(training)/sweeps/sources/where/
    include_retracted select runs."""
    scope = {k: params.pop(k) for k in ("run", "runs", "seeds", "sweep", "sweeps", "source", "sources", "where",
                                        "include_retracted") if k in params}
    p = {k: _param(v) for k, v in params.items()}
    for k, v in _scope_params(_scope(scope)).items():
        p[k] = v
    kind, where = _source(data, url)
    if kind == "http":
        res = _http(where, "/api/analyze/" + urllib.parse.quote(name), [("experiment", experiment)] + sorted(p.items()))
    else:
        args = ["analyze", name, "--experiment", experiment, "--format", "json"]
        for k, v in sorted(p.items()):
            args += ["--param", "%s=%s" % (k, v)]
        res, _ = _cli(where, args, binary)
    cols = res["columns"]
    rows = [dict(zip(cols, r)) for r in res["rows"] or []]
    prov = dict(res["provenance"], estimand=res["estimand"], notes=res.get("notes") or [], via=kind, **{"from": where})
    if prov.get("computed_at"):
        prov["computed_at"] = parse_time(prov["computed_at"])
    return _frame(rows, cols, _infer_kinds(rows, cols), prov)


def _param(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


def runs(experiment=None, data=None, url=None, binary=None, **scope):
    """Experiments' runs: one row per run with experiment, run_id,
    source_persona, marker, seed, factors (dict), completions, started_at
    (UTC datetime), finished, retracted, … as ``leakscope runs --format json``."""
    s = _scope(scope)
    _reject(scope, "scope")
    kind, where = _source(data, url)
    if kind == "http":
        params = [("experiment", experiment)] if experiment else []
        for k, vals in s.items():
            params += [(k, "true")] if vals is True else [(k, v) for v in vals]
        res = _http(where, "/api/runs", params)
    else:
        args = ["runs", "--format", "json"] + (["--experiment", experiment] if experiment else [])
        res, _ = _cli(where, args + _scope_flags(s), binary)
    res = res or []
    cols = []
    for r in res:
        cols += [c for c in r if c not in cols]
    kinds = _infer_kinds(res, cols)
    for c in ("seed", "completions", "cells", "cosine_pairs"):
        if c in kinds:
            kinds[c] = "int"
    return _frame(res, cols, kinds, {"from": where, "via": kind, "experiment": experiment, "scope": s,
                                     "retrieved_at": _now()})
