r"""Payment selection on the optimal face of the revenue program.

Revenue-optimal mechanisms are rarely unique: the LP pins down expected revenue
:math:`R^*` and, through the binding IC rows, the interim payments, but the ex-post
payments (who pays what at which history) and often the allocation on ironed or tied
histories are free within the *optimal face*
:math:`\{z \text{ feasible}: \text{revenue}(z) \ge R^* - \varepsilon\}`.  A simplex
solver returns a vertex of that face — e.g. a losing bidder who pays 12 and two
symmetric bidders with different rents.  This module chooses among the optimal
mechanisms by a stated lexicographic rule, each stage an LP/QP over the face of the
previous ones (Conitzer & Sandholm's automated mechanism design makes the same point:
the LP's tie-breaking is arbitrary, so a designer states a secondary objective).

Rules (``selection`` option; applied in this order when listed):

``expost_ir``
    Ex-post individual rationality *where feasible*: along every complete history of
    reports (every leaf of the tree, on and off path) each agent's realised discounted
    utility :math:`\sum_t\delta^t[u_i(x(k_t), r_{i,t}) - p_i(k_t)]` is non-negative — in a
    static auction: a loser pays nothing and a winner at most its value.  A stage LP
    minimises the total violation :math:`\sum s` (:math:`s\ge0` added to each such row)
    over the optimal face; later stages keep it at its minimum :math:`S^*` (zero when
    ex-post IR payments exist, which the result states).
``flow_ir``
    The same, period by period: at every node :math:`u_i(x(k), r_i(k)) - p_i(k) \ge 0`
    (no one pays in a period more than that period gives it; no advance fees).  Use one
    of ``expost_ir`` and ``flow_ir``.
``symmetric``
    Equal treatment of symmetric bidders: agents with identical type processes whose
    utilities and the principal's cost are exchanged by a permutation of the decisions
    (found automatically: "sell to i" ↔ "sell to j", or any matching of table decisions)
    get the permuted mechanism: :math:`x(\sigma k, \pi a) = x(k, a)`,
    :math:`p_{\sigma i}(\sigma k) = p_i(k)`.  The program is invariant under these
    permutations, so averaging a solution over them keeps it feasible and optimal:
    imposing them never costs revenue or ex-post IR.
``min_square`` | ``min_abs``
    Among what is left, the smallest payments: :math:`\min \sum_{k,i} p_i(k)^2` (a
    strictly convex QP: the payments are then unique) or :math:`\min\sum_{k,i}|p_i(k)|`
    (an LP), every node weighted equally.

Presets: ``"default"`` = ``expost_ir, symmetric, min_square`` on programs of at most
:data:`DEFAULT_COLUMN_LIMIT` columns (larger ones keep the solver's vertex, status ``skipped``,
unless the rules are named explicitly: the stages cost a multiple of the solve); ``"none"`` keeps the
solver's vertex; ``"min_square"`` / ``"min_abs"`` = ``symmetric`` and that norm; any
comma-separated list or sequence of rule names.

Time: the whole selection has :data:`TIME_LIMIT` seconds (each stage solve gets what is left);
when they run out the solver's vertex is kept and the result says so.

Tolerance: the face is :math:`\text{revenue} \ge R^* - \varepsilon` with
:math:`\varepsilon = 0`, raised to :math:`10^{-12}s`, :math:`10^{-10}s` and then
:math:`10^{-9}s` (:math:`s` the environment's payoff scale) only if a stage is
infeasible at the smaller value (the optimum :math:`R^*` comes from a solver with its own
feasibility tolerance); the stage that chose the mechanism, the :math:`\varepsilon` used
and the measured revenue loss are stated in the result.  Stages are solved by HiGHS with
feasibility tolerances 1e-10 (the least-squares stage by HiGHS' QP solver on small
programs and Clarabel otherwise, its point projected onto the face by an LP when it misses a
row by more than 1e-11 × scale).  Quantity (QP) programs: the objective is strictly concave
in the quantities on positive-probability nodes, so the quantities are fixed at the
optimum's (averaged over the symmetry group) and the selection acts on payments.  The
selected mechanism is checked by the independent verifier like any other.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from dmd_opt.core.model import ravel
from dmd_opt.core.display import fmt
from dmd_opt.core.errors import ModelError
from dmd_opt.core.truthful import tree_decision_utility, tree_truthful_utility
from dmd_opt.optim.program import Program

RULES = ("expost_ir", "flow_ir", "symmetric", "min_square", "min_abs")
IR_RULES = ("expost_ir", "flow_ir")
PRESETS = {"default": ("expost_ir", "symmetric", "min_square"), "none": (),
           "min_square": ("symmetric", "min_square"), "min_abs": ("symmetric", "min_abs")}
EPSILONS = (0.0, 1e-12, 1e-10, 1e-9)             # × payoff scale, tried in this order
#: Seconds the whole selection may take (each stage gets what is left); when they run out the
#: solver's vertex is kept and the result says so (a badly scaled QP — a type value of 2^31 —
#: otherwise kept HiGHS' QP solver busy for many minutes).
TIME_LIMIT = 60.0
STAGE_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
HIGHS_QP_PAYMENTS = 500                           # least-squares stage: HiGHS up to this many payments
#: The ``"default"`` preset runs on programs of at most this many columns; larger ones keep the
#: solver's vertex unless rules are named explicitly.  Measured on a two-type Markov buyer:
#: 32,760 columns 1.0 s with the selection vs 0.14 s without, 131,064 columns 24 s vs 1.1 s.
DEFAULT_COLUMN_LIMIT = 50_000


def parse_selection(spec) -> tuple[str, ...]:
    """Validate a ``selection`` option: a preset name, a comma-separated string or a list
    of rule names (module docstring).  Returns the rules in order."""
    if spec is None:
        return PRESETS["default"]
    if isinstance(spec, str):
        if spec in PRESETS:
            return PRESETS[spec]
        items = [s.strip() for s in spec.split(",") if s.strip()]
    elif isinstance(spec, (list, tuple)):
        items = list(spec)
    else:
        raise ModelError("selection", "expected a preset name (default, none, min_square, min_abs) "
                                      "or a list of rules")
    for s in items:
        if not isinstance(s, str) or s not in RULES:
            raise ModelError("selection", f"unknown rule {s!r}; rules: {', '.join(RULES)}; presets: "
                                          f"{', '.join(PRESETS)}")
    if len(set(items)) != len(items):
        raise ModelError("selection", "a rule is listed twice")
    if "min_square" in items and "min_abs" in items:
        raise ModelError("selection", "choose one of min_square and min_abs")
    if "expost_ir" in items and "flow_ir" in items:
        raise ModelError("selection", "choose one of expost_ir and flow_ir")
    order = [r for r in RULES if r in items]
    if items != order:
        raise ModelError("selection", f"rules apply in the order {', '.join(RULES)}; got {', '.join(items)}")
    return tuple(items)


# ---------------------------------------------------------------------------------------
# symmetric agents
# ---------------------------------------------------------------------------------------
def decision_swap(env, i: int, j: int, t: int) -> np.ndarray | None:
    """A permutation π of period-t decisions exchanging agents i and j, or None.

    π must satisfy :math:`u_i(\\pi a) = u_j(a)`, :math:`u_j(\\pi a) = u_i(a)`,
    :math:`u_l(\\pi a) = u_l(a)` for the other agents and :math:`c(\\pi a) = c(a)`.  Quantity
    models swap the agents' quantities (returned as the agent permutation)."""
    N = env.n_agents
    if env.quantity is not None:
        p = np.arange(N)
        p[[i, j]] = [j, i]
        return p
    U = [np.asarray(env.history_utility(l, t)).reshape(env.cost(t).size, -1) for l in range(N)]
    if len({tuple(env.utility_periods(l, t)) for l in range(N)}) > 1 or len({u.shape for u in U}) > 1:
        return None                               # utilities read different own periods
    c = np.asarray(env.cost(t))
    nA = c.size

    def key(a, swap):
        rows = [U[j][a] if (swap and l == i) else U[i][a] if (swap and l == j) else U[l][a] for l in range(N)]
        return tuple(np.round(np.concatenate(rows + [c[a:a + 1]]), 12).tolist())

    pool: dict = {}
    for b in range(nA):
        pool.setdefault(key(b, False), []).append(b)
    perm = np.empty(nA, np.int64)
    for a in range(nA):
        cand = pool.get(key(a, True))
        if not cand:
            return None
        perm[a] = cand.pop(0)
    return perm


