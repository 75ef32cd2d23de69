r"""Optimal static auctions through interim reduced forms (many bidders).

For a one-period ``allocate`` environment with independent bidders, the
designer's program over type *profiles* has :math:`\prod_i|\Theta_i|` columns per
decision.  With independent types everything that matters to a bidder — and to
the designer's expected revenue or welfare — is the *interim* rule

.. math::  Q_i(\theta_i) = E[x_i(\theta)\mid\theta_i],\qquad T_i(\theta_i) = E[p_i(\theta)\mid\theta_i],

:math:`2\sum_i|\Theta_i|` numbers (Myerson 1981; Border 1991).  The reduced-form
program is the LP

.. math::

    \max\ \sum_i\sum_{\theta}f_i(\theta)\big[w_R\,T_i(\theta)
        + \big(w_W\,v_i(\theta) - (w_R+w_W)\,c\big)Q_i(\theta)\big]

subject to

* ``"IC"`` (Bayesian incentive compatibility) :math:`v_i(\theta)Q_i(\theta)-T_i(\theta)
  \ge v_i(\theta)Q_i(\theta')-T_i(\theta')` — between adjacent values only when a
  bidder's values are distinct (adjacent constraints in both directions imply
  monotone :math:`Q_i` and all the others), between all pairs otherwise;
* ``"IR_interim"`` :math:`v_i(\theta)Q_i(\theta)-T_i(\theta)\ge0` (or ``"IR_ex_ante"``);
* ``"border"``: feasibility of :math:`Q` (:mod:`.border`), generated lazily —
  a separation oracle finds the most violated inequality, it is added to the
  warm-started LP, until every inequality holds to 1e-12;
* options: ``"reserve"`` (no sale below the reserve price r, and
  :math:`T_i(\theta)\ge rQ_i(\theta)`), ``"min_win"`` (a class of bidders wins with
  probability at least p), ``"payment_cap"`` (a bidder's expected payment at most b).

:math:`c` is the principal's cost per unit sold (the model's ``decisions.cost``),
:math:`(w_R, w_W)` the objective weights, :math:`k` identical units (``units``).

The optimal interim rule is *implemented* ex post by a lottery over priority
rules (:meth:`.border.Border.decompose`), whose interim allocation is computed
by products over bidders; see :mod:`.reduced_form_mechanism`.  Payments: a
winner of type :math:`\theta` pays :math:`T_i(\theta)/Q_i(\theta)` ("winner pays"), so
interim IR gives ex-post IR as well; or the interim payment :math:`T_i(\theta_i)`
is charged whatever happens (``payments = "interim"``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from dmd_opt.core import validation as V
from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import LimitError, ModelError
from dmd_opt.families.revenue.border import FEAS_TOL, Border, PriorityMixture
from dmd_opt.optim.program import Program

PARTICIPATION = ("interim", "ex_ante", "expost", "ex_post", "periodic", "none")
PAYMENTS = ("winner_pays", "interim")
#: The "auto" method switches to the reduced form above this many type profiles.
AUTO_PROFILES = 50_000
#: The ex-post mechanism is also checked with the profile verifier up to this many profiles.
EXPOST_CHECK_PROFILES = 20_000


# ---------------------------------------------------------------------------------------
# data and options
# ---------------------------------------------------------------------------------------
@dataclass
class AuctionData:
    """The interim view of a one-period allocate environment (pairs numbered bidder by bidder)."""

    env: Environment
    values: list[np.ndarray]
    probs: list[np.ndarray]
    cost: float
    units: int

    @property
    def N(self) -> int:
        return len(self.values)

    @property
    def border(self) -> Border:
        return Border(self.probs, self.units)

    @property
    def value(self) -> np.ndarray:
        return np.concatenate(self.values)

    @property
    def f(self) -> np.ndarray:
        return np.concatenate(self.probs)

    @property
    def offsets(self) -> np.ndarray:
        return np.r_[0, np.cumsum([v.size for v in self.values])[:-1]].astype(np.int64)

    @property
    def M(self) -> int:
        return int(sum(v.size for v in self.values))

    @property
    def n_profiles(self) -> float:
        return float(np.prod([v.size for v in self.values], dtype=float))


def auction_data(env: Environment, units: int = 1) -> AuctionData:
    """Check that ``env`` is a one-period single-good auction and read its interim data."""
    if not isinstance(env, Environment):
        raise ModelError("env", f"the reduced form needs an Environment with independent types, "
                                f"got {type(env).__name__}")
    if not env.independent:
        raise ModelError("joint_initial", "the reduced form needs independent types (with correlated types "
                                          "interim rules do not determine the revenue); use method 'full'")
    if env.horizon != 1:
        raise ModelError("horizon", "the reduced form is for one-period (static) auctions; use method 'full' "
                                    "or 'cg' for dynamic models")
    if env.quantity is not None:
        raise ModelError("decisions.kind", "the reduced form needs decisions.kind = 'allocate' (an indivisible good)")
    N = env.n_agents
    labels = env.decisions(0)
    expected = ("keep",) + tuple(f"sell to agent {i + 1}" for i in range(N))
    if tuple(labels) != expected:
        raise ModelError("decisions.kind", "the reduced form needs decisions.kind = 'allocate' with the good "
                                           "on sale in the period")
    units = V.integer(units, "units", lo=1)
    sizes = [env.n_types(i, 0) for i in range(N)]
    _check_separation_size(N, sum(sizes), max(sizes, default=0), units)
    cost = env.cost(0)
    if any(c != cost[1] for c in cost[1:]) or cost[0] != 0:
        raise ModelError("decisions.cost", "the reduced form needs the same cost for every sale and none for keeping")
    # arrays keep their dtype: object (rationals) when a certificate check rebuilds the program exactly
    values = [np.asarray(env.type_values(i, 0)) for i in range(N)]
    for i in range(N):
        u = env.utility(i, 0)
        if not (np.array_equal(u[i + 1], values[i]) and not np.any(np.delete(u, i + 1, axis=0))):
            raise ModelError(f"agents[{i}]", "the reduced form needs private values: u = value if served, else 0")
    return AuctionData(env, values, [np.asarray(env.agents[i].initial) for i in range(N)],
                       cost[1] if N else 0.0, units)


def _check_separation_size(N: int, M: int, longest: int, units: int) -> None:
    """Refuse, before the first round, a separation whose arrays would not fit: each round builds
    (M + 1) × N arrays along the λ-path (M bidder types), and with 1 < k < N units the truncated
    Poisson-binomial laws (M + 1) × (N + 1) × k, twice (:mod:`.border`); a chain of Border
    sets is a boolean mask of (longest type list + 1) × M."""
    from dmd_opt.core.limits import check_dense
    check_dense("agents", (M + 1, N), copies=4, what=f"the Border separation over {M} bidder types and {N} bidders "
                "would take", alternative="use fewer bidders or types")
    check_dense("agents", (longest + 2, M), itemsize=1, copies=3, what=f"the Border chains' set masks ({longest + 2} "
                f"sets of {M} bidder types) would take", alternative="use fewer types")
    if 1 < units < N:
        check_dense("units", (M + 1, N + 1, units), copies=2, what=f"the Border separation with {units} units "
                    f"({M} bidder types, {N} bidders) would take", alternative="use fewer units, bidders or types")


@dataclass
class Extra:
    """Validated extra constraints on interim rules (see module docstring)."""

    reserve: float | None = None
    min_win: list[tuple[np.ndarray, float]] = field(default_factory=list)
    payment_cap: list[tuple[int, float]] = field(default_factory=list)


def parse_constraints(spec: Any, N: int, reserve: Any = None) -> Extra:
    """``constraints``: a list of tables ``{kind = "min_win", bidders = [1, 3], probability = 0.4}``
    or ``{kind = "payment_cap", bidder = 2, max = 1.5}`` (bidders numbered from 1)."""
    out = Extra()
    if reserve is not None:
        out.reserve = V.real(reserve, "reserve")
    if spec is None:
        return out
    items = V.sequence(spec, "constraints", nonempty=False)
    if len(items) > 10_000:
        raise ModelError("constraints", "more than 10,000 extra constraints")
    for k, c in enumerate(items):
        fld = f"constraints[{k}]"
        if not isinstance(c, dict):
            raise ModelError(fld, "expected a table with a 'kind'")
        kind = V.choice(c.get("kind"), f"{fld}.kind", ("min_win", "payment_cap"))
        if kind == "min_win":
            V.mapping(c, fld, required=("kind", "bidders", "probability"))
            bs = V.sequence(c["bidders"], f"{fld}.bidders")
            idx = np.array([V.integer(b, f"{fld}.bidders[{j}]", lo=1) for j, b in enumerate(bs)]) - 1
            if np.any(idx >= N):
                raise ModelError(f"{fld}.bidders", f"bidders are numbered 1..{N}")
            out.min_win.append((np.unique(idx), V.real(c["probability"], f"{fld}.probability", lo=0, hi=1)))
        else:
            V.mapping(c, fld, required=("kind", "bidder", "max"))
            b = V.integer(c["bidder"], f"{fld}.bidder", lo=1) - 1
            if b >= N:
                raise ModelError(f"{fld}.bidder", f"bidders are numbered 1..{N}")
            out.payment_cap.append((b, V.real(c["max"], f"{fld}.max")))
    return out


def _weights(objective) -> tuple[float, float]:
    from dmd_opt.families.revenue.program import _objective_weights
    return _objective_weights(objective)


# ---------------------------------------------------------------------------------------
# the program
# ---------------------------------------------------------------------------------------
def reduced_form_program(env: Environment, participation: str = "interim", objective: Any = "revenue",
                         units: int = 1, reserve: Any = None, constraints: Any = None, ic: str = "auto",
                         border_chains: Any = None, pool: int = 0, **_ignored) -> Program:
    r"""The reduced-form LP (module docstring) with the Border rows of ``border_chains``.

    Border rows come in *chains* of nested sets :math:`S_1\subset S_2\subset\cdots`,
    written sparsely with running sums :math:`B_j = B_{j-1} + \sum_{e\in S_j\setminus S_{j-1}} f_eQ_e`
    (``"border"`` rows, = 0) and the inequality as the column bound :math:`B_j\le g(S_j)`:
    :math:`O(\sum_i|\Theta_i|)` nonzeros per chain instead of one dense row per set.
    ``border_chains``: one list per chain giving, for every (bidder, type) pair in
    pair order, the position of the first set of the chain that holds it (−1: none)
    — as recorded in certificates.  ``pool`` extra ``B`` columns (held at 0) are
    left for the lazy loop.  ``ic``: ``"auto"`` (adjacent rows where a bidder's
    values are distinct), ``"adjacent"`` or ``"full"``.
    """
    data = auction_data(env, units)
    V.choice(participation, "participation", PARTICIPATION)
    V.choice(ic, "ic", ("auto", "adjacent", "full"))
    w_rev, w_wel = _weights(objective)
    extra = parse_constraints(constraints, data.N, reserve)
    M, off, f, v = data.M, data.offsets, data.f, data.value
    prog = Program(name=f"reduced form[{env.name}]", sense="max")
    ub = np.ones(M)
    if extra.reserve is not None:
        ub[v < extra.reserve] = 0.0
    chains = [] if border_chains is None else parse_chains(border_chains, M)
    border = data.border
    caps = [border.rhs(chain_masks(c)) for c in chains]
    n_b = int(sum(c.size for c in caps))
    qcols = prog.add_variables("Q", M, lb=0.0, ub=ub, description="interim probability of a unit, by (bidder, type)")
    tcols = prog.add_variables("T", M, description="interim expected payment, by (bidder, type)")
    bub = np.r_[np.concatenate(caps) if caps else np.zeros(0), np.full(int(pool), np.inf)]
    prog.add_variables("B", n_b + int(pool), lb=0.0, ub=bub,
                       description="running sums Σ f·Q over the nested sets of each Border chain")
    Q0, T0, B0 = int(qcols[0]), int(tcols[0]), prog.block("B").offset
    for i in range(data.N):
        _ic_rows(prog, data, i, Q0, T0, ic)
    _participation_rows(prog, data, participation, Q0, T0)
    _extra_rows(prog, data, extra, Q0, T0)
    b = B0
    for c in chains:
        rows, cols, vals, L = chain_rows(border, c, Q0, b)
        prog.add_constraints("border", L, rows, cols, vals, 0.0, 0.0, period=0, history=0)
        b += L
    c = np.zeros(prog.n_vars, f.dtype)
    c[T0:T0 + M] = w_rev * f
    c[Q0:Q0 + M] = f * (w_wel * v - (w_rev + w_wel) * data.cost)
    prog.set_objective(c, "max")
    prog.meta.update({"program": "reduced_form", "participation": participation,
                      "objective": {"revenue": w_rev, "welfare": w_wel}, "units": data.units,
                      "payoff_scale": env.payoff_scale, "horizon": 1, "offsets": off,
                      "type_values": [[vals] for vals in data.values]})
    return prog


def _ic_rows(prog: Program, data: AuctionData, i: int, Q0: int, T0: int, ic: str) -> None:
    """IC rows of bidder i: U(θ) ≥ v(θ)Q(r) − T(r) for the chosen (θ, r) pairs."""
    v = data.values[i]
    n = v.size
    if n < 2:
        return
    order = np.argsort(v, kind="stable")
    distinct = np.all(np.diff(v[order]) > 0)
    if ic == "full" or (ic == "auto" and not distinct):
        th, r = np.nonzero(~np.eye(n, dtype=bool))
    else:
        lo, hi = order[:-1], order[1:]
        th, r = np.r_[lo, hi], np.r_[hi, lo]                 # down then up
    m = th.size
    base = data.offsets[i]
    rows = np.repeat(np.arange(m), 4)
    cols = np.stack([Q0 + base + th, T0 + base + th, Q0 + base + r, T0 + base + r], axis=1).ravel()
    vals = np.stack([v[th], -np.ones(m), -v[th], np.ones(m)], axis=1).ravel()
    prog.add_constraints("IC", m, rows, cols, vals, 0.0, np.inf, agent=i, period=0, history=0,
                         true_type=th, report=r)


def _participation_rows(prog: Program, data: AuctionData, participation: str, Q0: int, T0: int) -> None:
    v, f = data.value, data.f
    for i in range(data.N):
        base, n = data.offsets[i], data.values[i].size
        e = base + np.arange(n)
        if participation in ("interim", "expost", "ex_post", "periodic"):
            rows = np.repeat(np.arange(n), 2)
            cols = np.stack([Q0 + e, T0 + e], axis=1).ravel()
            vals = np.stack([v[e], -np.ones(n)], axis=1).ravel()
            prog.add_constraints("IR_interim", n, rows, cols, vals, 0.0, np.inf, agent=i, period=0, history=0,
                                 true_type=np.arange(n))
        elif participation == "ex_ante":
            prog.add_constraints("IR_ex_ante", 1, np.zeros(2 * n), np.r_[Q0 + e, T0 + e],
                                 np.r_[f[e] * v[e], -f[e]], 0.0, np.inf, agent=i, period=0, history=0)


def _extra_rows(prog: Program, data: AuctionData, extra: Extra, Q0: int, T0: int) -> None:
    M, f, v = data.M, data.f, data.value
    if extra.reserve is not None:
        e = np.nonzero(v >= extra.reserve)[0]
        rows = np.repeat(np.arange(e.size), 2)
        cols = np.stack([T0 + e, Q0 + e], axis=1).ravel()
        vals = np.stack([np.ones(e.size), -extra.reserve * np.ones(e.size)], axis=1).ravel()
        bid = np.searchsorted(data.offsets, e, side="right") - 1
        prog.add_constraints("reserve", e.size, rows, cols, vals, 0.0, np.inf, agent=bid, period=0, history=0,
                             true_type=e - data.offsets[bid])
    bidder = np.repeat(np.arange(data.N), [x.size for x in data.values])
    for bs, p in extra.min_win:
        e = np.nonzero(np.isin(bidder, bs))[0]
        prog.add_constraints("min_win", 1, np.zeros(e.size), Q0 + e, f[e], p, np.inf, period=0, history=0)
    for b, cap in extra.payment_cap:
        e = np.nonzero(bidder == b)[0]
        prog.add_constraints("payment_cap", 1, np.zeros(e.size), T0 + e, f[e], -np.inf, cap, agent=b,
                             period=0, history=0)


def parse_chains(spec: Any, M: int) -> list[np.ndarray]:
    """Validate recorded Border chains (per chain: first-set position of every pair, −1 none)."""
    chains = V.sequence(spec, "border_chains", nonempty=False)
    if len(chains) * M > 50_000_000:
        raise ModelError("border_chains", "too many recorded Border chains for this model")
    out = []
    for r, c in enumerate(chains):
        fld = f"border_chains[{r}]"
        seq = V.sequence(c, fld, nonempty=False)
        if len(seq) != M or not all(isinstance(x, int) and not isinstance(x, bool) for x in seq):
            raise ModelError(fld, f"expected {M} integers (one per bidder type)")
        a = np.asarray(seq, np.int64)
        if a.size and (a.min() < -1 or a.max() > M):
            raise ModelError(fld, "positions must lie in -1 … number of types")
        out.append(normalise_chain(a))
    return out


def normalise_chain(first: np.ndarray) -> np.ndarray:
    """Positions renumbered 0, 1, … without gaps (−1 kept): one set per distinct position."""
    first = np.asarray(first, np.int64)
    out = np.full(first.size, -1, np.int64)
    on = first >= 0
    out[on] = np.unique(first[on], return_inverse=True)[1]
    return out


def chain_masks(first: np.ndarray) -> np.ndarray:
    """(L, M) nested sets of a chain given by each pair's first position (−1: in none)."""
    L = int(first.max()) + 1 if first.size else 0
    return (first[None, :] >= 0) & (first[None, :] <= np.arange(L)[:, None])


