"""The corpus of malformed model files (tests/test_security_corpus.py).

Each case starts from a shipped model (or from raw bytes) and edits it; the command line
must refuse it with exit code 2 and one line ``error: FIELD: problem`` whose FIELD contains
the expected name — no traceback, bounded time and memory.

``toml_dumps`` writes the (inline-table) TOML of a dict: enough for model files, and
independent of the package's reader.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

MODELS = Path(__file__).resolve().parent.parent / "models"


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {type(v).__name__}")


def toml_dumps(d: dict) -> str:
    return "".join(f"{json.dumps(str(k))} = {_value(v)}\n" for k, v in d.items())


def base(name: str) -> dict:
    from dmd_opt.interfaces.models import read_toml
    return read_toml(MODELS / name)


def edited(name: str, *ops) -> dict:
    """The shipped model ``name`` with edits: ``(path, value)`` sets, ``(path,)`` deletes."""
    from dmd_opt.interfaces.sweep import parse_path, set_path
    raw = copy.deepcopy(base(name))
    for op in ops:
        if len(op) == 2:
            set_path(raw, op[0], op[1])
        else:
            keys = parse_path(op[0])
            node = raw
            for k in keys[:-1]:
                node = node[k]
            del node[keys[-1]]
    return raw


def nest(v, depth):
    for _ in range(depth):
        v = [v]
    return v


def _deep_tables(depth: int) -> str:
    return "x = " + "{a = " * depth + "1" + "}" * depth + "\n"


SM, BAT, HA, MR = "static_monopoly.toml", "battaglini.toml", "handicap_auction.toml", "mussa_rosen_2.toml"
BIL, LP, ASM, CORR = "bilateral_trade_impossible.toml", "licensing_pivot.toml", "athey_segal_trade.toml", \
    "correlated_counterexample.toml"
RAM, LS, LCI, LW = "repeated_auction_markov.toml", "liu_spanning.toml", "liu_convex_independence.toml", \
    "liu_winner_pay_auction.toml"
TW, TWC, GH, GHI, GHF = "thomas_worrall.toml", "thomas_worrall_cara.toml", "guo_horner.toml", \
    "guo_horner_iid.toml", "guo_horner_finite.toml"
NMA, CFE, ARF, LMP, TWX = "no_money_allocation.toml", "correlated_full_extraction.toml", "auction_reduced_form.toml", \
    "lmp_power_dynamics.toml", "thomas_worrall_cara_exact.toml"

#: (case id, model dict or raw bytes, expected field (substring), command-line arguments after the file)
CASES: list[tuple[str, object, str, tuple]] = []


def case(cid, model, field, *args):
    CASES.append((cid, model, field, tuple(args)))


# ---------------------------------------------------------------------------------- revenue
case("rev-horizon-1e20", edited(SM, ("horizon", 1e20)), "horizon")
case("rev-horizon-int-1e20", edited(SM, ("horizon", 10 ** 20)), "horizon")
case("rev-horizon-1e9", edited(SM, ("horizon", 10 ** 9)), "horizon")
case("rev-horizon-0", edited(SM, ("horizon", 0)), "horizon")
case("rev-horizon-negative", edited(SM, ("horizon", -3)), "horizon")
case("rev-horizon-string", edited(SM, ("horizon", "3")), "horizon")
case("rev-horizon-bool", edited(SM, ("horizon", True)), "horizon")
case("rev-horizon-float", edited(SM, ("horizon", 2.5)), "horizon")
case("rev-horizon-tree-too-large", edited(BAT, ("horizon", 70)), "horizon")
case("rev-discount-above-1", edited(BAT, ("discount", 1.5)), "discount")
case("rev-discount-0", edited(BAT, ("discount", 0)), "discount")
case("rev-discount-string", edited(BAT, ("discount", "0.9")), "discount")
case("rev-discount-bool", edited(BAT, ("discount", True)), "discount")
case("rev-discount-nan", edited(BAT, ("discount", math.nan)), "discount")
case("rev-discount-inf", edited(BAT, ("discount", math.inf)), "discount")
case("rev-types-bool", edited(SM, ("agents[0].types", [True, False, True])), "agents[0].types")
case("rev-types-strings", edited(SM, ("agents[0].types", ["1", "2", "3"])), "agents[0].types")
case("rev-types-empty", edited(SM, ("agents[0].types", [])), "agents[0].types")
case("rev-types-1e26", edited(SM, ("agents[0].types", [1.0, 2.0, 1e26])), "agents[0].types")
case("rev-types-huge-int", edited(SM, ("agents[0].types", [1, 2, 10 ** 400])), "agents[0].types")
case("rev-types-nan", edited(SM, ("agents[0].types", [1.0, math.nan, 3.0])), "agents[0].types")
case("rev-types-deep", edited(SM, ("agents[0].types", nest(1.0, 300))), "agents[0].types")
case("rev-types-table", edited(SM, ("agents[0].types", {"a": 1})), "agents[0].types")
case("rev-types-ragged-periods", edited(BAT, ("agents[0].types", [[1.0, 2.0], [1.0]])), "agents[0].types")
case("rev-initial-sum", edited(SM, ("agents[0].initial", [0.3, 0.3, 0.3])), "agents[0].initial")
case("rev-initial-negative", edited(SM, ("agents[0].initial", [1.2, -0.2, 0.0])), "agents[0].initial")
case("rev-initial-length", edited(SM, ("agents[0].initial", [0.5, 0.5])), "agents[0].initial")
case("rev-initial-missing", edited(SM, ("agents[0].initial",)), "agents[0].initial")
case("rev-initial-bool", edited(SM, ("agents[0].initial", [True, False, False])), "agents[0].initial")
case("rev-transition-rows", edited(BAT, ("agents[0].transition", [[0.5, 0.4], [0.3, 0.7]])), "agents[0].transition")
case("rev-transition-shape", edited(BAT, ("agents[0].transition", [[1.0]])), "agents[0].transition")
case("rev-transition-string", edited(BAT, ("agents[0].transition", "markov")), "agents[0].transition")
case("rev-transition-missing", edited(BAT, ("agents[0].transition",)), "agents[0].transition")
case("rev-renormalize-string", edited(SM, ("renormalize", "no")), "renormalize")
case("rev-renormalize-int", edited(SM, ("renormalize", 1)), "renormalize")
case("rev-agents-empty", edited(SM, ("agents", [])), "agents")
case("rev-agents-string", edited(SM, ("agents", "bob")), "agents")
case("rev-agents-number", edited(SM, ("agents", [1])), "agents[0]")
case("rev-unknown-key", edited(SM, ("colour", "red")), "colour")
case("rev-empty-key", {**base(SM), "": 1}, '[""]')
case("rev-odd-key", {**base(SM), "a b": 1}, '["a b"]')
case("rev-agent-unknown-key", edited(SM, ("agents[0].wealth", 3)), "agents[0].wealth")
case("rev-decisions-kind", edited(SM, ("decisions.kind", "magic")), "decisions.kind")
case("rev-decisions-missing", edited(SM, ("decisions",)), "decisions")
case("rev-decisions-cost-string", edited(SM, ("decisions.cost", "free")), "decisions.cost")
case("rev-decisions-cost-1e30", edited(SM, ("decisions.cost", 1e30)), "decisions.cost")
case("rev-qmax-zero", edited(MR, ("decisions.qmax", 0)), "decisions.qmax")
case("rev-qmax-negative", edited(MR, ("decisions.qmax", -1.0)), "decisions.qmax")
case("rev-cost-quadratic-negative", edited(MR, ("decisions.cost_quadratic", -1.0)), "decisions.cost_quadratic")
case("rev-periods-zero", edited(SM, ("decisions.periods", [0])), "decisions.periods[0]")
case("rev-periods-beyond", edited(SM, ("decisions.periods", [99])), "decisions.periods[0]")
case("rev-name-number", edited(SM, ("name", 123)), "name")
case("rev-labels-duplicate", edited(BAT, ("agents[0].labels", ["L", "L"])), "agents[0].labels")
case("rev-labels-numbers", edited(BAT, ("agents[0].labels", [1, 2])), "agents[0].labels")
case("rev-kind-unknown", {**base(SM), "kind": "nope"}, "kind")
case("rev-kind-number", {**base(SM), "kind": 3}, "kind")
case("rev-solve-not-table", {**base(SM), "solve": 5}, "solve")
case("rev-participation-number", edited(SM, ("solve.participation", 5)), "participation")
case("rev-participation-unknown", edited(SM, ("solve.participation", "sometimes")), "participation")
case("rev-disclosure-unknown", edited(SM, ("solve.disclosure", "partial")), "disclosure")
case("rev-backend-unknown", edited(SM, ("solve.backend", "matlab")), "solve.backend")
case("rev-solver-path", edited(SM, ("solve.backend", "pyomo"), ("solve.solver", "/tmp/x/prog")), "solve.solver")
case("rev-solver-relative", edited(SM, ("solve.backend", "pyomo"), ("solve.solver", "../bin/sh")), "solve.solver")
case("rev-solver-shell", edited(SM, ("solve.backend", "pyomo"), ("solve.solver", "rm -rf ~")), "solve.solver")
case("rev-solver-unknown-name", edited(SM, ("solve.backend", "pyomo"), ("solve.solver", "notasolver")),
     "solve.solver")
case("rev-solver-asl", edited(SM, ("solve.backend", "pyomo"), ("solve.solver", "asl")), "solve.solver")
case("rev-solver-cvxpy-unknown", edited(SM, ("solve.backend", "cvxpy"), ("solve.solver", "MOSEKX")), "solve.solver")
case("rev-solver-number", edited(SM, ("solve.solver", 7)), "solve.solver")
case("rev-options-log-file", edited(SM, ("solve.options", {"log_file": "/tmp/dmd-owned.log"})),
     "solve.options.log_file")
case("rev-options-write-model", edited(SM, ("solve.options", {"write_model_file": "/tmp/m.mps",
                                                             "write_model_to_file": True})), "solve.options")
case("rev-options-solution-file", edited(SM, ("solve.options", {"solution_file": "/tmp/s.txt"})),
     "solve.options.solution_file")
case("rev-options-write-solution", edited(SM, ("solve.options", {"write_solution_to_file": True})),
     "solve.options.write_solution_to_file")
case("rev-options-read-basis", edited(SM, ("solve.options", {"read_basis_file": "/etc/passwd"})),
     "solve.options.read_basis_file")
case("rev-options-scs-file", edited(SM, ("solve.options", {"write_data_filename": "/tmp/d"})),
     "solve.options.write_data_filename")
case("rev-options-time-negative", edited(SM, ("solve.options", {"time_limit": -1})), "solve.options.time_limit")
case("rev-options-time-string", edited(SM, ("solve.options", {"time_limit": "10"})), "solve.options.time_limit")
case("rev-options-seed-bool", edited(SM, ("solve.options", {"random_seed": True})), "solve.options.random_seed")
case("rev-options-not-table", edited(SM, ("solve.options", "fast")), "solve.options")
case("rev-options-presolve-odd", edited(SM, ("solve.options", {"presolve": "maybe"})), "solve.options.presolve")
case("rev-verify-string", edited(SM, ("solve.verify", "no")), "solve.verify")
case("rev-budget-balance-string", edited(SM, ("solve.budget_balance", "yes")), "solve.budget_balance")
case("rev-objective-number", edited(SM, ("solve.objective", 5)), "solve.objective")
case("rev-objective-negative-weight", edited(SM, ("solve.objective", {"revenue": -1.0})), "solve.objective.revenue")
case("rev-objective-unknown", edited(SM, ("solve.objective", "profit")), "objective")
case("rev-option-unknown", edited(SM, ("solve.turbo", True)), "solve.turbo")
case("rev-method-unknown", edited(SM, ("solve.method", "fast")), "method")
case("rev-fixed-allocation-number", edited(SM, ("solve.fixed_allocation", 5)), "solve.fixed_allocation")
case("rev-fixed-allocation-shape", edited(SM, ("solve.fixed_allocation", [[1.0]])), "fixed_allocation")
case("rev-table-utilities-shape", edited(BIL, ("decisions.utilities", [[[1.0]]])), "decisions.utilities")
case("rev-deep-tables", _deep_tables(60).encode(), "x.a.a")
case("rev-deep-array-100k", b"types = " + b"[" * 100_000 + b"1" + b"]" * 100_000 + b"\n", "file")
case("rev-deep-table-100k", b"x = " + b"{a = " * 100_000 + b"1" + b"}" * 100_000 + b"\n", "file")
case("rev-not-toml", b"horizon = = 3\n", "file")
case("rev-not-utf8", b"name = \"\xff\xfe\"\n", "file")
case("rev-binary", bytes(range(256)) * 4, "file")
case("rev-empty-file", b"", "agents")
case("rev-only-comment", b"# nothing here\n", "agents")

# ---------------------------------------------------------------------------------- efficient
case("eff-types-wrong-shape", edited(LP, ("agents[0].types", [[1.0, 2.0]])), "agents[0]")
case("eff-types-empty-period", edited(CORR, ("agents[0].types", [[], [1.0]])), "agents[0].types")
case("eff-types-strings", edited(LP, ("agents[0].types", ["a", "b"])), "agents[0].labels")   # labels-only types, 3 labels
case("eff-discount-1-infinite", edited(LP, ("discount", 1.0)), "discount")
case("eff-horizon-string", edited(CORR, ("horizon", "three")), "horizon")
case("eff-horizon-1e9", edited(CORR, ("horizon", 10 ** 9)), "horizon")
case("eff-horizon-float", edited(CORR, ("horizon", 2.0)), "horizon")
case("eff-joint-initial-size", edited(CORR, ("joint_initial", [0.5, 0.5])), "joint_initial")
case("eff-joint-initial-bool", edited(CORR, ("joint_initial", [True, False, False, False])), "joint_initial")
case("eff-joint-transition-rows", edited(CORR, ("joint_transition", [[0.5] * 4] * 4)), "joint_transition")
case("eff-joint-transition-string", edited(CORR, ("joint_transition", "iid")), "joint_transition")
case("eff-pivot-outside-length", edited(LP, ("pivot_outside", [[]])), "pivot_outside")
case("eff-pivot-outside-unknown", edited(LP, ("pivot_outside", [["teleport"], []])), "pivot_outside[0][0]")
case("eff-pivot-outside-number", edited(LP, ("pivot_outside", 3)), "pivot_outside")
case("eff-mechanism-unknown", edited(LP, ("solve.mechanism", "bogus")), "solve.mechanism")
case("eff-mechanism-number", edited(LP, ("solve.mechanism", 3)), "solve.mechanism")
case("eff-horizon-method-unknown", edited(LP, ("solve.horizon_method", "magic")), "solve.horizon_method")
case("eff-self-enforcement-string", edited(RAM, ("solve.self_enforcement", "yes")), "solve.self_enforcement")
case("eff-delta-range", edited(RAM, ("solve.delta", 1.5)), "solve.delta")
case("eff-delta-string", edited(RAM, ("solve.delta", "0.9")), "solve.delta")
case("eff-participation-option", edited(LP, ("solve.participation", "interim")), "solve.participation")
case("eff-too-many-profiles", edited(RAM, *[op for i in range(2) for op in (
    (f"agents[{i}].types", [float(v) for v in range(1, 101)]), (f"agents[{i}].initial", [0.01] * 100),
    (f"agents[{i}].transition", [[0.01] * 100] * 100))]), "agents")
case("eff-utilities-agents", edited(LP, ("decisions.utilities", [[[1.0]]])), "decisions.utilities")
case("eff-discount-bool", edited(LP, ("discount", False)), "discount")
case("eff-unknown-key", edited(LP, ("turbo", 1)), "turbo")

# ---------------------------------------------------------------------------------- contingent
case("con-one-agent", edited(LS, ("agents", [base(LS)["agents"][0]])), "agents")
case("con-signals-strings", edited(LS, ("agents[0].signals", ["a", "b"])), "agents[0].signals")
case("con-signals-1e20", edited(LS, ("agents[0].signals", [1e20, 1.0])), "agents[0].signals")
case("con-signals-bool", edited(LS, ("agents[0].signals", [True, False])), "agents[0].signals")
case("con-decisions-empty", edited(LS, ("decisions", [])), "decisions")
case("con-decisions-word", edited(LS, ("decisions", "sell")), "decisions")
case("con-utility-shape", edited(LS, ("agents[0].utility", [[1.0]])), "agents[0].utility")
case("con-joint-initial-sum", edited(LS, ("joint_initial", [0.1] * 9)), "joint_initial")
case("con-joint-transition-missing", edited(LS, ("joint_transition_by_decision",)), "joint_transition")
case("con-kernels-count", edited(LS, ("joint_transition_by_decision", base(LS)["joint_transition_by_decision"][:1])),
     "joint_transition_by_decision")
case("con-last-decision-7", edited(LS, ("last_period", "constant"), ("last_decision", 7)), "last_decision")
case("con-last-decision-half", edited(LS, ("last_period", "constant"), ("last_decision", 0.5)), "last_decision")
case("con-last-decision-ex-post", edited(LS, ("last_decision", 0)), "last_decision")
case("con-last-decision-unknown", edited(LS, ("last_period", "constant"), ("last_decision", "Z")), "last_decision")
case("con-last-decision-bool", edited(LS, ("last_period", "constant"), ("last_decision", True)), "last_decision")
case("con-last-period-unknown", edited(LS, ("last_period", "sometimes")), "last_period")
case("con-horizon-string", edited(LS, ("horizon", "x")), "horizon")
case("con-horizon-1e9", edited(LS, ("horizon", 10 ** 9)), "horizon")
case("con-renormalize-string", edited(LS, ("renormalize", "no")), "renormalize")
case("con-valuation-table-decisions", edited(LW, ("decisions", ["a", "b"])), "valuation")
case("con-valuation-gamma-string", edited(LW, ("valuation.gamma", "x")), "valuation.gamma")
case("con-valuation-kind", edited(LW, ("valuation.kind", "quadratic")), "valuation.kind")
case("con-name-number", edited(LS, ("name", 5)), "name")
case("con-agent-name-list", edited(LS, ("agents[0].name", ["x"])), "agents[0].name")
case("con-discount-2", edited(LS, ("discount", 2.0)), "discount")
case("con-signal-space-too-large", edited(LW, *[(f"agents[{i}].signals", list(range(1, 300)))
                                                for i in range(len(base(LW)["agents"]))]), "agents")
case("con-method-unknown", edited(LS, ("solve.method", "x")), "solve.method")
case("con-blocks-unknown", edited(LCI, ("solve.blocks", "x")), "solve.blocks")
case("con-auction-string", edited(LW, ("solve.auction", "yes")), "solve.auction")
case("con-unknown-key", edited(LS, ("spanning", True)), "spanning")

# ---------------------------------------------------------------------------------- Thomas–Worrall
case("tw-income-decreasing", edited(TW, ("income", [2.0, 1.0])), "income")
case("tw-income-single", edited(TW, ("income", [1.0])), "income")
case("tw-income-strings", edited(TW, ("income", ["1", "2"])), "income")
case("tw-prob-zero", edited(TW, ("prob", [1.0, 0.0])), "prob")
case("tw-prob-sum", edited(TW, ("prob", [0.7, 0.7])), "prob")
case("tw-beta-1", edited(TW, ("beta", 1.0)), "beta")
case("tw-beta-bool", edited(TW, ("beta", True)), "beta")
case("tw-utility-kind", edited(TW, ("utility.kind", "quadratic")), "utility.kind")
case("tw-utility-missing", edited(TW, ("utility",)), "utility")
case("tw-n-transfer-1e8", edited(TW, ("grid.n_transfer", 10 ** 8)), "grid.n_transfer")
case("tw-n-promise-1e9", edited(TW, ("grid.n_promise", 10 ** 9)), "grid.n_promise")
case("tw-n-promise-float", edited(TW, ("grid.n_promise", 2.5)), "grid.n_promise")
case("tw-n-promise-string", edited(TW, ("grid.n_promise", "80")), "grid.n_promise")
case("tw-n-promise-too-few", edited(TW, ("grid.n_promise", 2)), "grid.n_promise")
case("tw-transfer-range-reversed", edited(TW, ("grid.transfer_range", [5.0, 1.0])), "grid.transfer_range")
case("tw-promise-range-string", edited(TW, ("grid.promise_range", "all")), "grid.promise_range")
case("tw-promise-spacing", edited(TW, ("grid.promise_spacing", "log")), "grid.promise_spacing")
case("tw-floor-string", edited(TW, ("grid.consumption_floor", "x")), "grid.consumption_floor")
case("tw-grid-unknown", edited(TW, ("grid.n", 5)), "grid.n")
case("tw-simulate-paths-1e9", edited(TW, ("solve.simulate_paths", 10 ** 9)), "solve.simulate")
case("tw-simulate-periods-negative", edited(TW, ("solve.simulate_periods", -1)), "solve.simulate_periods")
case("tw-progress-string", edited(TW, ("solve.progress", "no")), "solve.progress")
case("tw-seed-negative", edited(TW, ("solve.seed", -1)), "solve.seed")
case("tw-tol-zero", edited(TW, ("solve.tol", 0)), "solve.tol")
case("tw-max-iter-zero", edited(TW, ("solve.max_iter", 0)), "solve.max_iter")
case("tw-backend-cvxpy", edited(TW, ("solve.backend", "cvxpy")), "solve.backend")
case("tw-cara-gamma-string", edited(TWC, ("utility.gamma", "x")), "utility.gamma")
case("tw-unknown-key", edited(TW, ("insurer", "x")), "insurer")

# ---------------------------------------------------------------------------------- Guo–Hörner
case("gh-grid-1e4", edited(GHI, ("grid.n", 10 ** 4)), "grid.n")
case("gh-grid-1e6", edited(GH, ("grid.n", 10 ** 6)), "grid.n")
case("gh-grid-1", edited(GH, ("grid.n", 1)), "grid.n")
case("gh-grid-string", edited(GH, ("grid.n", "41")), "grid.n")
case("gh-L-zero", edited(GH, ("L", 0.0)), "L")
case("gh-H-below-c", edited(GH, ("H", 0.8)), "c")
case("gh-c-string", edited(GH, ("c", "one")), "c")
case("gh-beta", edited(GH, ("beta", 1.5)), "beta")
case("gh-q-zero", edited(GHI, ("q", 0.0)), "q")
case("gh-persistence-one", edited(GH, ("persistence", 1.0)), "persistence")
case("gh-horizon-zero", edited(GHF, ("horizon", 0)), "horizon")
case("gh-horizon-1e9", edited(GHF, ("horizon", 10 ** 9)), "horizon")
case("gh-horizon-string", edited(GHF, ("horizon", "x")), "horizon")
case("gh-grid-unknown", edited(GH, ("grid.m", 3)), "grid.m")
case("gh-L-huge", edited(GH, ("L", 1e20)), "L")
case("gh-name-table", edited(GH, ("name", {"a": 1})), "name")

# ---------------------------------------------------------------------------------- new surfaces
# own-history utilities, persistent and i.i.d. types, label-only types, correlated types
def _agent(types, **kw):
    return {"types": types, **kw}


def _model(agents, dec=None, **kw):
    return {"horizon": kw.pop("horizon", 1), "agents": agents, "decisions": dec or {"kind": "allocate"}, **kw}


_TEN = [float(v) for v in range(1, 11)]
_IAC = dict(initial=[0.5, 0.5], iid=True, utility_of="initial_and_current")
case("rev-history-tables-1e20", _model([_agent(_TEN, initial=[0.1] * 10, iid=True, utility_of="history",
                                                values=[_TEN] + [[]] * 19)], {"kind": "allocate", "periods": [1]},
                                        horizon=20, discount=0.9), "agents[0].utility_of")
case("rev-history-40-periods", _model([_agent([1.0, 2.0], initial=[0.5, 0.5], iid=True, utility_of="history",
                                               values=[[1.0, 2.0]] + [[]] * 39)], {"kind": "allocate", "periods": [1]},
                                       horizon=40, discount=0.9), "agents[0].utility_of")
case("rev-history-values-missing", _model([_agent([1.0, 2.0], initial=[0.5, 0.5], iid=True, utility_of="history")],
                                           horizon=3, discount=0.9), "agents[0].values")
case("rev-values-shape", _model([_agent([1.0, 2.0], **_IAC, values=[[], [[1.0, 2.0]]])],
                                {"kind": "allocate", "periods": [2]}, horizon=2, discount=0.9), "agents[0].values[1]")
case("rev-values-nan", _model([_agent([1.0, 2.0], **_IAC, values=[[], [[1.0, math.nan], [1.0, 2.0]]])],
                              {"kind": "allocate", "periods": [2]}, horizon=2, discount=0.9), "agents[0].values[1]")
case("rev-values-1e300", _model([_agent([1.0, 2.0], **_IAC, values=[[], [[1.0, 1e300], [1.0, 2.0]]])],
                                {"kind": "allocate", "periods": [2]}, horizon=2, discount=0.9), "agents[0].values[1]")
case("rev-values-bool", _model([_agent([1.0, 2.0], **_IAC, values=[[], [[True, False], [1.0, 2.0]]])],
                               {"kind": "allocate", "periods": [2]}, horizon=2, discount=0.9), "agents[0].values[1]")
case("rev-values-string", _model([_agent([1.0, 2.0], **_IAC, values="big")], {"kind": "allocate", "periods": [2]},
                                 horizon=2, discount=0.9), "agents[0].values")
case("rev-values-empty", _model([_agent([1.0, 2.0], **_IAC, values=[])], {"kind": "allocate", "periods": [2]},
                                horizon=2, discount=0.9), "agents[0].values")
case("rev-values-deep", _model([_agent([1.0, 2.0], **_IAC, values=[[], nest(1.0, 40)])],
                               {"kind": "allocate", "periods": [2]}, horizon=2, discount=0.9), "agents[0].values[1]")
case("rev-values-current", _model([_agent([1.0, 2.0], initial=[0.5, 0.5], values=[[1.0, 2.0]])]), "agents[0].values")
case("rev-utility-of-unknown", _model([_agent([1.0, 2.0], initial=[0.5, 0.5], utility_of="future")]),
     "agents[0].utility_of")
case("rev-utility-of-list", _model([_agent([1.0, 2.0], initial=[0.5, 0.5], utility_of=["history"])]),
     "agents[0].utility_of")
case("rev-persistent-string", _model([_agent([1.0, 2.0], initial=[0.5, 0.5], persistent="yes")]),
     "agents[0].persistent")
case("rev-persistent-int", _model([_agent([1.0, 2.0], initial=[0.5, 0.5], persistent=1)]), "agents[0].persistent")
case("rev-persistent-transition", _model([_agent([1.0, 2.0], initial=[0.5, 0.5], persistent=True,
                                                 transition=[[1.0, 0.0], [0.0, 1.0]])], horizon=2, discount=0.9),
     "agents[0].transition")
case("rev-persistent-per-period", _model([_agent([[1.0, 2.0], [1.0, 2.0]], initial=[0.5, 0.5], persistent=True)],
                                         horizon=2, discount=0.9), "agents[0].types")
case("rev-persistent-huge-horizon", _model([_agent(_TEN * 10, initial=[0.01] * 100, persistent=True)],
                                           horizon=5000, discount=0.9), "horizon")
case("rev-iid-string", edited(NMA, ("agents[0].iid", "true")), "agents[0].iid")
case("rev-iid-int", edited(NMA, ("agents[0].iid", 1)), "agents[0].iid")
case("rev-iid-with-transition", edited(NMA, ("agents[0].transition", [[0.5, 0.5], [0.5, 0.5]])),
     "agents[0].transition")
case("rev-iid-types-change", _model([_agent([[1.0, 2.0], [1.0, 3.0]], initial=[0.5, 0.5], iid=True)],
                                    horizon=2, discount=0.9), "agents[0].types[1]")
case("rev-iid-no-initial", _model([_agent([1.0, 2.0], iid=True)], horizon=2, discount=0.9), "agents[0].initial")
case("rev-iid-tree-too-large", _model([_agent(_TEN, initial=[0.1] * 10, iid=True)], horizon=12, discount=0.9),
     "horizon")
case("rev-labels-only-sold", _model([_agent(["a", "b"], initial=[0.5, 0.5])]), "agents[0].types")
case("rev-labels-mixed", _model([_agent(["a", 1.0], initial=[0.5, 0.5])]), "agents[0].types")
case("rev-labels-duplicate-types", _model([_agent(["a", "a"], initial=[0.5, 0.5])]), "agents[0].types")
case("rev-labels-only-quantity", _model([_agent(["a", "b"], initial=[0.5, 0.5])], {"kind": "quantity", "qmax": 1.0}),
     "agents[0].types")
case("rev-delta-1-plus", _model([_agent([1.0, 2.0], initial=[0.5, 0.5], iid=True)], horizon=2,
                                discount=1.0000001), "discount")
case("rev-joint-initial-nan", edited(CFE, ("joint_initial[0][0]", math.nan)), "joint_initial")
case("rev-joint-initial-bool", edited(CFE, ("joint_initial", [[True] * 3] * 3)), "joint_initial")
case("rev-joint-initial-string", edited(CFE, ("joint_initial", "uniform")), "joint_initial")
case("rev-joint-initial-empty", edited(CFE, ("joint_initial", [])), "joint_initial")
case("rev-joint-initial-3d", edited(CFE, ("joint_initial", [[[0.1]]])), "joint_initial")
case("rev-joint-initial-table", edited(CFE, ("joint_initial", {"a": 1})), "joint_initial")
case("rev-joint-and-initial", edited(CFE, ("agents[0].initial", [0.3, 0.3, 0.4])), "agents[0].initial")
case("rev-joint-transition-one-period", edited(CFE, ("joint_transition", [[1.0] * 9] * 9)), "joint_transition")
case("rev-joint-transition-missing", edited(CFE, ("horizon", 2), ("discount", 0.9)), "joint_transition")
case("rev-joint-transition-shape", edited(CFE, ("horizon", 2), ("discount", 0.9), ("joint_transition", [[1.0]])),
     "joint_transition")
case("rev-joint-transition-inf", edited(CFE, ("horizon", 2), ("discount", 0.9),
                                        ("joint_transition", [[math.inf] * 9] * 9)), "joint_transition")
case("rev-joint-transition-count", edited(CFE, ("horizon", 3), ("discount", 0.9),
                                          ("joint_transition", [[[1 / 9] * 9] * 9] * 5)), "joint_transition")
case("rev-joint-profiles-8e6", _model([_agent([float(v) for v in range(1, 201)]) for _ in range(3)],
                                      joint_initial=[1.0]), "agents")
case("rev-joint-10-agents", _model([_agent([1.0, 2.0, 3.0, 4.0]) for _ in range(10)], joint_initial=[1.0]),
     "agents")
case("rev-joint-quantity", edited(CFE, ("decisions", {"kind": "quantity", "qmax": 1.0})), "decisions")
case("rev-joint-private", edited(CFE, ("horizon", 2), ("discount", 0.9), ("joint_transition", [[1 / 9] * 9] * 9),
                                 ("solve.disclosure", "private")), "disclosure")
case("rev-joint-key-in-agent", edited(CFE, ("agents[0].joint_initial", [1.0])), "agents[0].joint_initial")
case("rev-many-agents-tables", _model([_agent([1.0, 2.0], initial=[0.5, 0.5])] * 20_000), "agents")

# revenue [solve] options: payment selection, ex-post IC, money, method, reduced form
for _v, _tag in [(5, "number"), (True, "bool"), ("maybe", "unknown"), ([], "empty"), (["expost_ir", "nope"], "list"),
                 ([1, 2], "numbers"), ({"a": 1}, "table"), (["min_square", "min_abs"], "two-norms"),
                 (["none", "symmetric"], "none-in-list"), (["expost_ir", "flow_ir"], "both-ir"),
                 (["symmetric"] * 3, "repeated"), ("", "empty-string"), (nest("none", 40), "deep")]:
    case(f"rev-selection-{_tag}", edited(SM, ("solve.selection", _v)), "selection")
case("rev-ic-unknown", edited(SM, ("solve.ic", "dominant")), "ic")
case("rev-ic-bool", edited(SM, ("solve.ic", True)), "solve.ic")
case("rev-ic-expost-private", edited(BAT, ("agents", [base(BAT)["agents"][0]] * 2), ("solve.ic", "expost"),
                                     ("solve.disclosure", "private")), "ic")
case("rev-money-string", edited(SM, ("solve.money", "no")), "solve.money")
case("rev-money-int", edited(SM, ("solve.money", 0)), "solve.money")
case("rev-money-false-cg", edited(SM, ("solve.money", False), ("solve.method", "cg")), "method")
case("rev-method-case", edited(SM, ("solve.method", "REDUCED")), "method")
case("rev-method-list", edited(SM, ("solve.method", ["auto"])), "solve.method")
case("rev-rf-dynamic", edited(BAT, ("solve.method", "reduced_form")), "method")
case("rev-rf-quantity", edited(MR, ("solve.method", "reduced_form")), "method")
case("rev-rf-correlated", edited(CFE, ("solve.method", "reduced_form")), "method")
case("rev-rf-payments-dynamic", edited(BAT, ("solve.payments", "interim")), "payments")
for _v, _tag in [(0, "0"), (1.5, "float"), (True, "bool"), ("2", "string"), (10 ** 20, "1e20"), (math.nan, "nan")]:
    case(f"rev-rf-units-{_tag}", edited(ARF, ("solve.units", _v)), "units")
for _v, _tag in [(math.nan, "nan"), (math.inf, "inf"), (1e300, "1e300"), ("2", "string"), (True, "bool"), ([2.0], "list")]:
    case(f"rev-rf-reserve-{_tag}", edited(ARF, ("solve.reserve", _v)), "reserve")
_MW = {"kind": "min_win", "bidders": [1], "probability": 0.3}
for _v, _f, _tag in [("min_win", "constraints", "string"), ([5], "constraints[0]", "entry-number"),
                     ([{}], "constraints[0].kind", "entry-empty"), ([{"kind": "nope"}], "constraints[0].kind", "kind"),
                     ([{**_MW, "bidders": [0]}], "constraints[0].bidders[0]", "bidder-0"),
                     ([{**_MW, "bidders": [99]}], "constraints[0].bidders", "bidder-99"),
                     ([{**_MW, "bidders": [True]}], "constraints[0].bidders[0]", "bidder-bool"),
                     ([{**_MW, "bidders": []}], "constraints[0].bidders", "bidders-empty"),
                     ([{**_MW, "probability": 1.5}], "constraints[0].probability", "probability"),
                     ([{**_MW, "probability": math.nan}], "constraints[0].probability", "probability-nan"),
                     ([{"kind": "min_win", "bidders": [1]}], "constraints[0].probability", "probability-missing"),
                     ([{**_MW, "extra": 1}], "constraints[0].extra", "extra-key"),
                     ([{"kind": "payment_cap", "bidder": 2, "max": math.inf}], "constraints[0].max", "cap-inf"),
                     ([{"kind": "payment_cap", "bidder": 9, "max": 1.0}], "constraints[0].bidder", "cap-bidder"),
                     ([_MW] * 10_001, "constraints", "too-many"), (nest(_MW, 40), "constraints", "deep")]:
    case(f"rev-rf-constraints-{_tag}", edited(ARF, ("solve.constraints", _v)), _f)
case("rev-rf-payments-unknown", edited(ARF, ("solve.payments", "both")), "payments")
for _k, _v in [("ic_rows", "all"), ("border_chains", [[1, 2]]), ("implementation", {"weights": [1.0], "ranks": [[0]]})]:
    case(f"rev-certificate-only-{_k}", edited(ARF, (f"solve.{_k}", _v)), f"solve.{_k}")
case("rev-rf-50k-types", {"horizon": 1, "agents": [_agent([float(v) for v in range(1, 50_001)], initial=[1 / 50_000] * 50_000)] * 2,
                          "decisions": {"kind": "allocate"}, "solve": {"method": "reduced_form"}}, "agents")
case("rev-rf-units-1000", {"horizon": 1, "agents": [_agent([1.0, 2.0, 3.0], initial=[0.3, 0.3, 0.4])] * 2000,
                           "decisions": {"kind": "allocate"}, "solve": {"method": "reduced_form", "units": 1000}},
     "units")

# ---------------------------------------------------------------------------------- relational
for _k, _v, _f in [("grid.n", 10 ** 9, "grid.n"), ("grid.n", 2, "grid.n"), ("grid.n", 2.5, "grid.n"),
                   ("grid.n", True, "grid.n"), ("grid.n", "101", "grid.n"), ("grid.m", 3, "grid.m"), ("grid", 5, "grid"),
                   ("lmp.B", math.nan, "lmp.B"), ("lmp.B", 1e300, "lmp.B"), ("lmp.B", "2", "lmp.B"),
                   ("lmp.B", True, "lmp.B"), ("lmp.p", 1.5, "lmp.p"), ("lmp.p", -0.1, "lmp.p"),
                   ("lmp.variant", "x", "lmp.variant"), ("lmp.variant", 3, "lmp.variant"),
                   ("lmp.exposure", math.inf, "lmp.exposure"), ("lmp.annihilation", "big", "lmp.annihilation"),
                   ("lmp.extra", 1, "lmp.extra"), ("lmp", 5, "lmp"), ("enforcement", "x", "enforcement"),
                   ("horizon", 10 ** 9, "horizon"), ("horizon", 0, "horizon"), ("horizon", "infinite", "horizon"),
                   ("name", 5, "name"), ("unknown", 1, "unknown"),
                   ("solve.randomization", "x", "randomization"), ("solve.randomization", 1, "randomization"),
                   ("solve.simulate_paths", 10 ** 9, "simulate"), ("solve.simulate_periods", 10 ** 9, "simulate"),
                   ("solve.simulate_paths", -1, "simulate_paths"), ("solve.seed", True, "seed"),
                   ("solve.tol", 0, "tol"), ("solve.tol", math.nan, "tol"), ("solve.max_iter", 0, "max_iter"),
                   ("solve.backend", "cvxpy", "backend"), ("solve.solver", "sh", "solver"),
                   ("solve.participation", "interim", "participation"),
                   ("solve.continuation_set", {"grid": [0], "upper": [0], "lower": [0]}, "solve.continuation_set"),
                   ("solve.promises", [1.0], "solve.promises"), ("solve.punishments", [], "solve.punishments"),
                   ("solve.cuts", {"block": [], "outcome": [], "piece": [], "side": []}, "solve.cuts")]:
    case(f"rel-{_k}-{str(_v)[:12]}", edited(LMP, (_k, _v)), _f)
for _v, _tag in [(1.0, "1"), (0, "0"), (math.nan, "nan"), (True, "bool"), ("0.5", "string")]:
    case(f"rel-delta-{_tag}", {**base(LMP), "delta": _v}, "delta")
_STAGE = {"states": ["a", "b"], "prob": [0.5, 0.5], "principal_actions": ["x", "y"], "agent_actions": ["u", "v"],
          "outcome": [{"state": s, "principal": a, "agent": "u", "payoff": [1.0, 1.0]} for s in "ab" for a in "xy"]}


def _stage(**changes):
    return {"kind": "relational", "delta": 0.7, "stage": {**_STAGE, **changes}, "grid": {"n": 31}}


_O = _STAGE["outcome"][0]
for _tag, _ch, _f in [("states-9", dict(states=[f"s{i}" for i in range(9)], prob=[1 / 9] * 9), "stage.states"),
                      ("states-duplicate", dict(states=["a", "a"]), "stage.states"),
                      ("states-numbers", dict(states=[1, 2]), "stage.states"),
                      ("prob-zero", dict(prob=[1.0, 0.0]), "stage.prob"), ("prob-nan", dict(prob=[math.nan, 0.5]), "stage.prob"),
                      ("actions-65", dict(principal_actions=[f"p{i}" for i in range(65)]), "stage.principal_actions"),
                      ("outcome-state", dict(outcome=[{**_O, "state": "z"}]), "stage.outcome[0].state"),
                      ("outcome-payoff-3", dict(outcome=[{**_O, "payoff": [1.0, 1.0, 1.0]}]), "stage.outcome[0].payoff"),
                      ("outcome-payoff-nan", dict(outcome=[{**_O, "payoff": [math.nan, 1.0]}]), "stage.outcome[0].payoff"),
                      ("outcome-payoff-bool", dict(outcome=[{**_O, "payoff": [True, 1.0]}]), "stage.outcome[0].payoff"),
                      ("outcome-empty", dict(outcome=[]), "stage.outcome"),
                      ("outcome-twice", dict(outcome=_STAGE["outcome"] + [_O]), "stage.outcome"),
                      ("outcome-extra-key", dict(outcome=[{**_O, "z": 1}] + _STAGE["outcome"][1:]), "stage.outcome[0].z"),
                      ("messages-string", dict(messages="yes"), "stage.messages"),
                      ("modes-number", dict(modes=5), "stage.modes"),
                      ("modes-unknown-action", dict(modes={"r": {"a": "x/zz"}}), "stage.modes")]:
    case(f"rel-stage-{_tag}", _stage(**_ch), _f)
_BIG = {"states": [f"s{i}" for i in range(8)], "prob": [1 / 8] * 8, "messages": True,
        "principal_actions": [f"p{i}" for i in range(64)], "agent_actions": [f"e{i}" for i in range(4)],
        "outcome": [{"state": f"s{s}", "principal": f"p{a}", "agent": f"e{e}", "payoff": [1.0, float(e)]}
                    for s in range(8) for a in range(64) for e in range(4)]}
case("rel-stage-too-many-plans", {"kind": "relational", "delta": 0.7, "stage": _BIG}, "stage")
case("rel-stage-and-lmp", {**base(LMP), "stage": _STAGE}, "stage")

# ---------------------------------------------------------------------------------- Thomas–Worrall CARA, exact
for _k, _v, _f in [("solve.method", "x", "solve.method"), ("solve.method", 3, "solve.method"),
                   ("solve.solver_tol", 0, "solver_tol"), ("solve.solver_tol", -1e-3, "solver_tol"),
                   ("solve.solver_tol", math.nan, "solver_tol"), ("solve.solver_tol", "1e-9", "solver_tol"),
                   ("solve.solver_tol", True, "solver_tol"), ("utility.gamma", 0.0, "utility.gamma"),
                   ("utility.gamma", -1.0, "utility.gamma"), ("utility.gamma", math.nan, "utility.gamma"),
                   ("solve.simulate_paths", 10 ** 9, "simulate"), ("grid.n_promise", 10 ** 9, "grid.n_promise")]:
    case(f"tw-cara-exact-{_k}-{str(_v)[:10]}", edited(TWX, (_k, _v)), _f)
case("tw-cara-flat-utility", edited(TWC, ("grid.transfer_range", [-4.0, 1e11])), "grid.transfer_range")
case("tw-cara-gamma-overflow", edited(TWX, ("utility.gamma", 1e6)), "utility")

# ---------------------------------------------------------------------------------- 50,000 types
_MANY = [float(v) for v in range(1, 50_001)]
case("rev-50k-types", edited(SM, ("agents[0].types", _MANY), ("agents[0].initial", [1 / 50_000] * 50_000)),
     "agents")
case("eff-50k-types", edited(RAM, ("agents[0].types", _MANY), ("agents[0].initial", [1 / 50_000] * 50_000),
                              ("agents[0].transition",), ("horizon", 1)), "agents")
case("con-50k-signals", edited(LW, ("agents[0].signals", _MANY)), "agents")

#: cases whose refusal must come from a size estimate (run again under RLIMIT_AS)
OVERSIZED = ["rev-horizon-1e20", "rev-horizon-int-1e20", "rev-horizon-1e9", "rev-horizon-tree-too-large",
             "eff-horizon-1e9", "eff-too-many-profiles", "con-horizon-1e9", "con-signal-space-too-large",
             "tw-n-transfer-1e8", "tw-n-promise-1e9", "tw-simulate-paths-1e9", "gh-grid-1e4", "gh-grid-1e6",
             "gh-horizon-1e9", "rev-types-deep", "rev-50k-types",
             "rev-history-tables-1e20", "rev-iid-tree-too-large", "rev-joint-profiles-8e6", "rev-joint-10-agents",
             "rev-many-agents-tables", "rev-rf-50k-types", "rev-rf-units-1000", "rel-grid.n-1000000000",
             "rel-stage-too-many-plans", "rev-persistent-huge-horizon"]