def identical_agents(env, i: int, j: int) -> bool:
    """Same type values, initial distribution and transitions in every period."""
    ai, aj = env.agents[i], env.agents[j]
    if len(ai.type_values) != len(aj.type_values) or len(ai.transitions) != len(aj.transitions):
        return False
    same = all(np.array_equal(x, y) for x, y in zip(ai.type_values, aj.type_values))
    same &= np.array_equal(ai.initial, aj.initial)
    same &= all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(ai.transitions, aj.transitions))
    return bool(same)


def symmetric_classes(env) -> list[list[int]]:
    """Classes (size ≥ 2) of agents exchangeable with each other: identical type processes
    and, in every period, a decision permutation exchanging their utilities and keeping the
    others' and the cost (:func:`decision_swap`).  Correlated types: none (the joint law is
    not checked for exchangeability)."""
    N, T = env.n_agents, env.periods
    if not env.independent:       # a joint law need not be exchangeable: no symmetry is imposed
        return []
    classes: list[list[int]] = []
    for i in range(N):
        for cl in classes:
            j = cl[0]
            if identical_agents(env, i, j) and all(decision_swap(env, j, i, t) is not None for t in range(T)):
                cl.append(i)
                break
        else:
            classes.append([i])
    return [c for c in classes if len(c) > 1]


