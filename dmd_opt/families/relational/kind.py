"""Model kind ``relational``: relational contracts by self-generation (``docs/relational.md``).

Model files (TOML)::

    kind = "relational"
    name = "lmp_power_dynamics"
    delta = 0.5
    enforcement = "relational"     # or "commitment" (default: from the variant)
    horizon = 3                    # optional: the finite game with that many periods
    [lmp]                          # the power-dynamics game of Li, Matouschek & Powell ...
    variant = "trust"              # "trust" | "lecture" | "commitment"
    B = 2.0
    b = 1.0
    p = 0.3
    exposure = 0.0                 # optional: the principal's payoff from the agent's project
    [stage]                        # ... or any finite stage game (see docs/relational.md)
    [grid]
    n = 101
    [solve]                        # tol, max_iter, randomization, simulate_periods, simulate_paths, seed

``build`` rebuilds the final frontier LP from the continuation set, punishments and cuts
stored as program options (certificates).
"""

from __future__ import annotations

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.core.kinds import register_kind
from dmd_opt.core.validation import integer, real
from dmd_opt.families.relational.aps import RANDOMIZATIONS, Cuts, PayoffSet, _cut_rows, _costs, _template
from dmd_opt.families.relational.contract import RelationalModel, RelationalResult
from dmd_opt.families.relational.game import enumerate_plans

OPTIONS = ("tol", "max_iter", "randomization", "simulate_periods", "simulate_paths", "seed", "backend", "solver",
           "progress", "continuation_set", "promises", "punishments", "cuts")
_BUILD_ONLY = ("continuation_set", "promises", "punishments", "cuts")
MAX_PATHS = 1_000_000
MAX_PERIODS = 100_000


def _options(opts: dict) -> dict:
    opts = {k: v for k, v in opts.items() if k not in _BUILD_ONLY}
    unknown = set(opts) - set(OPTIONS)
    if unknown:
        raise ModelError(f"solve.{sorted(unknown)[0]}", f"unknown option; allowed: {', '.join(OPTIONS)}")
    if opts.get("backend", "highs") not in (None, "highs"):
        raise ModelError("solve.backend", "relational contracts are computed with HiGHS sessions; only 'highs'")
    r = opts.get("randomization")
    if r is not None and (not isinstance(r, str) or r not in RANDOMIZATIONS):
        raise ModelError("solve.randomization", f"must be one of {', '.join(map(repr, RANDOMIZATIONS))}, got {r!r}")
    T = integer(opts.get("simulate_periods", 200), "solve.simulate_periods", lo=0)
    n = integer(opts.get("simulate_paths", 2000), "solve.simulate_paths", lo=1)
    if T > MAX_PERIODS or n > MAX_PATHS:
        raise ModelError("solve.simulate_paths", f"{n} paths × {T} periods: at most {MAX_PATHS} paths and "
                                                 f"{MAX_PERIODS} periods")
    from dmd_opt.core.limits import check_simulation
    check_simulation("solve.simulate_paths", n, T, bytes_per_cell=40.0)
    return {"tol": real(opts.get("tol", 1e-9), "solve.tol", lo=0, lo_open=True),
            "max_iter": integer(opts.get("max_iter", 2000), "solve.max_iter", lo=1),
            "randomization": r, "T": T, "n": n,
            "seed": integer(opts.get("seed", 0), "solve.seed", lo=0)}


def solve_relational(model: RelationalModel, **opts) -> RelationalResult:
    o = _options(opts)
    res = model.solve(tol=o["tol"], max_iter=o["max_iter"], randomization=o["randomization"])
    if res.status == "optimal" and model.horizon is None and o["T"] > 0:
        res.simulate(T=o["T"], n_paths=o["n"], seed=o["seed"])
    return res


def build_relational(model: RelationalModel, **opts):
    """The final frontier LP, rebuilt from the certificate's program options."""
    if model.horizon is not None:
        raise ModelError("horizon", "certificates are written for the infinite-horizon frontier LP only")
    try:
        cs = opts["continuation_set"]
        W = PayoffSet(np.asarray(cs["grid"], float), np.asarray(cs["upper"], float), np.asarray(cs["lower"], float))
        grid = np.asarray(opts["promises"], float)
        c = opts["cuts"]
        cuts = Cuts(*(np.asarray(c[k], np.int64) for k in ("block", "outcome", "piece", "side")))
        pun = opts.get("punishments")
        D = None if pun is None else {(tuple(int(s) for s in cell), int(a)): float(v) for cell, a, v in pun}
        randomization = opts.get("randomization") or ("message" if model.enforcement == "commitment" else "period")
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ModelError("continuation_set", f"the certificate's program options are incomplete: {exc}") from None
    for name, arr in (("continuation_set.grid", W.grid), ("continuation_set.upper", W.upper),
                      ("continuation_set.lower", W.lower), ("promises", grid)):
        if arr.ndim != 1 or arr.size == 0 or arr.size > 100_000 or not np.all(np.isfinite(arr)):
            raise ModelError(name, "expected a finite list of at most 100000 numbers")
    if not (W.grid.size == W.upper.size == W.lower.size) or np.any(np.diff(W.grid) < 0) or np.any(np.diff(grid) < 0):
        raise ModelError("continuation_set", "grid and boundaries must have equal length, grids sorted")
    if randomization not in RANDOMIZATIONS:
        raise ModelError("randomization", f"must be one of {', '.join(RANDOMIZATIONS)}")
    plans = enumerate_plans(model.game)
    objs = ["principal", "-principal"] if model.enforcement == "relational" else ["principal"]
    if (D is None) != (model.enforcement != "relational"):
        raise ModelError("punishments", "punishments are required exactly for relational contracts")
    if not (cuts.block.ndim == 1 and cuts.block.shape == cuts.out.shape == cuts.piece.shape == cuts.side.shape):
        raise ModelError("cuts", "block, outcome, piece and side must be lists of one length")
    if cuts.block.size and (cuts.block.min() < 0 or cuts.block.max() >= len(objs) * grid.size
                            or cuts.out.min() < 0 or cuts.out.max() >= plans.O
                            or cuts.piece.min() < -1 or cuts.piece.max() >= max(W.K - 1, 1)
                            or not np.all(np.isin(cuts.side, (-1, 1)))):
        raise ModelError("cuts", "cut indices out of range")
    from dmd_opt.dp.bellman import stack
    try:
        t, lay = _template(plans, model.delta, W, D, grid, objs, randomization)
    except KeyError as exc:       # a recorded punishment table that misses a (cell, action) the LP reads
        raise ModelError("punishments", f"no recorded punishment for (cell, action) {exc}") from None
    st = stack(t, name="frontier")
    st.program.set_objective(_costs(st), sense="max")
    n, rows, cols, vals, lo, hi, lab = _cut_rows(st, lay, plans, W, cuts)
    st.program.add_constraints("continuation_set", n, rows, cols, vals, lo, hi, **lab)
    return st.program


def register_kinds() -> None:
    register_kind("relational", RelationalModel.from_dict, solve_relational, options=OPTIONS,
                  description="relational contracts (PPE with a privately informed agent) by self-generation; "
                              "Li–Matouschek–Powell power dynamics",
                  build=build_relational)