def chain_of(masks: np.ndarray) -> np.ndarray:
    """The first-position encoding of nested sets (L, M) (smallest first)."""
    masks = np.atleast_2d(masks)
    first = np.where(masks.any(axis=0), np.argmax(masks, axis=0), -1)
    return first.astype(np.int64)


def chain_rows(border: Border, first: np.ndarray, Q0: int, B0: int):
    """COO triplets (rows, cols, values) and row count of the rows
    B_j − B_{j−1} − Σ_{e first in set j} f_e Q_e = 0 of one chain (B columns from B0)."""
    L = int(first.max()) + 1 if first.size else 0
    e = np.nonzero(first >= 0)[0]
    j = np.arange(L)
    rows = np.r_[j, j[1:], first[e]]
    cols = np.r_[B0 + j, B0 + j[:-1], Q0 + e]
    vals = np.concatenate([np.ones(L), -np.ones(max(L - 1, 0)), -border.f[e]])
    return rows, cols, vals, L


# ---------------------------------------------------------------------------------------
# lazy constraint generation
# ---------------------------------------------------------------------------------------
def seed_chain(data: AuctionData, objective: Any, reserve: Any = None) -> np.ndarray:
    r"""A first Border chain: the prefixes of the pairs sorted by weighted virtual value.

    Without Border's inequalities the LP would serve every type with positive
    virtual surplus; the optimum of the unconstrained-by-others problem is the
    priority rule by Myerson's (ironed) virtual values :math:`\phi`, whose tight
    sets are these prefixes.  Ranking by :math:`w_R\phi + w_W v` (not ironed) gets
    most of them right; the lazy loop adds what is missing.
    """
    w_rev, w_wel = _weights(objective)
    score = np.empty(data.M)
    for i, (v, f) in enumerate(zip(data.values, data.probs)):
        o = np.argsort(v, kind="stable")
        vs, fs = v[o], f[o]
        above = 1.0 - np.cumsum(fs)                            # Pr[θ > θ_k]
        nxt = np.r_[vs[1:], vs[-1]]
        with np.errstate(divide="ignore", invalid="ignore"):
            phi = np.where(fs > 0, vs - (nxt - vs) * above / np.where(fs > 0, fs, 1.0), vs)
        sc = w_rev * phi + w_wel * vs - (w_rev + w_wel) * data.cost
        score[data.offsets[i] + o] = sc
    keep = score > 0
    if reserve is not None:
        keep &= data.value >= float(reserve)
    order = np.argsort(-score, kind="stable")
    first = np.full(data.M, -1, np.int64)
    order = order[keep[order]]
    first[order] = np.arange(order.size)
    return first


