r"""Bayesian and ex-post verifier on the joint profile process.

For rules on the public history tree (finite horizon; ``form = "tree"``, or ``"markov"``
expanded onto the tree) or stationary Markov rules (``form = "markov"``, infinite horizon)
— see :mod:`dmd_opt.mechanisms.base` — and every agent :math:`i` (others truthful),
this module computes by dynamic programming:

* **Bayesian IC** — the value :math:`U_i` of i's best reporting strategy against the
  value :math:`V_i` of truth-telling, at every information state
  :math:`(h, \theta_{i,t-1}, \theta_{i,t})`: the public history :math:`h` of reports,
  i's *true* previous type (it matters after a lie: it drives the next type, and with
  correlated types the belief) and i's current type,

  .. math::

      U_t(h,p,\theta) = \max_r \sum_c b(c\mid h,p,\theta)\Big[u_i(x(h,r,c),\theta) - p_i(h,r,c)
          + \delta \sum_{\theta'} q(\theta'\mid (h,r,c), \theta)\, U_{t+1}((h,r,c),\theta,\theta')\Big],

  where :math:`b` is i's belief about the others' current types ``c`` (from the joint
  kernel :math:`\mu(\cdot \mid (p, r_{-i,t-1}), a_{t-1})`) and :math:`q` the law of i's next
  type given its true type and the others' reports.  Reported: max regret
  :math:`U - V` over all states, over states reached under truth-telling, ex ante.
* **Within-period ex-post IC** (on path) and **periodic ex-post IC** (every history):
  the same recursion with the report chosen *after* seeing the others' current reports,
  :math:`U^{ep}_t(h,c,\theta) = \max_r [\dots]` (Bergemann–Välimäki 2010 §3: truth-telling
  is a best response for every realisation of the current types).  Regret
  :math:`U^{ep} - V^{ep}` at every (history, others' current types, own type).
* **Budget**: the largest per-node (per-period) imbalance :math:`|\sum_i p_{i,t} - c_t(a_t)|`
  (payments net of the principal's cost: 0 means the designer exactly breaks even in that
  period) and the expected discounted surplus (= revenue); IR by truthful values.

Transitions may depend on the public decision (then the allocation must be
deterministic, since the tree does not record a randomised decision), types may
be correlated across agents (a :class:`~dmd_opt.core.joint.JointModel` with a joint
kernel) and values may be interdependent (:math:`u_i(a,\theta)` depends on the whole
profile; the others' true types are their truthful reports): everything is computed from
the joint kernel and :meth:`~dmd_opt.core.model.DynamicModel.own_type_utility`.  The stationary case is two
finite MDPs per agent on (previous report profile, own previous true type, own type
[, others' current types]) solved exactly by :func:`dmd_opt.dp.mdp.policy_iteration`.
No LP is involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from dmd_opt.core.display import fmt
from dmd_opt.core.errors import ModelError
from dmd_opt.core.joint import JointModel, from_environment
from dmd_opt.core.truthful import markov_present_value, markov_tree_arrays, mix_rows, tree_node_probabilities
from dmd_opt.dp import mdp
from dmd_opt.verify.by_type import regret_by_type, regret_lines
from dmd_opt.verify.report import ReportHead


@dataclass
class AgentExPost:
    agent: int
    name: str
    bayes_max_regret: float
    bayes_max_regret_on_path: float
    ex_ante_regret: float
    interim_regret: float
    expost_max_regret: float          # periodic ex-post: every history
    expost_max_regret_on_path: float  # within-period ex-post on the truthful path
    root_values: np.ndarray           # truthful value by initial own type
    ir_min_on_path: float             # smallest truthful continuation value on path
    worst: dict = field(default_factory=dict)
    ir_ex_ante: float = float("nan")  # Σ_θ π(θ) V(∅, θ)
    ir_interim_min: float = float("nan")  # min over initial types of positive probability
    ir_expost_min: float = float("nan")   # min truthful payoff over every history, others' types, own type
    by_type: list = field(default_factory=list)   # Bayesian regrets by own current type (verify.by_type)


@dataclass(repr=False)
class ExPostReport(ReportHead):
    """Bayesian and ex-post regrets of one mechanism.  ``notion`` picks the headline
    ``max_regret``: ``"bayesian"`` (over every state), ``"expost"`` (within-period ex-post
    IC along truthful histories) or ``"periodic_expost"`` (ex-post IC at every history)."""

    agents: list[AgentExPost]
    budget_max_imbalance: float
    budget_by_period: list[float]
    budget_expected: float
    revenue: float
    welfare: float
    scale: float
    kind: str                          # "tree" or "markov"
    notion: str = "expost"

    def _m(self, k):
        return max(getattr(a, k) for a in self.agents)

    @property
    def max_regret(self) -> float:
        return {"bayesian": self.bayes_max_regret, "expost": self.expost_max_regret_on_path,
                "periodic_expost": self.expost_max_regret}[self.notion]

    @property
    def max_regret_on_path(self) -> float:
        return self.bayes_max_regret_on_path if self.notion == "bayesian" else self.expost_max_regret_on_path

    def ir_violation(self, participation: str) -> float:
        """Largest violation (≥ 0): ``ex_ante`` Σ π V(∅,·), ``interim`` min V(∅,θ), ``periodic``
        the smallest truthful continuation value along truthful histories, ``expost`` the
        smallest truthful payoff at any history and realisation of the others' current types."""
        key = {"ex_ante": "ir_ex_ante", "interim": "ir_interim_min", "periodic": "ir_min_on_path",
               "expost": "ir_expost_min"}[participation]
        vals = [getattr(a, key) for a in self.agents]
        vals = [v for v in vals if np.isfinite(v)]
        return max(0.0, max(-v for v in vals)) if vals else 0.0

    @property
    def bayes_max_regret(self) -> float:
        return self._m("bayes_max_regret")

    @property
    def bayes_max_regret_on_path(self) -> float:
        return self._m("bayes_max_regret_on_path")

    @property
    def ex_ante_regret(self) -> float:
        return self._m("ex_ante_regret")

    @property
    def expost_max_regret(self) -> float:
        return self._m("expost_max_regret")

    @property
    def expost_max_regret_on_path(self) -> float:
        return self._m("expost_max_regret_on_path")

    def to_dict(self) -> dict:
        return {
            **self.head_numbers(), "kind": self.kind, "bayes_max_regret": self.bayes_max_regret,
            "bayes_max_regret_on_path": self.bayes_max_regret_on_path,
            "ex_ante_regret": self.ex_ante_regret,
            "within_period_expost_regret": self.expost_max_regret_on_path,
            "periodic_expost_regret": self.expost_max_regret,
            "budget_max_imbalance": self.budget_max_imbalance,
            "budget_by_period": self.budget_by_period, "budget_expected": self.budget_expected,
            "revenue": self.revenue, "welfare": self.welfare, "scale": self.scale,
            "agents": [{"agent": a.agent, "name": a.name, "bayes_max_regret": a.bayes_max_regret,
                        "bayes_max_regret_on_path": a.bayes_max_regret_on_path,
                        "ex_ante_regret": a.ex_ante_regret, "interim_regret": a.interim_regret,
                        "within_period_expost_regret": a.expost_max_regret_on_path,
                        "periodic_expost_regret": a.expost_max_regret,
                        "values_by_initial_type": a.root_values.tolist(),
                        "ir_min_on_path": a.ir_min_on_path, "worst": a.worst, "regret_by_type": a.by_type}
                       for a in self.agents]}

    def summary_lines(self) -> list[str]:
        return [
            f"Bayesian IC regret: max {fmt(self.bayes_max_regret, 3, self.scale)} (on path "
            f"{fmt(self.bayes_max_regret_on_path, 3, self.scale)}, ex ante {fmt(self.ex_ante_regret, 3, self.scale)})",
            f"ex-post IC regret: within-period (on path) {fmt(self.expost_max_regret_on_path, 3, self.scale)}, "
            f"periodic (every history) {fmt(self.expost_max_regret, 3, self.scale)}",
            f"budget: max per-period |Σ p − c| {fmt(self.budget_max_imbalance, 3, self.scale)}, expected designer "
            f"surplus {fmt(self.budget_expected, 6, self.scale)}",
            f"revenue {self.revenue:.6g}, welfare {self.welfare:.6g}"] + regret_lines(self.agents, self.scale)