def _node_swap(tree, t: int, i: int, j: int) -> np.ndarray:
    """σ(k): the period-t node with agents i and j's reports exchanged in every period."""
    d = tree.digits(t).copy()
    d[:, :, [i, j]] = d[:, :, [j, i]]
    dims = [n for s in range(t + 1) for n in tree.shapes[s]]
    return ravel(tuple(d.reshape(d.shape[0], -1).T), dims)


@dataclass
class _Swap:
    i: int
    j: int
    nodes: list          # per period σ(k)
    decisions: list      # per period π(a) (quantity models: the agent permutation)


def _swaps(env, tree, classes) -> list[_Swap]:
    out = []
    for cl in classes:
        for a, b in zip(cl[:-1], cl[1:]):      # adjacent transpositions generate the class's group
            out.append(_Swap(a, b, [_node_swap(tree, t, a, b) for t in range(tree.T)],
                             [decision_swap(env, a, b, t) for t in range(tree.T)]))
    return out


# ---------------------------------------------------------------------------------------
# the stage programs
# ---------------------------------------------------------------------------------------
@dataclass
class Selection:
    """What the selection did (``RevenueResult.selection``): the rules, the stage that chose
    the mechanism (``chosen_by``), ε, the optimum and the selected mechanism's objective,
    the ex-post IR violation left, the symmetric classes and the payment norm reached."""

    rules: tuple
    status: str
    objective_optimum: float
    objective_selected: float | None = None
    epsilon: float | None = None
    ir_rule: str | None = None
    ir_minimum: float | None = None
    ir_violation_total: float | None = None
    ir_violation_max: float | None = None
    symmetric_classes: list = field(default_factory=list)
    norm: str | None = None
    norm_value: float | None = None
    face: str = ""
    chosen_by: str = ""
    message: str = ""
    stages: list = field(default_factory=list)

    @property
    def objective_loss(self) -> float | None:
        """Optimum minus the selected mechanism's objective (≤ ε)."""
        return None if self.objective_selected is None else self.objective_optimum - self.objective_selected

    def to_dict(self) -> dict:
        return {"rules": list(self.rules), "status": self.status, "chosen_by": self.chosen_by,
                "objective_optimum": self.objective_optimum, "objective_selected": self.objective_selected,
                "objective_loss": self.objective_loss, "epsilon": self.epsilon,
                "ir_rule": self.ir_rule, "ir_violation_total": self.ir_violation_total,
                "ir_violation_max": self.ir_violation_max,
                "symmetric_classes": self.symmetric_classes, "norm": self.norm, "norm_value": self.norm_value,
                "face": self.face,
                "message": self.message, "stages": self.stages}

    def summary_lines(self) -> list[str]:
        if self.status != "optimal":
            return [f"payment selection ({', '.join(self.rules)}): {self.status} — {self.message}"]
        if not self.rules:
            return ["payment selection: none (the solver's vertex of the optimal face)"]
        scale = max(1.0, abs(self.objective_optimum))
        lines = [f"payment selection: {', '.join(self.rules)} (chosen by {self.chosen_by}); objective "
                 f"{fmt(self.objective_selected, 10, scale)} vs optimum {fmt(self.objective_optimum, 10, scale)} "
                 f"(loss {fmt(self.objective_loss, 2, scale)} ≤ ε = {fmt(self.epsilon, 2, None)}; face: {self.face})"]
        if self.ir_violation_total is not None:
            what = "ex-post IR along every history" if self.ir_rule == "expost_ir" else "ex-post IR in every period"
            lines.append(f"  {what}: total violation {fmt(self.ir_violation_total, 3, scale)}, "
                         f"largest {fmt(self.ir_violation_max, 3, scale)}"
                         + (" (such payments exist on the optimal face)" if self.ir_violation_max <= 1e-8 else
                            " (none exist on the optimal face; the violation is minimised)"))
        if "symmetric" in self.rules:
            lines.append("  symmetric bidders treated alike: "
                         + (", ".join("{" + ", ".join(map(str, c)) + "}" for c in self.symmetric_classes)
                            or "none (no exchangeable agents)"))
        if self.norm is not None:
            lines.append(f"  {self.norm}: {self.norm_value:.6g}")
        return lines


