"""Mutations of model tables for fuzzing the loader (used by tests/test_security_fuzz.py and
benchmarks/fuzz_loader.py).

:func:`mutate` applies one to three random edits to a deep copy of a parsed model: drop a
key, add an unknown (or empty, or odd) key, change a value's type (number → string,
boolean, list, table), put an extreme number (1e20, 1e308, 2**70, -1, 0, NaN, inf,
denormals), nest a value in lists, shorten/extend/empty a list, or replace a size-like
integer (horizon, grid sizes, simulation counts, units) by a huge one, or set a key of the newer
surfaces (own-history utilities, persistent / i.i.d. / label-only types, joint laws, payment
selection, ex-post IC, money, reduced-form and relational options) to an odd or plausible value.  A crash is any exception
other than :class:`dmd_opt.core.errors.DmdOptError`; an *unnamed* error is a ModelError
whose field is empty.
"""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path
from typing import Any

MODELS = Path(__file__).resolve().parent.parent / "models"

EXTREMES = [0, -1, 1, 2, 0.5, -0.5, 1e-320, 1e-12, 1e12, 1e15, 1e20, -1e20, 1e26, 1e308, -1e308,
            2 ** 31, 2 ** 53 + 1, 2 ** 63, 2 ** 70, 10 ** 30, math.inf, -math.inf, math.nan, 3.0, 7]
SIZES = ["horizon", "n", "n_promise", "n_transfer", "simulate_paths", "simulate_periods", "max_iter",
         "last_decision", "periods", "seed", "units"]
#: keys of the newer input surfaces and odd or plausible values for them (op 10)
AGENT_KEYS = {
    "utility_of": ["current", "initial_and_current", "history", "future", 1, True, ["history"]],
    "persistent": [True, False, "yes", 1, [True]],
    "iid": [True, False, "true", 0, {}],
    "values": [[], [[]], [[1.0, 2.0]], [[], [[1.0, 2.0], [3.0, 4.0]]], "x", [[math.nan]], [[1e300]],
               [[True, False]]],
    "types": [["a", "b"], ["a", "a"], ["a", 1.0], [["a", "b"], [1.0, 2.0]], [""], ["x" * 20_000]],
}
MODEL_KEYS = {
    "joint_initial": [[1.0], [[0.5, 0.5]], [[0.25, 0.25], [0.25, 0.25]], "uniform", [], [math.nan], [[[1.0]]],
                      [[True, False]], [0.1] * 9],
    "joint_transition": [[[1.0]], [[0.5, 0.5], [0.5, 0.5]], "iid", [], [[math.inf]], [[[[1.0]]]]],
    "discount": [1.0, 1.0000001, 0.0, True],
    "delta": [1.0, 0.5, 0, math.nan, "0.5"],
    "enforcement": ["relational", "commitment", "x", 1],
    "stage": [{}, [], "x", {"states": ["a"], "prob": [1.0]}],
    "lmp": [{}, {"variant": "x"}, {"B": math.nan}, 5],
}
SOLVE_KEYS = {
    "selection": ["default", "none", "min_square", "min_abs", ["expost_ir", "symmetric"], ["flow_ir", "expost_ir"],
                  ["none"], [], "x", 3, [1], {"a": 1}],
    "ic": ["bayesian", "expost", "dominant", 1, True],
    "money": [True, False, "no", 0],
    "method": ["auto", "full", "cg", "reduced_form", "closed_form", "grid", "x", 3],
    "units": [1, 2, 0, -1, 10 ** 6, 10 ** 7, 1.5, True, "2"],
    "reserve": [0.0, 2.0, -1.0, math.nan, math.inf, 1e300, "2", [2.0]],
    "constraints": [[], [{"kind": "min_win", "bidders": [1], "probability": 0.3}], [{"kind": "x"}], [5], "x",
                    [{"kind": "payment_cap", "bidder": 99, "max": 1.0}]],
    "payments": ["winner_pays", "interim", "both", 1],
    "ic_rows": ["auto", "all", 5],
    "border_chains": [[], [[0, 1]], "x"],
    "implementation": [{"weights": [1.0], "ranks": [[0]]}, 5, {}],
    "randomization": ["period", "message", "x", 1],
    "solver_tol": [1e-12, 0, -1.0, math.nan, "1e-9", True],
    "continuation_set": [{"grid": [0], "upper": [0], "lower": [0]}, 1],
    "promises": [[1.0], "x"],
}
ODD_KEYS = ["", " ", "x", "kind ", "types\n", "ü", "[0]", "a.b", "0", "__class__", "solve"]
TYPE_SWAPS = ["1", "true", "no", "", True, False, [], {}, [1, 2], {"a": 1}, [[1]], None]