# ------------------------------------------------------------------ helpers on the joint kernel
def _check_deterministic(model, alloc: list[np.ndarray]) -> None:
    if model.decision_dependent:
        for x in alloc:
            if np.any((x > 1e-12) & (x < 1 - 1e-12)):
                raise ValueError("transitions depend on the decision: the verifier needs a deterministic "
                                 "allocation (a randomised decision is not recorded in the public history)")


def _own_axis_last(arr: np.ndarray, lead: int, shape: tuple[int, ...], i: int) -> np.ndarray:
    """(..lead.., R) with R = prod(shape) → (..lead.., n_i, R_{-i})."""
    a = arr.reshape(arr.shape[:lead] + tuple(shape))
    a = np.moveaxis(a, lead + i, lead)
    return a.reshape(arr.shape[:lead] + (shape[i], -1))


def _kp(model: JointModel, t: int, i: int, x_prev: np.ndarray | None) -> np.ndarray:
    """(H, n_p, n_i, R_{-i}): law of the period-t profile given the parent node and i's true
    previous type p (others' previous types = their reports).  t = 0: (1, 1, n_i, R_{-i})."""
    shape = model.profile_shape(t)
    if t == 0:
        return _own_axis_last(model.initial[None, None, :], 2, shape, i)
    ps = model.profile_shape(t - 1)
    Rp = model.n_profiles(t - 1)
    H = x_prev.shape[0]
    prof = np.arange(H) % Rp
    dig = np.stack(np.unravel_index(prof, ps), axis=-1)             # (H, N)
    stride = int(np.prod(ps[i + 1:], dtype=np.int64))
    rows = prof[:, None] + (np.arange(ps[i])[None, :] - dig[:, i:i + 1]) * stride  # (H, n_p)
    M = mix_rows(model, t - 1, x_prev, rows)                         # (H, n_p, R_t)
    return _own_axis_last(M, 2, shape, i)