def _layout_blocks(env, lay):
    """Column index arrays: x (or q) per period (K, width), p per period (K, N)."""
    tree, N = lay.tree, lay.tree.N
    X, P = [], []
    for t in range(tree.T):
        K = tree.n_nodes(t)
        X.append(lay.X0 + lay.x_off[t] + np.arange(K * lay.alloc_width[t]).reshape(K, -1))
        P.append(lay.P0 + lay.p_off[t] + np.arange(K * N).reshape(K, N))
    return X, P


def _symmetrise_quantities(xq: list[np.ndarray], swaps, classes, env, tree) -> list[np.ndarray]:
    """Average the quantities over the symmetry group of the classes (every permutation)."""
    if not classes:
        return xq
    perms = [list(itertools.permutations(c)) for c in classes]
    out = [np.zeros_like(q) for q in xq]
    count = 0
    for combo in itertools.product(*perms):
        agent_perm = np.arange(env.n_agents)
        for cl, img in zip(classes, combo):
            agent_perm[list(cl)] = img
        for t in range(tree.T):
            d = tree.digits(t)
            dims = [n for s in range(t + 1) for n in tree.shapes[s]]
            dp = d[:, :, agent_perm]
            k2 = ravel(tuple(dp.reshape(d.shape[0], -1).T), dims)
            # mechanism permuted by the agent permutation: q'(perm k, perm i) = q(k, i)
            qn = np.empty_like(xq[t])
            qn[k2[:, None], agent_perm[None, :]] = xq[t]
            out[t] += qn
        count += 1
    return [o / count for o in out]


def _ir_paths(tree, flow: bool):
    """The ex-post IR rows' node sets: a list of (terminal period τ, [ancestor arrays per t ≤ τ])
    with each terminal node's ancestor at period t (``flow``: the node alone)."""
    out = []
    taus = range(tree.T) if flow else [tree.T - 1]
    for tau in taus:
        k = np.arange(tree.n_nodes(tau))
        anc = {}
        div = 1
        for t in range(tau, -1 if not flow else tau - 1, -1):
            anc[t] = k // div
            div *= tree.R[t]
        out.append((tau, anc))
    return out


def ir_violations(mech, flow: bool = False) -> np.ndarray:
    """Ex-post IR violations of a tree mechanism, max(0, −realised utility) per (terminal
    node, agent): along every complete history (``flow=False``) or per node (``flow``)."""
    env, tree, d = mech.env, mech.tree, mech.env.discount
    out = []
    for tau, anc in _ir_paths(tree, flow):
        tot = 0.0
        for t, a in anc.items():
            u = np.stack([mech.truthful_utility(i, t) for i in range(env.n_agents)], axis=1)
            tot = tot + (1.0 if flow else d ** t) * (u - mech.payments[t])[a]
        out.append(np.maximum(0.0, -tot).ravel())
    return np.concatenate(out)