class _Resolves:
    """The lazy loop on another backend: every round rebuilds the program with the chains so far
    and solves it from scratch (no warm start; for cross-checking backends)."""

    def __init__(self, build, chains: list, backend: str, solver, options):
        self.build, self.chains = build, list(chains)
        self.backend, self.solver, self.options = backend, solver, options
        self.session = None
        self.prog = build(self.chains)

    def room(self) -> int:
        return 1 << 62

    def add_chain(self, first: np.ndarray) -> None:
        self.chains.append(normalise_chain(first))
        self.prog = self.build(self.chains)

    def solve(self):
        from dmd_opt.solvers import solve
        return solve(self.prog, backend=self.backend, solver=self.solver, options=self.options)


class _Rounds:
    """The lazily grown LP on a solver session: Border chains enter as new rows and B columns."""

    def __init__(self, prog: Program, data: AuctionData, options: dict | None, used: int = 0):
        from dmd_opt.solvers.session import Session
        # keep coefficients f·Q of rare types (HiGHS drops |a| < 1e-9 by default)
        # Border rows must hold to 1e-12: HiGHS' default primal tolerance (1e-7) would leave
        # violations of 1e-8 in the running sums, so ask for its tightest
        options = {"small_matrix_value": 1e-12, "primal_feasibility_tolerance": 1e-10,
                   "dual_feasibility_tolerance": 1e-10, **(options or {})}
        self.prog = prog
        self.data = data
        self.Q0 = prog.block("Q").offset
        self.B0 = prog.block("B").offset
        self.pool = prog.block("B").size
        self.used = used                       # B columns in use (the first chains')
        loaded = np.ones(prog.n_vars, bool)
        loaded[self.B0 + used:] = False
        self.session = Session(prog, options=options, columns=loaded)

    def room(self) -> int:
        return self.pool - self.used

    def add_chain(self, first: np.ndarray) -> None:
        border = self.data.border
        first = normalise_chain(first)
        caps = border.rhs(chain_masks(first))
        cols = self.B0 + self.used + np.arange(caps.size)
        rows, cc, vals, L = chain_rows(border, first, self.Q0, self.B0 + self.used)
        A = sp.csr_matrix((vals, (rows, cc)), shape=(L, self.prog.n_vars))
        self.session.change_col_bounds(cols, 0.0, caps)
        self.session.add_rows(A, 0.0, 0.0)
        self.session.add_columns(cols)
        self.used += caps.size

    def solve(self):
        return self.session.solve()