def _beliefs(kp: np.ndarray) -> np.ndarray:
    """Normalise over the others' types c; where the own type has probability 0 use the
    marginal over c (any belief is admissible there), then uniform."""
    s = kp.sum(axis=-1, keepdims=True)
    marg = kp.sum(axis=2, keepdims=True)
    ms = marg.sum(axis=-1, keepdims=True)
    fallback = np.where(ms > 0, marg / np.where(ms > 0, ms, 1), 1.0 / kp.shape[-1])
    return np.where(s > 0, kp / np.where(s > 0, s, 1), fallback)


# ------------------------------------------------------------------ finite horizon: the tree
MAX_TREE_NODES = 5_000_000

def tree_view(mech):
    """(model, allocation list, payments list) of finite-horizon rules of ``form`` ``"tree"`` or
    ``"markov"``; the model is the mechanism's joint model (an :class:`Environment` is turned
    into its product :class:`~dmd_opt.core.joint.JointModel`)."""
    if mech.form == "markov":
        a, p = markov_tree_arrays(mech.env, mech.allocation, mech.payments)
        return mech.env, a, p
    model = mech.env
    if not isinstance(model, JointModel):
        meta = getattr(mech, "meta", {})
        model = meta.get("joint_model") or from_environment(model)
    return model, [np.asarray(a, float) for a in mech.allocation], [np.asarray(p, float) for p in mech.payments]