def optimal_face(prog: Program, solution, rel: float = 1e-9):
    """Row and column bounds describing the optimal face exactly, from one optimal dual.

    By complementary slackness a feasible point is optimal iff every row with a nonzero
    dual is at its bound and every column with a nonzero reduced cost at its bound, for
    any one optimal dual.  Rows (columns) whose dual exceeds ``rel`` × the largest in size
    *and* that are active at the solution are fixed at that bound.  Returns
    ``(row_lower, row_upper, col_lower, col_upper)`` or None when the solution has no duals.
    The face then needs no dense "objective ≥ R*" row, which leaves interior-point
    methods an interior (in the remaining inequalities) to work in."""
    if solution.row_dual is None or solution.col_dual is None or solution.x is None:
        return None
    x, y, z = solution.x, solution.row_dual, solution.col_dual
    act = prog.matrix() @ x
    rl, ru, cl, cu = prog.row_lower.copy(), prog.row_upper.copy(), prog.col_lower.copy(), prog.col_upper.copy()
    big = max(float(np.max(np.abs(y), initial=0.0)), float(np.max(np.abs(z), initial=0.0)), 1e-300)
    scale = max(1.0, float(np.max(np.abs(act), initial=0.0)))
    near = 1e-7 * scale
    strong = np.abs(y) > rel * big
    at_lo = strong & np.isfinite(rl) & (np.abs(act - rl) <= near)
    at_hi = strong & np.isfinite(ru) & (np.abs(act - ru) <= near) & ~at_lo
    ru[at_lo] = rl[at_lo]
    rl[at_hi] = ru[at_hi]
    strong = np.abs(z) > rel * big
    c_lo = strong & np.isfinite(cl) & (np.abs(x - cl) <= near)
    c_hi = strong & np.isfinite(cu) & (np.abs(x - cu) <= near) & ~c_lo
    cu[c_lo] = cl[c_lo]
    cl[c_hi] = cu[c_hi]
    return rl, ru, cl, cu


def _rule_program(prog: Program, env, lay, rules, face, floor: float | None, fixed_q, swaps):
    """The revenue program restricted to its optimal face — ``face`` (:func:`optimal_face`)
    and/or the row "objective ≥ ``floor``" — with the rules' rows (ex-post IR rows with
    their violation columns ``s``, symmetry rows); objective 0.  Returns it and a column /
    row map (``z``: the revenue program's columns, ``s``, ``p``: payment columns, ``floor``)."""
    A = prog.matrix().tocoo()
    n = prog.n_vars
    rl, ru, lb, ub = face if face is not None else (prog.row_lower, prog.row_upper, prog.col_lower, prog.col_upper)
    lb, ub = lb.copy(), ub.copy()
    c = prog.objective_vector()
    X, P = _layout_blocks(env, lay)
    tree, N, delta = lay.tree, lay.tree.N, env.discount
    if fixed_q is not None:                       # QP: quantities fixed, revenue linear in payments
        cols = np.concatenate([x.ravel() for x in X])
        vals = np.concatenate([q.ravel() for q in fixed_q])
        lb[cols] = ub[cols] = vals
        qd = prog.q_diag if prog.q_diag is not None else np.zeros(n)
        const = float(c[cols] @ vals + 0.5 * qd[cols] @ (vals * vals)) + prog.objective_offset
        c = c.copy()
        c[cols] = 0.0
    else:
        const = prog.objective_offset
    sp = Program(name=f"selection[{prog.name}]", sense="min")
    sp.add_variables("z", n, lb, ub, description="the revenue program's columns")
    cmap = {"z": np.arange(n), "p": np.concatenate([p.ravel() for p in P])}
    sp.add_constraints("base", prog.n_rows, A.row, A.col, A.data, rl, ru)
    if floor is not None:
        # The objective's coefficients are probability × discount, down to ~1e-12 on deep
        # trees, and HiGHS drops matrix entries below 1e-9: the row is scaled by a power of
        # two (exact) so that its smallest entry is at least 1e-7 (its largest at most 1e7).
        nz = np.nonzero(c)[0]
        a = np.abs(c[nz])
        k = 0.0
        if a.size and a.min() < 1e-7:
            k = min(np.ceil(np.log2(1e-7 / a.min())), np.floor(np.log2(1e7 / a.max())))
        f = 2.0 ** max(k, 0.0)
        cmap["floor"] = (sp.add_constraints("objective_floor", 1, np.zeros(nz.size), nz, f * c[nz],
                                            f * (floor - const), np.inf), f)
    ir = next((r for r in rules if r in IR_RULES), None)
    if ir is not None:
        flow = ir == "flow_ir"
        paths = _ir_paths(tree, flow)
        n_s = sum(tree.n_nodes(tau) for tau, _ in paths) * N
        s_cols = sp.add_variables("s", n_s, 0.0, np.inf, description="ex-post IR violation").ravel()
        cmap["s"] = s_cols
        off = 0
        for tau, anc in paths:
            K = tree.n_nodes(tau)
            rows_k = np.arange(K)
            for i in range(N):
                rr, cc, vv = [rows_k], [s_cols[off + rows_k * N + i]], [np.ones(K)]
                for t, a in anc.items():
                    w = 1.0 if flow else delta ** t
                    if env.quantity is not None:       # i's unit value at t, its reports on the path true
                        unit = tree_truthful_utility(env, tree, np.ones((tree.n_nodes(t), N)), i, t)
                        rr.append(rows_k), cc.append(X[t][a, i]), vv.append(w * unit[a])
                    else:
                        W = X[t].shape[1]
                        rr.append(np.repeat(rows_k, W))
                        cc.append(X[t][a].ravel())
                        vv.append(w * tree_decision_utility(env, tree, i, t)[a].ravel())
                    rr.append(rows_k), cc.append(P[t][a, i]), vv.append(-w * np.ones(K))
                rr, cc, vv = np.concatenate(rr), np.concatenate(cc), np.concatenate(vv)
                keep = vv != 0
                sp.add_constraints(ir, K, rr[keep], cc[keep], vv[keep], 0.0, np.inf,
                                   agent=i, period=tau, history=rows_k)
            off += K * N
    if "symmetric" in rules:
        for sw in swaps:
            for t in range(tree.T):
                sig = sw.nodes[t]
                pairs = []
                if env.quantity is None:
                    pairs.append((X[t].ravel(), X[t][sig][:, sw.decisions[t]].ravel()))   # x(σk, πa) = x(k, a)
                agent_perm = np.arange(N)
                agent_perm[[sw.i, sw.j]] = [sw.j, sw.i]
                pairs.append((P[t].ravel(), P[t][sig][:, agent_perm].ravel()))          # p_{σi}(σk) = p_i(k)
                for a, b in pairs:
                    keep = a < b
                    a, b = a[keep], b[keep]
                    m = a.size
                    if m:
                        r = np.arange(m)
                        sp.add_constraints("symmetry", m, np.concatenate([r, r]), np.concatenate([a, b]),
                                           np.concatenate([np.ones(m), -np.ones(m)]), 0.0, 0.0, period=t)
    sp.set_objective(np.zeros(sp.n_vars), "min")
    return sp, cmap