def solve_reduced_form(env: Environment, participation: str = "interim", objective: Any = "revenue",
                       units: int = 1, reserve: Any = None, constraints: Any = None, ic: str = "auto",
                       payments: str = "winner_pays", options: dict | None = None, verify: bool = True,
                       max_rounds: int = 200, tol: float = FEAS_TOL, method_note: str = "",
                       seed: bool = True, backend: str = "highs", solver: str | None = None,
                       **_ignored) -> "ReducedFormResult":
    """Solve the reduced-form program with lazily generated Border rows; implement and check it.

    Each round solves the LP warm (a solver session), finds the most violated
    Border inequalities of its interim rule (:meth:`.border.Border.candidates`:
    every violated set along the separation path, a nested chain) and adds them,
    until the largest violation is at most ``tol`` (1e-12).  Returns a
    :class:`ReducedFormResult`: the final LP (with the Border rows that were
    generated) and its solution, the interim rule, the ex-post mechanism and the
    checks (interim error of the implementation, IC/IR regrets, and for small
    sizes the profile verifier).

    >>> from dmd_opt.core.environment import Environment
    >>> env = Environment.from_dict({"agents": [{"types": [1, 2], "initial": [0.5, 0.5]}] * 2,
    ...                              "decisions": {"kind": "allocate"}})
    >>> r = solve_reduced_form(env)    # Myerson: sell at 2 to either bidder with value 2
    >>> round(r.objective, 9), r.verification.passed()
    (1.5, True)
    """
    V.choice(payments, "payments", PAYMENTS)
    t0 = time.perf_counter()
    data = auction_data(env, units)
    border = data.border
    first_chain = seed_chain(data, objective, reserve) if seed else None
    chains: list[np.ndarray] = [] if first_chain is None or first_chain.max() < 0 else [normalise_chain(first_chain)]
    base_rows = sum(int(c.max()) + 1 for c in chains)
    pool = base_rows + 40 * data.M + 64
    if backend in (None, "highs"):
        prog = reduced_form_program(env, participation, objective, units, reserve, constraints, ic,
                                    border_chains=[c.tolist() for c in chains], pool=pool - base_rows)
        rounds = _Rounds(prog, data, options, used=base_rows)
    else:
        rounds = _Resolves(lambda ch: reduced_form_program(env, participation, objective, units, reserve,
                                                           constraints, ic, border_chains=[c.tolist() for c in ch]),
                           chains, backend, solver, options)
        prog = rounds.prog
    Q0 = prog.block("Q").offset
    t1 = time.perf_counter()
    history = []
    sol = None
    known = {np.packbits(m).tobytes() for c in chains for m in chain_masks(c)}
    for rnd in range(max_rounds):
        sol = rounds.solve()
        if sol.status != "optimal" or sol.x is None:
            break
        Q = np.clip(sol.x[Q0:Q0 + data.M], 0.0, 1.0)
        found, worst = border.violated_chains(Q, tol)
        new = []
        for c in found:                        # only sets the LP does not hold yet
            masks = chain_masks(normalise_chain(c))
            keys = [np.packbits(m).tobytes() for m in masks]
            fresh = np.array([k not in known for k in keys])
            if fresh.any():
                known.update(keys)
                new.append(chain_of(masks[fresh]))
        history.append({"round": rnd + 1, "max_violation": max(worst, 0.0),
                        "sets_added": int(sum(int(c.max()) + 1 for c in new)), "objective": sol.objective})
        if not new:
            # every violated set is in the LP already: what is left is the solver's round-off
            break
        for c in new:
            if rounds.room() < int(c.max()) + 1:
                raise ModelError("max_rounds", "the Border rows outgrew their pool; raise max_rounds or report this")
            rounds.add_chain(c)
            chains.append(normalise_chain(c))
    t2 = time.perf_counter()
    opts = {"participation": participation, "objective": objective, "units": data.units, "reserve": reserve,
            "constraints": constraints, "method": "reduced_form", "payments": payments,
            "border_chains": [c.tolist() for c in chains]}
    if ic != "auto":
        opts["ic_rows"] = ic
    final = reduced_form_program(env, participation, objective, units, reserve, constraints, ic,
                                 border_chains=opts["border_chains"])
    status = sol.status if sol is not None else "error"
    if status == "optimal" and history and history[-1]["max_violation"] > max(tol, 1e-8):
        status = "iteration_limit"
    mech = check = None
    if status == "optimal":
        sol = _final_solution(final, sol, rounds, options)
        from dmd_opt.families.revenue.reduced_form_mechanism import ReducedFormMechanism
        x = sol.x
        Q = np.clip(x[Q0:Q0 + data.M], 0.0, 1.0)
        T = x[final.block("T").offset:final.block("T").offset + data.M]
        t3 = time.perf_counter()
        mix = border.decompose(Q, values=data.value)
        mech = ReducedFormMechanism(data, Q, T, mix, payments=payments, participation=participation)
        t4 = time.perf_counter()
        if verify:
            check = mech.verify(notion="interim", profile_limit=EXPOST_CHECK_PROFILES)
        t5 = time.perf_counter()
        opts["implementation"] = mech.implementation_record()
    else:
        t3 = t4 = t5 = time.perf_counter()
    timings = {"build": t1 - t0, "border_rounds": t2 - t1, "implement": t4 - t3, "verify": t5 - t4,
               "total": time.perf_counter() - t0}
    return ReducedFormResult(status, sol.solver_status if sol is not None else "",
                             sol.objective if status == "optimal" else None, env, data, final, sol, mech, check,
                             opts, timings, history, method_note)