def verify_tree(mech, notion: str = "expost") -> ExPostReport:
    """Bayesian and ex-post IC, budget and IR of a finite-horizon mechanism on the history tree."""
    if getattr(mech, "disclosure", "public") != "public" and len(mech.allocation) > 1:   # one period: the same
        raise ValueError("verify_tree assumes public disclosure of reports; use dmd_opt.verify.verify(mech, 'bayesian') "
                         "for private disclosure")
    model, alloc, pay = tree_view(mech)
    _check_deterministic(model, alloc)
    nodes = sum(a.shape[0] for a in alloc)
    if nodes > MAX_TREE_NODES:
        raise ModelError("horizon", f"the history tree has {nodes:.3g} nodes; the ex-post verifier handles up to "
                         f"{MAX_TREE_NODES:.0e} (shorten the horizon or use a stationary model)")
    T, N, d = len(alloc), model.N, model.discount
    probs = tree_node_probabilities(model, alloc)
    agents = [_tree_agent(model, alloc, pay, probs, i) for i in range(N)]
    cost = [alloc[t] @ model.cost(t) for t in range(T)]
    per = [float(np.max(np.abs(pay[t].sum(axis=1) - cost[t]))) for t in range(T)]
    util = [sum(np.sum(alloc[t] * _node_utility(model, t, j, alloc[t].shape[0]), axis=1) for j in range(N))
            for t in range(T)]
    revenue = sum(d ** t * float(probs[t] @ (pay[t].sum(axis=1) - cost[t])) for t in range(T))
    exp_budget = revenue
    welfare = sum(d ** t * float(probs[t] @ (util[t] - cost[t])) for t in range(T))
    return ExPostReport(agents, max(per), per, exp_budget, revenue, welfare, model.payoff_scale, "tree", notion)


def _node_utility(model: JointModel, t: int, j: int, K: int) -> np.ndarray:
    """(K_t, |A_t|): u_j(a, reported θ_j) at each node (truthful)."""
    R = model.n_profiles(t)
    return model.profile_utility(j, t)[np.arange(K) % R]