def shipped_models() -> dict[str, dict]:
    """Every model file in models/ (parsed TOML), by file name."""
    from dmd_opt.interfaces.models import read_toml
    return {p.name: read_toml(p) for p in sorted(MODELS.glob("*.toml"))}


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``node`` (tables and lists; long lists sampled; at most 64 deep)."""
    out = [path]
    if len(path) >= 64:
        return out
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, path + (k,))
    elif isinstance(node, list):
        idx = range(len(node)) if len(node) <= 6 else sorted({0, 1, len(node) // 2, len(node) - 1})
        for i in idx:
            out += _paths(node[i], path + (i,))
    return out


def _get(node, path):
    for k in path:
        node = node[k]
    return node


def _set(root, path, value):
    if not path:
        return value
    _get(root, path[:-1])[path[-1]] = value
    return root


def _one(raw: Any, rng: random.Random) -> Any:
    paths = _paths(raw)
    path = rng.choice(paths)
    cur = _get(raw, path)
    op = rng.randrange(11)
    if op == 0 and path:                                   # drop a key / list entry
        parent = _get(raw, path[:-1])
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif isinstance(parent, list) and parent:
            parent.pop(path[-1])
        return raw
    if op == 1:                                            # unknown / odd key
        tables = [p for p in paths if isinstance(_get(raw, p), dict)]
        if tables:
            _get(raw, rng.choice(tables))[rng.choice(ODD_KEYS)] = rng.choice([1, "x", [1], {}])
        return raw
    if op == 2:                                            # type change
        return _set(raw, path, copy.deepcopy(rng.choice(TYPE_SWAPS)))
    if op == 3:                                            # extreme number
        return _set(raw, path, rng.choice(EXTREMES))
    if op == 4:                                            # nesting
        v = cur
        for _ in range(rng.choice([1, 2, 5, 40, 100])):
            v = [v]
        return _set(raw, path, v)
    if op == 5 and isinstance(cur, list):                  # shorten / extend / empty a list
        r = rng.randrange(3)
        if r == 0:
            cur[:] = cur[: max(0, len(cur) - 1)]
        elif r == 1 and cur:
            cur.append(copy.deepcopy(cur[-1]))
        else:
            cur.clear()
        return raw
    if op == 6:                                            # a size-like key made huge (or odd)
        tables = [p for p in paths if isinstance(_get(raw, p), dict)]
        t = _get(raw, rng.choice(tables)) if tables else raw
        if isinstance(t, dict):
            t[rng.choice(SIZES)] = rng.choice([10 ** 9, 10 ** 20, 1e20, 2 ** 62, -5, 0, 0.5, "7", True, 10 ** 6])
        return raw
    if op == 7 and isinstance(cur, (int, float)) and not isinstance(cur, bool):   # scale a number
        return _set(raw, path, cur * rng.choice([-1, 1e10, 1e-10, 1e300, 0]))
    if op == 8 and isinstance(cur, list) and cur:          # element types inside arrays
        i = rng.randrange(len(cur))
        cur[i] = copy.deepcopy(rng.choice(TYPE_SWAPS + EXTREMES))
        return raw
    if op == 9:                                            # kind / solve table
        if isinstance(raw, dict):
            r = rng.randrange(4)
            if r == 0:
                raw["kind"] = rng.choice(["revenue", "efficient", "contingent", "thomas_worrall", "guo_horner",
                                          "nope", 3, "", ["revenue"]])
            elif r == 1:
                raw["solve"] = rng.choice([{}, [], "x", {"backend": "pyomo", "solver": "/bin/true"},
                                           {"options": {"log_file": "/tmp/x"}}, {"verify": "no"},
                                           {"progress": "no"}, {"options": {"time_limit": -1}}])
            elif r == 2 and isinstance(raw.get("solve"), dict):
                raw["solve"][rng.choice(["participation", "verify", "tol", "seed", "method", "backend",
                                         "options", "blocks", "simulate_paths"])] = rng.choice(TYPE_SWAPS + EXTREMES)
            else:
                raw.pop("kind", None)
        return raw
    if op == 10 and isinstance(raw, dict):                 # a key of the newer surfaces
        return _new_key(raw, rng)
    return _set(raw, path, rng.choice(TYPE_SWAPS + EXTREMES))


def _new_key(raw: dict, rng: random.Random, skip: tuple = ()) -> dict:
    """Set one key of the newer surfaces (an agent's, the model's or ``[solve]``'s), none in ``skip``."""
    r = rng.randrange(3)
    agents = raw.get("agents")
    tables = [a for a in agents if isinstance(a, dict)] if isinstance(agents, list) else []
    if r == 0 and tables:
        k = rng.choice(sorted(AGENT_KEYS))
        rng.choice(tables)[k] = copy.deepcopy(rng.choice(AGENT_KEYS[k]))
    elif r == 1:
        k = rng.choice(sorted(set(MODEL_KEYS) - set(skip)))
        raw[k] = copy.deepcopy(rng.choice(MODEL_KEYS[k]))
    else:
        k = rng.choice(sorted(set(SOLVE_KEYS) - set(skip)))
        solve = raw.setdefault("solve", {})
        if isinstance(solve, dict):
            solve[k] = copy.deepcopy(rng.choice(SOLVE_KEYS[k]))
    return raw


#: keys of other kinds (and options only certificates carry), left out when a revenue model is solved
NOT_REVENUE = ("delta", "enforcement", "stage", "lmp", "randomization", "solver_tol", "continuation_set", "promises",
               "ic_rows", "border_chains", "implementation")


def mutate_surfaces(raw: dict, rng: random.Random, skip: tuple = NOT_REVENUE) -> dict:
    """One to three keys of the newer surfaces set on a deep copy of ``raw`` (for solving)."""
    out = copy.deepcopy(raw)
    for _ in range(rng.choice([1, 2, 3])):
        out = _new_key(out, rng, skip)
    return out


def mutate(raw: dict, rng: random.Random) -> Any:
    """One to three random edits of a deep copy of ``raw``."""
    out = copy.deepcopy(raw)
    for _ in range(rng.choice([1, 1, 2, 3])):
        out = _one(out, rng)
    return out


def classify(fn, value) -> str:
    """``"ok"``, ``"named"`` (a ModelError with a field), ``"unnamed"`` or ``"crash:<Type>: msg"``."""
    from dmd_opt.core.errors import DmdOptError, ModelError
    try:
        fn(value)
        return "ok"
    except ModelError as exc:
        if not exc.field or "\n" in str(exc):
            return "unnamed"
        return "named"
    except DmdOptError:
        return "named"
    except Exception as exc:  # noqa: BLE001 - this is what we count
        return f"crash:{type(exc).__name__}: {str(exc)[:200]}"