def _final_solution(final: Program, sol, rounds: _Rounds, options):
    """The session's solution in the final program's columns (Q, T, the B columns used), with its basis."""
    from dmd_opt.optim.solution import Solution
    n = final.n_vars
    if rounds.session is None:           # another backend: its last program is the final one
        return sol
    b = rounds.session.basis()
    if b is None or sol.row_dual is None or sol.row_dual.size != final.n_rows:
        from dmd_opt.solvers import solve
        return solve(final, backend="highs", basis=True, options=options)
    keep = slice(0, n)
    basis = {"col_status": b["col_status"][keep].copy(), "row_status": b["row_status"].copy()}
    return Solution(sol.status, sol.solver_status, sol.backend, sol.objective, sol.x[keep].copy(),
                    sol.row_activity, sol.row_dual, None if sol.col_dual is None else sol.col_dual[keep].copy(),
                    basis, sol.dual_ray, sol.solve_seconds, sol.build_seconds, dict(sol.info))


# ---------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------
@dataclass
class ReducedFormResult:
    """Result of :func:`solve_reduced_form` (same interface as the other solve results)."""

    status: str
    solver_status: str
    objective: float | None
    env: Environment
    data: AuctionData
    program: Program
    solution: Any
    mechanism: Any
    verification: Any
    options: dict
    timings: dict = field(default_factory=dict)
    rounds: list = field(default_factory=list)
    method_note: str = ""

    method = "reduced_form"

    @property
    def revenue(self) -> float | None:
        return None if self.mechanism is None else self.mechanism.revenue()

    @property
    def welfare(self) -> float | None:
        return None if self.mechanism is None else self.mechanism.welfare()

    @property
    def border_rows(self) -> int:
        """Number of Border inequalities in the final program (sets over all chains)."""
        return int(self.program.block("B").size)

    def audit(self, **kw):
        from dmd_opt.audit.binding import audit
        return audit(self.program, self.solution, **kw)

    def certificate(self, path=None, model=None):
        """The certificate: the final LP (with its Border rows) and the implementation proving feasibility."""
        from dmd_opt import certificates
        opts = {k: v for k, v in self.options.items() if v is not None}
        if path is not None:
            return certificates.write_certificate(path, self.program, self.solution, model=model, options=opts)
        return certificates.make_certificate(self.program, self.solution, model=model, options=opts)

    def verification_dict(self, tol: float = 1e-7) -> dict | None:
        """The record's ``verification``: the interim checks of the implementation (and the
        profile verifier where profiles were enumerated), verdict at relative tolerance ``tol``."""
        ver = self.verification
        if ver is None:
            return None
        from dmd_opt.core.record import verification_record
        details = {k: v for k, v in ver.to_dict().items() if k not in ("max_regret", "scale", "passed")}
        regret = ver.max_regret if ver.expost is None else max(ver.max_regret, ver.expost.max_regret)
        return verification_record(regret, ver.passed(tol=tol), notion="interim", tolerance=tol, scale=ver.scale,
                                   participation=self.options.get("participation"), **details)

    def to_dict(self) -> dict:
        """The result record (``docs/result.schema.json``) of kind ``revenue``, method ``reduced_form``."""
        from dmd_opt.core.record import result_record
        opts = {k: v for k, v in self.options.items() if k not in ("border_chains", "implementation")}
        d = {"solver_status": self.solver_status, "revenue": self.revenue, "welfare": self.welfare,
             "method": "reduced_form", "method_note": self.method_note,
             "program": self.program.summary(), "timings": self.timings,
             "border": {"rounds": len(self.rounds), "inequalities": self.border_rows,
                        "max_violation": self.rounds[-1]["max_violation"] if self.rounds else None},
             "environment": {"name": self.env.name, "agents": self.env.n_agents, "horizon": 1,
                             "profiles": self.data.n_profiles, "units": self.data.units}}
        if self.mechanism is not None:
            d["rents_by_initial_type"] = [r.tolist() for r in self.mechanism.rents()]
            d["economics"] = self.economics().to_dict()
        return result_record("revenue", self.status, self.objective, verification=self.verification_dict(),
                             mechanism=None if self.mechanism is None else self.mechanism.to_dict(),
                             options=opts, model={"name": self.env.name},
                             message="" if self.status == "optimal" else f"solver status: {self.solver_status}",
                             **d)

    def summary(self) -> list[str]:
        d = self.data
        lines = [f"model: {self.env.name}  (N={d.N} bidders, {d.M} types in all, {d.n_profiles:.4g} type profiles, "
                 f"{d.units} unit{'s' if d.units > 1 else ''})",
                 f"method: reduced form (interim rules, lazily generated Border rows)"
                 + (f" — {self.method_note}" if self.method_note else ""),
                 f"program: {self.program.n_rows} rows × {self.program.n_vars} columns "
                 f"({self.border_rows} Border rows from {len(self.rounds)} rounds)",
                 f"status: {self.status} ({self.solver_status})"]
        if self.mechanism is None:
            return lines
        lines += [f"objective: {self.objective:.10g}", f"expected revenue: {self.revenue:.10g}",
                  f"expected welfare: {self.welfare:.10g}"]
        m = self.mechanism
        lines.append(f"implementation: lottery over {len(m.mixture.ranks)} priority rule"
                     f"{'s' if len(m.mixture.ranks) != 1 else ''}; payments: {m.payments.replace('_', ' ')}")
        lines += self.economics().summary_lines()
        if self.verification is not None:
            lines += self.verification.summary_lines()
        return lines

    def economics(self):
        """Virtual values and ironing of every bidder and the interim reduced forms (one period:
        no dynamic part) — :class:`~dmd_opt.families.revenue.economics.Economics`."""
        if getattr(self, "_economics", None) is None:
            from dmd_opt.families.revenue.economics import Economics
            from dmd_opt.families.revenue.interim import interim_reduced_forms
            from dmd_opt.families.revenue.virtual_values import static_virtual_values
            self._economics = Economics(static_virtual_values(self.env), None, "one period: the static virtual "
                                        "values say it all", None,
                                        [] if self.mechanism is None else interim_reduced_forms(self.mechanism))
        return self._economics