def _clone(sp: Program, bounds=None) -> Program:
    """A copy of ``sp`` (one column block, one row block) with ``bounds`` =
    (row_lower, row_upper, col_lower, col_upper) replacing its own; objective 0."""
    rl, ru, cl, cu = bounds if bounds is not None else (sp.row_lower, sp.row_upper, sp.col_lower, sp.col_upper)
    A = sp.matrix().tocoo()
    out = Program(name=sp.name, sense="min")
    out.add_variables("z", sp.n_vars, cl, cu)
    out.add_constraints("rows", sp.n_rows, A.row, A.col, A.data, rl, ru)
    out.set_objective(np.zeros(sp.n_vars), "min")
    return out


def _l1_program(sp: Program, pcols: np.ndarray, target: np.ndarray) -> Program:
    """min Σ|p − target| over ``sp``'s feasible set (t ≥ ±(p − target)); target 0 is the
    L1 norm, a QP's point its nearest feasible point in Σ|Δp|."""
    out = _clone(sp)
    n_p = pcols.size
    t = out.add_variables("abs_p", n_p, 0.0, np.inf).ravel()
    r = np.arange(n_p)
    for sgn, fam in ((1.0, "abs_upper"), (-1.0, "abs_lower")):
        out.add_constraints(fam, n_p, np.concatenate([r, r]), np.concatenate([t, pcols]),
                            np.concatenate([np.ones(n_p), -sgn * np.ones(n_p)]), -sgn * target, np.inf)
    cost = np.zeros(out.n_vars)
    cost[t] = 1.0
    out.set_objective(cost, "min")
    return out


