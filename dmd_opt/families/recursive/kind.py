"""Model kinds ``thomas_worrall`` and ``guo_horner`` (docs/theory.md#recursive-contracts-with-promised-utility): recursive contracts.

Model files (TOML; see ``docs/recursive.md``)::

    kind = "thomas_worrall"
    income = [1.0, 2.0]
    prob = [0.5, 0.5]
    beta = 0.9
    [utility]            # cara (gamma) | crra (sigma, subsistence) | log (subsistence) | tabular (points)
    kind = "log"
    [grid]               # optional: n_promise, n_transfer, transfer_range, promise_range,
    n_promise = 80       #           promise_spacing ("consumption" | "linear"), consumption_floor
    [solve]              # optional defaults: tol, max_iter, progress, simulate_periods, simulate_paths, seed,
                         # method ("auto" | "value_iteration" | "closed_form"; Thomas–Worrall), solver_tol

    kind = "guo_horner"
    L = 0.5
    H = 2.0
    c = 1.0
    beta = 0.9
    q = 0.5              # i.i.d. P(H); or persistence = 0.8 for Markov types
    horizon = 5          # optional; omitted = infinite horizon
    [grid]
    n = 41

``build`` returns the labelled Bellman LP of the first iteration (all grid points
stacked), the Program that value iteration re-solves with updated costs.
"""

from __future__ import annotations

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.core.kinds import register_kind
from dmd_opt.dp.bellman import stack
from dmd_opt.families.recursive.guo_horner import GuoHorner
from dmd_opt.families.recursive.thomas_worrall import ThomasWorrall
from dmd_opt.core.limits import check_simulation
from dmd_opt.core.validation import boolean, integer, real

OPTIONS = ("tol", "max_iter", "progress", "simulate_periods", "simulate_paths", "seed", "backend", "solver",
           "continuation_values", "method", "solver_tol")


def _common(opts: dict) -> dict:
    opts = {k: v for k, v in opts.items() if k != "continuation_values"}   # a build option only
    unknown = set(opts) - set(OPTIONS)
    if unknown:
        raise ModelError(f"solve.{sorted(unknown)[0]}", f"unknown option; allowed: {', '.join(OPTIONS)}")
    backend = opts.get("backend", "highs")
    if backend not in (None, "highs"):
        raise ModelError("solve.backend", "recursive contracts are solved by hot-started HiGHS value iteration; "
                                          "only backend 'highs' is available")
    out = {"tol": real(opts.get("tol", 1e-8), "solve.tol", lo=0, lo_open=True, magnitude=False),
           "max_iter": integer(opts.get("max_iter", 5000), "solve.max_iter", lo=1, hi=10 ** 8),
           "progress": boolean(opts.get("progress", False), "solve.progress"),
           "T": integer(opts.get("simulate_periods", 300), "solve.simulate_periods", lo=0),
           "n": integer(opts.get("simulate_paths", 1000), "solve.simulate_paths", lo=1),
           "seed": integer(opts.get("seed", 0), "solve.seed", lo=0, hi=2 ** 32 - 1),
           "solver_tol": None if opts.get("solver_tol") is None else
           real(opts["solver_tol"], "solve.solver_tol", lo=0, lo_open=True, magnitude=False)}
    check_simulation("solve.simulate_paths" if out["n"] >= out["T"] else "solve.simulate_periods",
                     out["n"], out["T"])
    return out


def solve_thomas_worrall(model: ThomasWorrall, **opts):
    method = opts.pop("method", None) or "auto"
    o = _common(opts)
    res = model.solve(tol=o["tol"], max_iter=o["max_iter"], progress=o["progress"], method=method,
                      solver_tol=o["solver_tol"])
    if res.status == "optimal" and o["T"] > 0:
        va = model.autarky_value
        inside = model.promise_grid[0] <= va <= model.promise_grid[-1] or res.method == "closed_form"
        v0 = va if inside else None
        res.simulate(v0=v0, T=o["T"], n_paths=o["n"], seed=o["seed"])
    return res


def solve_guo_horner(model: GuoHorner, **opts):
    if opts.pop("method", None) not in (None, "auto", "value_iteration"):
        raise ModelError("solve.method", "Guo–Hörner models are solved by value iteration only")
    o = _common(opts)
    if o["solver_tol"] is not None:
        raise ModelError("solve.solver_tol", "applies to Thomas–Worrall models only")
    res = model.solve(tol=o["tol"], max_iter=o["max_iter"], progress=o["progress"])
    if res.status == "optimal" and res.vi is not None and o["T"] > 0:
        res.simulate(T=o["T"], n_paths=o["n"], seed=o["seed"])
    return res


def _values(opts: dict, shape) -> np.ndarray:
    V = opts.get("continuation_values")
    if V is None:
        return np.zeros(shape)
    V = np.asarray(V, float)
    if V.shape != tuple(shape) or not np.all(np.isfinite(V)):
        raise ModelError("continuation_values", f"expected finite values of shape {shape}, got {V.shape}")
    return V


def build_thomas_worrall(model: ThomasWorrall, **opts):
    """The stacked Bellman LP with continuation costs from ``continuation_values`` (default 0):
    a certificate of the final value-iteration LP carries them as a program option."""
    st = stack(model.template(), name=f"{model.name} Bellman LP")
    st.program.set_objective(st.costs(_values(opts, (1, model.promise_grid.size))), sense="min")
    return st.program


def build_guo_horner(model: GuoHorner, **opts):
    if model.horizon is not None:
        g = model.grid(1) if not model.markov else model.lens_grid(1, None)
        if model.markov:
            g = g[model.feasible(g, None)]
        t = model._template(g, None, model._beliefs())
        V = np.zeros((1, 1))
    else:
        g = model.grid() if not model.markov else model.lens_grid()
        if model.markov:
            g = g[model.self_generating(g)]
        t = model._template(g, g, model._beliefs())
        V = _values(opts, (t.n_regimes, len(g)))
    st = stack(t, name=f"{model.name} Bellman LP")
    st.program.set_objective(st.costs(V), sense="max")
    return st.program


def register_kinds() -> None:
    register_kind("thomas_worrall", ThomasWorrall.from_dict, solve_thomas_worrall, options=OPTIONS,
                  description="Thomas–Worrall (1990) dynamic insurance: cost function over promised utility",
                  build=build_thomas_worrall)
    register_kind("guo_horner", GuoHorner.from_dict, solve_guo_horner, options=OPTIONS,
                  description="Guo–Hörner allocation without money: principal's value over promised utility",
                  build=build_guo_horner)