def profile_count(env: Environment) -> float:
    return float(np.prod([env.n_types(i, 0) for i in range(env.n_agents)], dtype=float))


def _why_not(env: Environment, participation: str, fixed_allocation, budget_balance, backend) -> str | None:
    """Why the reduced form cannot solve this model (None when it can)."""
    if fixed_allocation is not None or budget_balance:
        return "fixed allocations and budget balance need the profile program"
    if participation not in PARTICIPATION:
        return f"participation {participation!r} is not one the reduced form knows"
    try:
        auction_data(env)
    except LimitError:
        raise                  # it can, but the model is too large: say that, not "cannot"
    except ModelError as exc:
        return str(exc)
    return None


def choose_method(env, method: str, *, participation: str, fixed_allocation=None, budget_balance: bool = False,
                  disclosure: str = "public", backend: str | None = "highs", units: int = 1, reserve=None,
                  constraints=None, payments: str = "winner_pays", ic: str = "bayesian",
                  money: bool = True) -> tuple[str, str]:
    """Resolve ``method`` (``auto | full | cg | reduced_form``) for a revenue model: (method, note).

    ``auto`` takes the reduced form for a one-period allocate auction with more than
    :data:`AUTO_PROFILES` type profiles (or when a reduced-form-only option is set),
    the profile program otherwise; the note says why.
    """
    V.choice(method, "method", ("auto", "full", "cg", "reduced_form"))
    rf_only = [k for k, v, d in (("units", units, 1), ("reserve", reserve, None), ("constraints", constraints, None),
                                 ("payments", payments, "winner_pays")) if v != d and v is not None]
    is_env = isinstance(env, Environment)
    why = _why_not(env, participation, fixed_allocation, budget_balance, backend) if is_env else "not an Environment"
    if why is None and ic != "bayesian":
        why = ("ex-post (dominant-strategy) IC is not imposed on interim rules; the reduced form is "
               "Bayesian IC (use method 'full')")
    if why is None and not money:
        why = "allocation without money (money = false) needs the profile program"
    if method == "reduced_form":
        if why:
            raise ModelError("method", f"the reduced form cannot solve this model: {why}")
        return method, ""
    if rf_only:
        if method in ("full", "cg"):
            raise ModelError(rf_only[0], f"is an option of method 'reduced_form' (one-period auctions), "
                                         f"not of method {method!r}")
        if why:
            raise ModelError(rf_only[0], f"needs the reduced form, which cannot solve this model: {why}")
        return "reduced_form", f"chosen automatically: option {rf_only[0]!r} needs it"
    if method == "auto":
        if why is None and env.n_agents >= 2 and profile_count(env) > AUTO_PROFILES:
            return "reduced_form", (f"chosen automatically: {profile_count(env):,.0f} type profiles > "
                                    f"{AUTO_PROFILES:,} (the profile program would be too large)")
        return "full", ""
    return method, ""