def select(env, prog: Program, solution, mechanism, rules) -> tuple[object, Selection]:
    """Choose a mechanism on the optimal face of the revenue program ``prog`` (solved:
    ``solution``, decoded: ``mechanism``) by ``rules`` (:func:`parse_selection`).  Returns
    ``(mechanism, Selection)``; the given mechanism is kept when there is nothing to choose
    or a stage fails (the Selection says so)."""
    from dmd_opt.families.revenue.program import decode
    from dmd_opt.optim.solution import Solution

    rules = parse_selection(rules)
    R = float(prog.objective_value(solution.x))
    info = Selection(rules, "optimal", R)
    if not rules:
        info.chosen_by = "the solver (no selection)"
        info.objective_selected = R
        info.epsilon = 0.0
        return mechanism, info
    lay = prog.meta["layout"]
    tree = lay.tree
    scale = env.payoff_scale
    classes = symmetric_classes(env) if "symmetric" in rules else []
    x0 = solution.x
    X, P = _layout_blocks(env, lay)
    if prog.meta.get("fixed_allocation", False) and classes:
        # a fixed allocation that is not itself symmetric rules out equal treatment
        for s in _swaps(env, tree, classes):
            if not all(np.allclose(x0[X[t]][s.nodes[t]][:, s.decisions[t]], x0[X[t]], atol=1e-12)
                       for t in range(tree.T)):
                classes = []
                info.message = "the fixed allocation treats symmetric agents differently: no symmetry rows"
                break
    swaps = _swaps(env, tree, classes)
    info.symmetric_classes = [list(c) for c in classes]
    fixed_q = None
    if prog.q_diag is not None:
        fixed_q = _symmetrise_quantities([x0[x] for x in X], swaps, classes, env, tree)
    ir = next((r for r in rules if r in IR_RULES), None)
    norm = "min_square" if "min_square" in rules else "min_abs" if "min_abs" in rules else None
    stages = (["ir"] if ir else []) + ([norm] if norm else [])
    if not stages:                                # symmetric only: any symmetric optimum
        stages = ["feasibility"]
    pcols = np.concatenate([p.ravel() for p in P])
    face = optimal_face(prog, solution)
    attempts = ([("face", None)] if face is not None else []) + [("floor", e) for e in EPSILONS]
    bound = EPSILONS[-1] * scale                  # the largest objective loss accepted
    z = None
    deadline = time.perf_counter() + TIME_LIMIT
    for mode, eps in attempts:
        if time.perf_counter() >= deadline:
            info.message = (info.message + "; " if info.message else "") + \
                f"the selection's time limit ({TIME_LIMIT:g} s) was reached"
            break
        fc = face if mode == "face" else None
        floor = None if mode == "face" else R - eps * scale
        z = _run_stages(prog, env, lay, rules, stages, fc, floor, fixed_q, swaps, scale, info, mode, eps,
                        deadline)
        if z is not None and R - float(prog.objective_value(z)) <= bound:
            info.face = "complementary slackness with the optimum's duals" if mode == "face" else \
                "objective floor R* - epsilon"
            info.epsilon = bound if mode == "face" else eps * scale
            break
        z = None
    if z is None:
        info.status = "failed"
        last = info.stages[-1]["status"] if info.stages else "unsolved"
        info.message = (info.message + "; " if info.message else "") + \
            f"no selection stage sequence succeeded (last status {last}): the solver's vertex is kept"
        info.objective_selected = R
        info.chosen_by = "the solver (selection failed)"
        return mechanism, info
    mech = decode(env, prog, Solution("optimal", "selected", "highs", x=z))
    mech.name = f"{mech.name}, selected ({', '.join(rules)})"
    mech.meta["selection"] = list(rules)
    info.objective_selected = float(prog.objective_value(z))
    info.chosen_by = {"ir": ir, "feasibility": "symmetric"}.get(stages[-1], stages[-1])
    pz = z[pcols]
    if norm == "min_square":
        info.norm, info.norm_value = "sum of squared payments", float(pz @ pz)
    elif norm == "min_abs":
        info.norm, info.norm_value = "sum of absolute payments", float(np.abs(pz).sum())
    if ir is not None:
        viol = ir_violations(mech, flow=ir == "flow_ir")
        info.ir_rule = ir
        info.ir_violation_total = float(viol.sum())
        info.ir_violation_max = float(viol.max())
    return mech, info


