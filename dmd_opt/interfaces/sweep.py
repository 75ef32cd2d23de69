r"""Parameter sweeps on ``dask.distributed``: many solves of one model file.

A sweep takes a model (a TOML path, a dict or a loaded :class:`~dmd_opt.interfaces.models.Model`)
and a grid of parameter values addressed by *dotted paths* into the model's raw
data — ``discount`` (alias ``delta``), ``agents[0].transition``,
``decisions.cost``, ``solve.participation`` (the ``[solve]`` options) — and
solves the model at every point of the Cartesian product on a dask cluster: a
:class:`distributed.LocalCluster` by default, or an existing cluster given by
its scheduler address (``tcp://host:8786``) or a :class:`distributed.Client`.

Every point is validated and solved on a worker exactly as ``dmd-opt solve``
would; a point that fails — a bad parameter (the :class:`~dmd_opt.core.errors.ModelError`
names the field), an infeasible program, a crashed worker — becomes a row with
``ok = False`` and its message, while the other points complete.  The result is
a :class:`pandas.DataFrame` with one row per point: the parameters, ``ok``,
``status``, ``error``, ``objective``, the scalar fields of the result's
``to_dict()`` (``revenue``, ``welfare`` …), the verifier's ``max_regret`` when
there is one, and ``seconds``.  ``out=`` writes it as Parquet atomically.

Example
-------
>>> df = sweep("models/battaglini.toml", {"discount": [0.5, 0.9]}, n_workers=1,
...            processes=False, progress=False)                    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import math
import os
import re
import signal
import threading
import time
from typing import Any, Callable, Iterable

from dmd_opt.core.errors import ModelError

ALIASES = {"delta": "discount"}
_TOKEN = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


# ---------------------------------------------------------------------------------------
# dotted paths
# ---------------------------------------------------------------------------------------
def parse_path(path: str) -> list:
    """``"agents[0].transition"`` → ``["agents", 0, "transition"]`` (``delta`` → ``discount``)."""
    if not isinstance(path, str) or not path.strip():
        raise ModelError("grid", f"parameter path must be a non-empty string, got {path!r}")
    path = path.strip()
    head, _, rest = path.partition(".")
    if head in ALIASES and not head.endswith("]"):
        path = ALIASES[head] + ("." + rest if rest else "")
    out, pos = [], 0
    for m in _TOKEN.finditer(path):
        gap = path[pos:m.start()]
        if gap not in ("", "."):
            raise ModelError(f"grid.{path}", "cannot parse this parameter path")
        out.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if pos != len(path) or not out or isinstance(out[0], int):
        raise ModelError(f"grid.{path}", "cannot parse this parameter path")
    return out


def canonical(path: str) -> str:
    """The canonical spelling of a parameter path (aliases resolved, e.g. ``delta`` → ``discount``)."""
    keys = parse_path(path)
    return "".join(f"[{k}]" if isinstance(k, int) else (("." if i else "") + k) for i, k in enumerate(keys))


def set_path(raw: dict, path: str, value: Any) -> None:
    """Set ``value`` at the dotted ``path`` of ``raw`` (in place).

    Missing table keys are created (so ``solve.participation`` works when the file
    has no ``[solve]`` table); list indices must exist.
    """
    keys = parse_path(path)
    node: Any = raw
    where = ""
    for k, nxt in zip(keys[:-1], keys[1:]):
        node = _child(node, k, where, create=not isinstance(nxt, int))
        where = _join(where, k)
    last = keys[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or not -len(node) <= last < len(node):
            raise ModelError(_join(where, last), "index out of range")
        node[last] = value
    else:
        if not isinstance(node, dict):
            raise ModelError(where or path, "is not a table")
        node[last] = value


def _join(where: str, k) -> str:
    return f"{where}[{k}]" if isinstance(k, int) else (f"{where}.{k}" if where else str(k))


def _child(node, k, where, create):
    if isinstance(k, int):
        if not isinstance(node, list) or not -len(node) <= k < len(node):
            raise ModelError(_join(where, k), "index out of range")
        return node[k]
    if not isinstance(node, dict):
        raise ModelError(where or str(k), "is not a table")
    if k not in node:
        if not create:
            raise ModelError(_join(where, k), "does not exist")
        node[k] = {}
    return node[k]


# ---------------------------------------------------------------------------------------
# grids
# ---------------------------------------------------------------------------------------
def grid_points(grid) -> list[dict]:
    """The points of a grid: a dict ``{path: [values]}`` (Cartesian product, first key
    slowest) or an explicit list of ``{path: value}`` dicts."""
    if isinstance(grid, dict):
        if not grid:
            raise ModelError("grid", "is empty")
        names, values = [], []
        for name, vals in grid.items():
            name = canonical(name)
            if isinstance(vals, (str, bytes)) or not isinstance(vals, Iterable):
                raise ModelError(f"grid.{name}", "expected a list of values")
            vals = list(vals)
            if not vals:
                raise ModelError(f"grid.{name}", "has no values")
            names.append(name)
            values.append(vals)
        _check_points("grid", math.prod(len(v) for v in values))
        return [dict(zip(names, combo)) for combo in itertools.product(*values)]
    if isinstance(grid, (list, tuple)):
        pts = []
        for k, p in enumerate(grid):
            if not isinstance(p, dict):
                raise ModelError(f"grid[{k}]", "expected a table {path: value}")
            pts.append({canonical(name): v for name, v in p.items()})
        if not pts:
            raise ModelError("grid", "is empty")
        return pts
    raise ModelError("grid", "expected {path: [values]} or a list of {path: value}")


def _check_points(field: str, n: int) -> None:
    """A sweep of ``n`` points (each a row of the table, a task on the cluster) within the ``items`` limit."""
    from dmd_opt.core.limits import check_count
    check_count(field, n, "items", what="the sweep would have", noun="points",
                alternative="sweep fewer values, or split the grid over several runs")


def parse_param(spec: str) -> tuple[str, list]:
    """CLI form ``NAME=VALUES``: ``a:b:n`` (n evenly spaced values), a JSON list, or
    comma-separated scalars (numbers, true/false, or strings)."""
    name, eq, text = spec.partition("=")
    name, text = name.strip(), text.strip()
    if not eq or not name or not text:
        raise ModelError("param", f"expected NAME=VALUES, got {spec!r}")
    name = canonical(name)
    m = re.fullmatch(r"\s*([-+0-9.eE]+)\s*:\s*([-+0-9.eE]+)\s*:\s*(\d+)\s*", text)
    if m:
        try:
            a, b = float(m.group(1)), float(m.group(2))
        except ValueError:
            raise ModelError(f"param.{name}", f"cannot read the range {text!r} (lo:hi:n)") from None
        n = int(m.group(3))
        if n < 1:
            raise ModelError(f"param.{name}", "needs at least one point")
        _check_points(f"param.{name}", n)
        if n == 1:
            return name, [a]
        return name, [a + (b - a) * k / (n - 1) for k in range(n)]
    if text.startswith("["):
        try:
            vals = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"param.{name}", f"is not a valid JSON list: {exc.msg}") from None
        if not isinstance(vals, list) or not vals:
            raise ModelError(f"param.{name}", "expected a non-empty JSON list of values")
        return name, vals
    return name, [_scalar(v.strip()) for v in text.split(",") if v.strip()]


def _scalar(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


# ---------------------------------------------------------------------------------------
# one point (runs on a worker)
# ---------------------------------------------------------------------------------------
def _full_raw(model) -> dict:
    from dmd_opt.interfaces.models import Model, load, read_toml
    if isinstance(model, Model):
        raw = {"kind": model.kind, **copy.deepcopy(model.raw)}
        if model.options:
            raw["solve"] = copy.deepcopy(model.options)
        return raw
    if isinstance(model, dict):
        raw = copy.deepcopy(model)
    else:
        raw = read_toml(model)
    load(copy.deepcopy(raw))      # validate the base model once, here, with a clear error
    return raw


def run_point(raw: dict, params: dict, metrics: Callable | None = None, limits=None) -> dict:
    """Solve ``raw`` with ``params`` set; never raises (errors become ``ok = False``).

    ``limits``: the size limits of the caller (:mod:`dmd_opt.core.limits`), applied on the worker.
    """
    from dmd_opt.core.limits import using
    with using(limits):
        return _run_point(raw, params, metrics)


def _run_point(raw: dict, params: dict, metrics: Callable | None = None) -> dict:
    from dmd_opt.interfaces.models import load, solve_model
    t0 = time.perf_counter()
    out: dict[str, Any] = {"ok": False, "status": "error", "error": "", "objective": None}
    try:
        data = copy.deepcopy(raw)
        for name, value in params.items():
            set_path(data, name, value)
        res = solve_model(load(data))
        out["status"] = str(res.status)
        out["objective"] = _num(getattr(res, "objective", None))
        d = res.to_dict()
        for k, v in d.items():   # the result's scalar fields (revenue, welfare, …)
            if k not in out and (v is None or isinstance(v, (int, float, str, bool))):
                out[k] = v if isinstance(v, str) else _num(v)
        mechs = getattr(res, "mechanisms", None)   # families returning several mechanisms (efficient)
        if isinstance(mechs, dict):
            for name, mech in mechs.items():
                for attr in ("revenue", "welfare"):
                    f = getattr(mech, attr, None)
                    try:
                        out[f"{attr}[{name}]"] = float(f()) if callable(f) else None
                    except Exception:  # e.g. a tree evaluation that needs decision-independent transitions
                        out[f"{attr}[{name}]"] = None
        ver = getattr(res, "verification", None)
        if ver is not None and hasattr(ver, "max_regret"):
            out["max_regret"] = float(ver.max_regret)
        if metrics is not None:
            out.update(metrics(res))
        ok_status = ("optimal", "ok", "converged", "passed")
        out["ok"] = out["status"] in ok_status
        if not out["ok"]:
            out["error"] = f"{res.status}: {getattr(res, 'solver_status', '') or 'no solution'}"
    except Exception as exc:  # recorded per point, by design
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["seconds"] = time.perf_counter() - t0
    return out


def _num(v):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return float(v) if not isinstance(v, float) or math.isfinite(v) else None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------
def sweep(model, grid, scheduler=None, n_workers: int = 2, threads_per_worker: int = 1,
          processes: bool = True, progress: bool = True, out=None, metrics: Callable | None = None,
          retries: int = 0, connect_timeout: str = "10s", checkpoint_seconds: float = 30.0):
    """Solve ``model`` at every point of ``grid`` on dask.distributed; returns a DataFrame.

    Parameters
    ----------
    model : path, dict or :class:`~dmd_opt.interfaces.models.Model`
    grid : ``{path: [values]}`` or a list of ``{path: value}`` (see :func:`grid_points`)
    scheduler : ``None`` (start a LocalCluster), a scheduler address such as
        ``"tcp://10.0.0.1:8786"``, or a :class:`distributed.Client`
    n_workers, threads_per_worker, processes : LocalCluster settings
    progress : show a progress bar (rich) on stderr
    out : write the table as Parquet to this path (atomically) — at the end, every
        ``checkpoint_seconds`` while the sweep runs, and when it is interrupted (points not
        finished yet have ``status = "pending"``), so finished points are never lost
    metrics : optional picklable ``f(result) -> dict`` of extra columns per point
    retries : dask retries per point (for flaky workers; model errors are not retried)
    connect_timeout : how long to try reaching a scheduler given by address
    """
    from distributed import as_completed

    raw = _full_raw(model)
    points = grid_points(grid)
    names = list(points[0].keys()) if isinstance(grid, dict) else sorted({n for p in points for n in p})
    from dmd_opt.core.limits import current
    limits = current()
    # tornado.application has its own level in distributed's logging config: named explicitly
    with _sigterm_as_interrupt(), _quiet_loggers("tornado", "tornado.application", "asyncio"):
        client, cluster = _client(scheduler, n_workers, threads_per_worker, processes, connect_timeout)
        rows: list[dict | None] = [None] * len(points)
        last_write = time.monotonic()
        interrupted = False
        try:
            futures = {client.submit(run_point, raw, p, metrics, limits,
                                     key=f"dmd-opt-point-{k}-{_token(raw, p)}",
                                     pure=False, retries=retries): k for k, p in enumerate(points)}
            bar = _progress(len(points)) if progress else None
            try:
                for fut in as_completed(list(futures)):
                    k = futures[fut]
                    try:
                        rows[k] = fut.result()
                    except Exception as exc:   # the worker or the task itself died
                        rows[k] = {"ok": False, "status": "error", "error": f"{type(exc).__name__}: {exc}",
                                   "objective": None, "seconds": None}
                    if bar is not None:
                        bar[0].update(bar[1], advance=1)
                    if out is not None and time.monotonic() - last_write > checkpoint_seconds:
                        write_parquet(_frame(points, rows, names), out)
                        last_write = time.monotonic()
            except BaseException:                 # interrupted: keep what has finished
                interrupted = True
                if out is not None:
                    write_parquet(_frame(points, rows, names), out)
                raise
            finally:
                if bar is not None:
                    bar[0].stop()
        finally:
            if cluster is not None:
                # after an interruption the workers are cut off mid-task: keep their noise off stderr
                with (_quiet_dask() if interrupted else contextlib.nullcontext()):
                    client.close()
                    cluster.close()
    df = _frame(points, rows, names)
    if out is not None:
        write_parquet(df, out)
    return df


def _frame(points, rows, names):
    """The results table: one row per point, parameters first; unfinished points ``pending``."""
    import pandas as pd
    records = []
    for k, (p, r) in enumerate(zip(points, rows)):
        rec = {"point": k}
        rec.update({name: _cell(v) for name, v in p.items()})
        rec.update(r or {"ok": False, "status": "pending", "error": "not finished", "objective": None})
        records.append(rec)
    df = pd.DataFrame(records)
    df.attrs["parameters"] = names
    return df


def _token(raw, p) -> str:
    import hashlib
    return hashlib.sha1(json.dumps([raw, p], sort_keys=True, default=str).encode()).hexdigest()[:12]


def _cell(v):
    """Parameter values as table cells: scalars as they are, arrays as JSON text."""
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return json.dumps(v)


_SCHEMES = ("tcp", "tls", "ucx", "inproc")
_ADDRESS = re.compile(r"(?P<scheme>[A-Za-z]+)://(?P<rest>[^\s]+)")


def check_scheduler_address(address) -> str:
    """Validate a scheduler address: ``tcp|tls|ucx://host:port`` or ``inproc://host/pid/n``.

    One-line :class:`ModelError` on ``scheduler`` for anything else (no dask traceback).
    """
    if not isinstance(address, str) or not address.strip():
        raise ModelError("scheduler", f"expected an address such as tcp://host:8786, got {address!r}")
    address = address.strip()
    m = _ADDRESS.fullmatch(address)
    if not m:
        raise ModelError("scheduler", f"{address[:80]!r} is not a scheduler address (scheme://host:port, "
                                      f"scheme one of {', '.join(_SCHEMES)})")
    scheme, rest = m.group("scheme").lower(), m.group("rest")
    if scheme not in _SCHEMES:
        raise ModelError("scheduler", f"unsupported scheme {scheme!r}; use one of {', '.join(_SCHEMES)}")
    if scheme == "inproc":
        parts = rest.split("/")
        if len(parts) != 3 or not all(parts) or not parts[1].isdigit() or not parts[2].isdigit():
            raise ModelError("scheduler", f"{address!r}: an inproc address is inproc://host/pid/n "
                                          "(a scheduler in this very process)")
        if int(parts[1]) != os.getpid():
            raise ModelError("scheduler", f"{address!r} names a scheduler in process {parts[1]}; inproc:// "
                                          "reaches only a scheduler in this process (use tcp:// or tls://)")
        return address
    host, sep, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ModelError("scheduler", f"{address!r}: expected {scheme}://host:port with a port in 1..65535")
    if scheme == "tls":
        import dask
        if not (dask.config.get("distributed.comm.tls.client.cert", None)
                or dask.config.get("distributed.comm.tls.ca-file", None)):
            raise ModelError("scheduler", f"{address!r}: a tls:// scheduler needs TLS settings (dask config "
                                          "distributed.comm.tls.ca-file / client.cert / client.key), "
                                          "or pass a distributed.Client built with a Security object")
    if scheme == "ucx":
        import importlib.util
        if importlib.util.find_spec("ucp") is None and importlib.util.find_spec("distributed_ucxx") is None:
            raise ModelError("scheduler", f"{address!r}: the ucx:// protocol needs ucx-py (or distributed-ucxx), "
                                          "which is not installed")
    return address


def _client(scheduler, n_workers, threads_per_worker, processes, connect_timeout="10s"):
    """A Client: the caller's, one connected to ``scheduler`` (an address), or one on a new
    LocalCluster whose every socket (scheduler, workers, their HTTP servers) is bound to
    127.0.0.1; its worker processes ignore SIGINT (the sweep, not the workers, handles Ctrl-C)."""
    import logging
    from distributed import Client, LocalCluster
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, None                                    # a Client the caller owns
    if isinstance(scheduler, str):
        address = check_scheduler_address(scheduler)
        try:
            with _quiet_dask():
                return Client(address, timeout=connect_timeout), None
        except Exception as exc:      # dask raises OSError, TimeoutError, ValueError … by transport
            raise ModelError("scheduler", f"cannot connect to {address}: {type(exc).__name__}: {exc}") from None
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ModelError("n_workers", "expected a positive integer")
    local = "127.0.0.1"
    kw = {"host": local} if processes else {}
    with _sigint_ignored_in_children():
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=processes,
                               dashboard_address=f"{local}:0", worker_dashboard_address=f"{local}:0",
                               silence_logs=logging.ERROR, **kw)
    return Client(cluster), cluster


@contextlib.contextmanager
def _sigint_ignored_in_children():
    """Ignore SIGINT while worker processes start: they inherit it, so Ctrl-C reaches only the sweep."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def _quiet_loggers(*names):
    """Silence these loggers for the block (event-loop noise when a sweep is interrupted)."""
    import logging
    loggers = [logging.getLogger(n) for n in names]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, old):
            lg.setLevel(lv)


def _quiet_dask():
    """Silence distributed's own logging (its connection errors become one ModelError line)."""
    return _quiet_loggers("distributed")


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While a sweep runs, SIGTERM raises :class:`~dmd_opt.core.errors.Terminated` (a
    KeyboardInterrupt): the finished points are checkpointed exactly as on Ctrl-C."""
    from dmd_opt.core.errors import Terminated
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _progress(total: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn
    prog = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=False)
    task = prog.add_task("sweep", total=total)
    prog.start()
    return prog, task


def write_parquet(df, path) -> None:
    """Write ``df`` as Parquet atomically (temporary file in the same folder, then rename)."""
    import io as _io
    from dmd_opt.core.serialise import atomic_write
    buf = _io.BytesIO()
    frame = df.copy()
    frame.attrs = {}
    for col in frame.columns:   # mixed object columns (e.g. error text / None) → strings
        if frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: v if v is None or isinstance(v, str) else json.dumps(v, default=str))
    frame.to_parquet(buf, index=False)
    atomic_write(path, buf.getvalue())