def program_for_certificate(env: Environment, **o) -> Program:
    """Rebuild the final reduced-form LP from certificate options, with the feasibility proof attached.

    ``o`` holds the program options and the recorded ``border_chains``; the
    recorded ``implementation`` (a lottery over priority rules) becomes
    ``program.meta["certify"]``: a function of the certified optimum that proves
    the interim rule feasible — every Border inequality, not only the generated
    ones — by reproducing it exactly with the recorded ex-post rule
    (:func:`dmd_opt.families.revenue.reduced_form_proof.check_implementation`).
    """
    keys = ("participation", "objective", "units", "reserve", "constraints")
    prog = reduced_form_program(env, border_chains=o.get("border_chains"), ic=o.get("ic_rows", "auto"),
                                **{k: o[k] for k in keys if k in o})
    impl = o.get("implementation")
    if impl is not None:
        from dmd_opt.families.revenue.reduced_form_proof import certify_hook
        data = auction_data(env, o.get("units", 1))
        prog.meta["certify"] = certify_hook(data, impl, prog.block("Q").offset)
    else:       # without it the LP is a relaxation (the generated Border rows only): never "optimal"
        prog.meta["certify"] = lambda x_exact, x_float: {
            "ok": False, "exact": False, "message": "no implementation recorded: the LP holds only the generated "
            "Border rows, so its optimum is a relaxation's until the interim rule is shown feasible"}
    return prog