def _run_stages(prog, env, lay, rules, stages, face, floor, fixed_q, swaps, scale, info, mode, eps,
                deadline: float):
    """The lexicographic stages on one description of the face; the selected point or None.

    After each LP stage its own optimal face replaces the feasible set, described exactly
    by complementary slackness with that stage's duals (:func:`optimal_face`), so no stage
    leaves a thin "objective ≤ optimum" row for the next."""
    from dmd_opt.solvers import solve
    tag = "face" if mode == "face" else eps * scale
    sp, cmap = _rule_program(prog, env, lay, rules, face, floor, fixed_q, swaps)
    n, pcols = prog.n_vars, cmap["p"]
    z = None
    for st in stages:
        if st == "min_square":
            # The least-squares QP: HiGHS' active-set QP solver on small programs (measured: 0.03 s
            # at 168 payments, 1 s at 1022, 10-20 s or its time limit at 1638), else — and
            # whenever HiGHS errs on a degenerate program — Clarabel (interior point, < 1 s there).  Its point is kept when it meets the rows
            # within 1e-11 × scale, else projected onto them by an LP at feasibility 1e-10
            # (the nearest point in Σ|Δp|).
            qp = _clone(sp)
            if "floor" in cmap:           # an interior-point method needs an interior
                row, f = cmap["floor"]
                qp.con_blocks[0].lo[row] -= f * 1e-7 * scale
            q = np.zeros(qp.n_vars)
            q[pcols] = 2.0                                                   # ½ Σ 2p² = Σ p²
            qp.set_objective(np.zeros(qp.n_vars), "min", q_diag=q)
            small = pcols.size <= HIGHS_QP_PAYMENTS
            qs = solve(qp, backend="highs", options={"time_limit": _left(deadline)}) if small else None
            if qs is None or qs.status not in ("optimal", "inaccurate"):
                qs = solve(qp, backend="clarabel", options={"time_limit": _left(deadline)})
            info.stages.append(_stage_record("min_square", tag, qs, qp))
            if qs.status not in ("optimal", "inaccurate"):
                return None
            if _violation(sp, qs.x) <= 1e-11 * scale:
                z = qs.x[:n]
                continue
            stage, lp = "project", _l1_program(sp, pcols, qs.x[pcols])
        elif st == "min_abs":
            stage, lp = st, _l1_program(sp, pcols, np.zeros(pcols.size))
        else:
            stage, lp = st, _clone(sp)
            if st == "ir":
                cost = np.zeros(lp.n_vars)
                cost[cmap["s"]] = 1.0
                lp.set_objective(cost, "min")
        sol = solve(lp, backend="highs", options={**STAGE_OPTIONS, "time_limit": _left(deadline)})
        info.stages.append(_stage_record(stage, tag, sol, lp))
        if sol.status != "optimal":
            return None
        z = sol.x[:n]
        if st == "ir":
            info.ir_minimum = float(sol.objective)
            fb = optimal_face(lp, sol)
            if fb is None:
                return None
            sp = _clone(sp, fb)
    return z


def _left(deadline: float) -> float:
    """Seconds left before the selection's deadline (a small positive floor: solvers refuse 0)."""
    return max(deadline - time.perf_counter(), 0.01)


def _violation(sp: Program, x: np.ndarray) -> float:
    """Largest violation of a program's rows and bounds at ``x``."""
    a = sp.matrix() @ x
    with np.errstate(invalid="ignore"):
        return float(max(np.max(sp.row_lower - a, initial=0.0), np.max(a - sp.row_upper, initial=0.0),
                         np.max(sp.col_lower - x, initial=0.0), np.max(x - sp.col_upper, initial=0.0)))


def _stage_record(stage, eps, sol, sp) -> dict:
    return {"stage": stage, "epsilon": eps, "status": sol.status, "objective": sol.objective,
            "rows": sp.n_rows, "columns": sp.n_vars, "seconds": sol.solve_seconds}


def apply_selection(result, rules, verify: bool = True, column_limit: int | None = None):
    """Replace an optimal RevenueResult's mechanism by the selected one (:func:`select`),
    verify it (the independent verifier) and record the Selection on ``result.selection``.
    Non-optimal results are returned unchanged.  With ``column_limit`` (the ``"default"``
    preset), a program with more columns keeps the solver's vertex (status ``skipped``)."""
    from dmd_opt.verify import verify as run_verify
    rules = parse_selection(rules)
    result.options["selection"] = ",".join(rules) if rules else "none"
    if result.mechanism is None or result.status != "optimal":
        return result
    t0 = time.perf_counter()
    n = result.program.n_vars
    if rules and column_limit is not None and n > column_limit:
        mech = result.mechanism
        info = Selection(rules, "skipped", result.objective, objective_selected=result.objective,
                         chosen_by="the solver (selection skipped)",
                         message=f"the default selection runs on programs of at most {column_limit:,} columns; "
                                 f"this one has {n:,}, so the solver's vertex is kept (name the rules, e.g. "
                                 f"selection = \"{','.join(rules)}\", to run it)")
    else:
        mech, info = select(result.env, result.program, result.solution, result.mechanism, rules)
    result.mechanism = mech
    result.selection = info
    t1 = time.perf_counter()
    if verify:     # the program's own notion: periodic ex-post IC programs are checked ex post
        ic = result.options.get("ic", "bayesian")
        result.verification = run_verify(mech, "periodic_expost" if ic == "expost" else "bayesian")
    result.timings["selection"] = t1 - t0
    result.timings["verify"] = time.perf_counter() - t1
    return result