def _tree_agent(model, alloc, pay, probs, i) -> AgentExPost:
    T, d = len(alloc), model.discount
    WU = WV = WE = None     # (K_t, n_{i,t}, n_{i,t+1}) values of the next period's states
    q_next = None           # (K_t, n_{i,t}, n_{i,t+1}) law of i's next type
    best = {"bayes": -np.inf, "bayes_on": -np.inf, "ep": -np.inf, "ep_on": -np.inf}
    worst: dict = {}
    ir_min = ir_ep = np.inf
    by_type: list = [None] * T
    for t in range(T - 1, -1, -1):
        shape = model.profile_shape(t)
        n = shape[i]
        K = alloc[t].shape[0]
        H = 1 if t == 0 else alloc[t - 1].shape[0]
        W = model.own_type_utility(i, t)                                   # (R, n_true, A)
        flow = np.einsum("ka,kna->kn", alloc[t], W[np.arange(K) % model.n_profiles(t)]) - pay[t][:, i:i + 1]
        if WU is not None:
            contU = np.einsum("kpq,kpq->kp", q_next, WU)
            contV = np.einsum("kpq,kpq->kp", q_next, WV)
            contE = np.einsum("kpq,kpq->kp", q_next, WE)
            GU, GV, GE = flow + d * contU, flow + d * contV, flow + d * contE
        else:
            GU = GV = GE = flow
        # (K, n_true) -> (H, n_report, R_-i, n_true)
        GU, GV, GE = (_own_axis_last(G.reshape(H, -1, n).transpose(0, 2, 1), 2, shape, i)
                      .transpose(0, 2, 3, 1) for G in (GU, GV, GE))
        kp = _kp(model, t, i, None if t == 0 else alloc[t - 1])           # (H, n_p, n, R_-i)
        b = _beliefs(kp)
        qown = kp.sum(axis=-1)                                             # (H, n_p, n)
        HU = np.einsum("hpqc,hrcq->hprq", b, GU)
        HV = np.einsum("hpqc,hrcq->hprq", b, GV)
        U = HU.max(axis=2)
        V = np.einsum("hpqq->hpq", HV)
        UE = GE.max(axis=1)                                               # (H, R_-i, n)
        VE = np.einsum("hqcq->hcq", GV)
        ir_ep = min(ir_ep, float(VE.min()))
        WEt = np.einsum("hpqc,hcq->hpq", b, UE)
        # on-path masks
        reach = probs[t - 1] if t > 0 else np.ones(1)
        if t > 0:
            Rp = model.n_profiles(t - 1)
            own_last = np.stack(np.unravel_index(np.arange(H) % Rp, model.profile_shape(t - 1)), axis=-1)[:, i]
            p_on = np.zeros((H, kp.shape[1]), bool)
            p_on[np.arange(H), own_last] = True
        else:
            p_on = np.ones((1, 1), bool)
            own_last = np.zeros(1, dtype=np.int64)
        on = (reach[:, None, None] > 0) & p_on[:, :, None] & (qown > 0)
        reg = U - V
        kp_true = kp[np.arange(H), own_last]                               # (H, n, R_-i)
        on_ep = (reach[:, None, None] > 0) & (kp_true.transpose(0, 2, 1) > 0)
        reg_ep = UE - VE
        npr = kp.shape[1]
        w = np.where(on, reach[:, None, None] * qown, 0.0)
        by_type[t] = regret_by_type(t + 1, model.type_labels(i, t), reg.reshape(H * npr, n), np.arange(n),
                                    w.reshape(H * npr, n), HU.argmax(axis=2).reshape(H * npr, n),
                                    {"history": np.repeat(np.arange(H), npr),
                                     "true_previous_type": np.tile(np.arange(npr), H)},
                                    tol=1e-12 * model.payoff_scale)
        m = float(reg.max())
        if m > best["bayes"]:
            h, p, th = np.unravel_index(int(np.argmax(reg)), reg.shape)
            best["bayes"] = m
            worst = {"period": t + 1, "history": int(h), "true_previous_type": int(p), "true_type": int(th),
                     "best_report": int(np.argmax(HU[h, p, :, th])), "regret": m}
        best["ep"] = max(best["ep"], float(reg_ep.max()))
        if on.any():
            best["bayes_on"] = max(best["bayes_on"], float(reg[on].max()))
            ir_min = min(ir_min, float(V[on].min()))
        if on_ep.any():
            best["ep_on"] = max(best["ep_on"], float(reg_ep[on_ep].max()))
        WU, WV, WE, q_next = U, V, WEt, qown
    prior = q_next[0, 0]
    rootU, rootV = WU[0, 0], WV[0, 0]
    return AgentExPost(i, _name(model, i), max(0.0, best["bayes"]), max(0.0, best["bayes_on"]),
                       max(0.0, float(prior @ (rootU - rootV))), max(0.0, float(np.max((rootU - rootV)[prior > 0]))),
                       max(0.0, best["ep"]), max(0.0, best["ep_on"]), rootV.copy(), ir_min, worst,
                       float(prior @ rootV), float(rootV[prior > 0].min()), ir_ep, by_type)


def _name(model: JointModel, i: int) -> str:
    return model.agent_names[i] if model.agent_names else f"agent {i + 1}"


# ------------------------------------------------------------------ stationary: Markov mechanisms
def verify_markov(mech, notion: str = "expost") -> ExPostReport:
    """Bayesian and ex-post IC of stationary Markov rules (``form = "markov"``) by exact policy iteration."""
    model = mech.env
    if not model.stationary:
        return verify_tree(mech, notion)
    alloc = [np.asarray(x, float) for x in mech.allocation]
    _check_deterministic(model, alloc)
    agents = [_markov_agent(model, alloc, mech.payments, i) for i in range(model.N)]
    cost = [alloc[t] @ model.cost(0) for t in range(2)]
    per = [float(np.max(np.abs(mech.payments[t].sum(axis=2) - cost[t][None, :]))) for t in range(2)]
    rev = markov_present_value(model, alloc, lambda t: mech.payments[t].sum(axis=2) - cost[t][None, :])
    util = [sum(np.sum(alloc[t] * model.profile_utility(i, 0), axis=1) for i in range(model.N)) for t in range(2)]
    welfare = markov_present_value(model, alloc, lambda t: np.broadcast_to(util[t] - cost[t],
                                                                             mech.payments[t].shape[:2]))
    return ExPostReport(agents, max(per), per, rev, rev, welfare, model.payoff_scale, "markov", notion)


def _markov_agent(m, alloc: list[np.ndarray], payments: list[np.ndarray], i: int) -> AgentExPost:
    d = m.discount
    shape = m.profile_shape(0)
    S, n = m.n_profiles(0), shape[i]
    Rm = S // n
    x = alloc[1]
    # law of the current profile given (previous report profile s, own true previous type p)
    kp_later = _kp(m, 1, i, x)                                        # (S, n, n, Rm) using kernel(0)
    kp_init = np.broadcast_to(_kp(m, 0, i, None), (1, n, n, Rm))
    kp = np.concatenate([kp_later, kp_init], axis=0)                  # (S+1, n_p, n, Rm); s = S is "start"
    b = _beliefs(kp)
    qown = kp.sum(axis=-1)                                            # (S+1, n_p, n)
    # flows F[s, r, c, θ]: utility of the allocation at profile (r, c) for true θ, minus payment
    util = np.einsum("sa,sna->sn", x, m.own_type_utility(i, 0))       # (S, n_true) by current profile
    pay = np.concatenate([payments[1][:, :, i], payments[0][:, :, i]], axis=0)  # (S+1, S)
    F = util[None, :, :] - pay[:, :, None]                            # (S+1, S, n)
    F = _own_axis_last(F.transpose(0, 2, 1), 2, shape, i).transpose(0, 2, 3, 1)  # (S+1, n_r, Rm, n)
    prof = _own_axis_last(np.arange(S)[None, :], 1, shape, i)[0]      # (n_r, Rm) profile index of (r, c)
    q_next = qown[:S]                                                 # (S, n_p=θ, n'): next own type law
    # ---- Bayesian MDP: state (s, p, θ), action r
    nS = (S + 1) * n * n
    R_b = np.einsum("spqc,srcq->spqr", b, F).reshape(nS, n)
    s_, p_, q_, r_, c_, q2 = np.ix_(np.arange(S + 1), np.arange(n), np.arange(n), np.arange(n),
                                    np.arange(Rm), np.arange(n))
    sp_ = prof[r_, c_]                                                # next profile
    val = b[s_, p_, q_, c_] * q_next[sp_, q_, q2]
    rows = ((s_ * n + p_) * n + q_) * n + r_
    cols = (sp_ * n + q_) * n + q2
    val, rows, cols = np.broadcast_arrays(val, rows, cols)
    Pb = sp.csr_matrix((val.ravel(), (rows.ravel(), cols.ravel())), shape=(nS * n, nS))
    truthful = np.tile(np.arange(n), (S + 1) * n)
    resU = mdp.policy_iteration(R_b, Pb, d, sigma0=truthful)
    V = mdp.policy_value(R_b, Pb, d, truthful)
    reg = (resU.values - V).reshape(S + 1, n, n)
    reach_b = _reachable(Pb, truthful, n, start=(S * n) * n + np.flatnonzero(qown[S, 0] > 0)).reshape(S + 1, n, n)
    # ---- ex-post MDP: state (s, p, θ, c), action r
    nE = nS * Rm
    R_e = np.broadcast_to(F.transpose(0, 3, 2, 1)[:, None], (S + 1, n, n, Rm, n)).reshape(nE, n)
    s_, p_, q_, c_, r_, q2, c2 = np.ix_(np.arange(S + 1), np.arange(n), np.arange(n), np.arange(Rm),
                                        np.arange(n), np.arange(n), np.arange(Rm))
    sp_ = prof[r_, c_]
    val = kp[sp_, q_, q2, c2]
    rows = (((s_ * n + p_) * n + q_) * Rm + c_) * n + r_
    cols = ((sp_ * n + q_) * n + q2) * Rm + c2
    val, rows, cols = np.broadcast_arrays(val, rows, cols)
    Pe = sp.csr_matrix((val.ravel(), (rows.ravel(), cols.ravel())), shape=(nE * n, nE))
    truthful_e = np.repeat(np.tile(np.arange(n), (S + 1) * n), Rm)
    resE = mdp.policy_iteration(R_e, Pe, d, sigma0=truthful_e)
    VE = mdp.policy_value(R_e, Pe, d, truthful_e)
    reg_e = resE.values - VE
    start_e = ((S * n + 0) * n) * Rm + np.flatnonzero(kp[S, 0].ravel() > 0)
    reach_e = _reachable(Pe, truthful_e, n, start=start_e)
    prior = qown[S, 0]
    rootU, rootV = resU.values.reshape(S + 1, n, n)[S, 0], V.reshape(S + 1, n, n)[S, 0]
    Vr = V.reshape(S + 1, n, n)
    h, p, th = np.unravel_index(int(np.argmax(reg)), reg.shape)
    worst = {"previous_profile": "start" if h == S else int(h), "true_previous_type": int(p),
             "true_type": int(th), "best_report": int(resU.policy.reshape(S + 1, n, n)[h, p, th]),
             "regret": float(reg.max())}
    return AgentExPost(i, _name(m, i), max(0.0, float(reg.max())),
                       max(0.0, float(reg[reach_b].max())) if reach_b.any() else 0.0,
                       max(0.0, float(prior @ (rootU - rootV))),
                       max(0.0, float(np.max((rootU - rootV)[prior > 0]))),
                       max(0.0, float(reg_e.max())),
                       max(0.0, float(reg_e[reach_e].max())) if reach_e.any() else 0.0,
                       rootV.copy(), float(Vr[reach_b].min()) if reach_b.any() else np.nan, worst,
                       float(prior @ rootV), float(rootV[prior > 0].min()),
                       by_type=[regret_by_type(None, m.type_labels(i, 0), np.where(reach_b, reg, 0.0).reshape(-1, n),
                                               np.arange(n), None, resU.policy.reshape(-1, n),
                                               {"previous_profile": np.repeat(np.arange(S + 1), n),
                                                "true_previous_type": np.tile(np.arange(n), S + 1)},
                                               tol=1e-12 * m.payoff_scale)])


def _reachable(P: sp.csr_matrix, sigma: np.ndarray, n_actions: int, start: np.ndarray) -> np.ndarray:
    """States reachable with positive probability under policy ``sigma`` from ``start``."""
    nS = sigma.size
    Ps = P[np.arange(nS) * n_actions + sigma]
    seen = np.zeros(nS, bool)
    seen[start] = True
    frontier = seen.copy()
    while frontier.any():
        nxt = (Ps[frontier].sum(axis=0).A1 > 0) & ~seen
        seen |= nxt
        frontier = nxt
    return seen


def verify_dynamic(mech, notion: str = "expost") -> ExPostReport:
    """Stationary Markov rules → :func:`verify_markov`, finite-horizon rules → :func:`verify_tree`."""
    if mech.form == "markov" and mech.env.stationary:
        return verify_markov(mech, notion)
    return verify_tree(mech, notion)
