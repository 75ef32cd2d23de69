r"""Bayesian verifier of incentive compatibility, participation and budget on the history tree.

Given the rules of any mechanism of ``form = "tree"`` (see :mod:`dmd_opt.mechanisms.base`) —
from an LP or from a closed-form construction — on an environment with independent,
private-value types whose law does not depend on the decision, it computes, for each agent :math:`i`, by backward
induction over (information state, own true type):

* the truthful value :math:`V_{i,t}(s,\theta)` (everyone reports truthfully), and
* the optimal value :math:`U_{i,t}(s,\theta)` over *all* reporting strategies of
  :math:`i` (others truthful), so deviations may be multi-period:

.. math::

    U_{i,t}(s,\theta) = \max_r \; E_{c}\Big[u_i(x(s,r,c),\theta) - p_i(s,r,c)
        + \delta \sum_{\theta'} P_{i,t}(\theta'\mid\theta)\,U_{i,t+1}(s',\theta')\Big].

With ``public`` disclosure the information state :math:`s` is the public
history :math:`h^t` and :math:`c` runs over the others' current types with the
belief :math:`\prod_{j\ne i}P_{j,t-1}(\cdot\mid r_{j,t-1})`; with ``private``
disclosure :math:`s` is i's own report history and :math:`c` the others' whole
truthful histories (prior weights; independent of i's reports).

The regret :math:`U - V\ge 0` is reported at every state (max over all histories,
including those reached only after a lie, and over on-path ones), ex ante
(:math:`\sum_\theta\pi_i(\theta)(U-V)(\varnothing,\theta)`) and interim.  IR is
checked for each participation notion and budget balance node by node.

With ``public`` disclosure (or one period) the same pass checks **periodic ex-post** IC:
the report may be chosen after seeing the others' current reports :math:`c`,

.. math::

    U^{ep}_{i,t}(h, c, \theta) = \max_r \Big[u_i(x(h,r,c),\theta) - p_i(h,r,c)
        + \delta \sum_{\theta'} P_{i,t}(\theta'\mid\theta)\,E_{c'}\,U^{ep}_{i,t+1}((h,r,c), c', \theta')\Big],

against the truthful :math:`V^{ep}` (the same bracket at :math:`r = \theta` with the truthful
continuation); zero regret :math:`U^{ep} - V^{ep}` everywhere is ex-post IC at every history
(Bergemann–Välimäki 2010), and :math:`\min V^{ep}` is the ex-post participation margin
(utility at every history and every realisation of the others' current types).  The
quantity family is checked here too.

It never touches a program's constraint matrix: the computation works on the
mechanism's arrays with reshapes and tensor contractions only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.core.model import unravel
from dmd_opt.core.display import fmt
from dmd_opt.core.tree import HistoryTree
from dmd_opt.core.truthful import tree_flow_by_history, tree_flow_utility, tree_principal_cost, tree_truthful_utility
from dmd_opt.verify.by_type import regret_by_type, regret_lines
from dmd_opt.verify.report import ReportHead


@dataclass
class AgentCheck:
    agent: int
    name: str
    max_regret: float                 # over every (history, true type), on and off path
    max_regret_on_path: float         # histories and types with positive truthful probability
    ex_ante_regret: float
    interim_regret: float             # max over initial types
    worst: dict                       # where the largest regret occurs
    root_values: np.ndarray           # V_i(∅, θ): rents by initial type
    ir_ex_ante: float                 # Σ π V(∅,θ)
    ir_interim_min: float             # min_θ V(∅,θ)
    ir_periodic_min: float            # min over every history and type
    ir_periodic_min_on_path: float
    expost_max_regret: float = float("nan")   # periodic ex-post regret (public disclosure or one period)
    ir_expost_min: float = float("nan")       # min truthful payoff over histories, others' reports, types
    by_type: list = field(default_factory=list)   # per period: regrets by own current type (verify.by_type)


@dataclass(repr=False)
class VerificationReport(ReportHead):
    agents: list[AgentCheck]
    budget_max_imbalance: float       # max over nodes |Σ_i p_i|
    budget_expected: float            # expected discounted Σ_i p_i
    revenue: float
    welfare: float
    scale: float
    disclosure: str
    extra: dict = field(default_factory=dict)
    notion: str = "bayesian"

    @property
    def max_regret(self) -> float:
        if self.notion in ("expost", "periodic_expost"):
            return self.expost_max_regret
        return max(a.max_regret for a in self.agents)

    @property
    def expost_max_regret(self) -> float:
        """Periodic ex-post regret (NaN when not computed: private disclosure over several periods)."""
        return max(a.expost_max_regret for a in self.agents)

    @property
    def max_regret_on_path(self) -> float:
        return max(a.max_regret_on_path for a in self.agents)

    @property
    def ex_ante_regret(self) -> float:
        return max(a.ex_ante_regret for a in self.agents)

    def ir_violation(self, participation: str) -> float:
        """Largest violation (≥ 0) of the participation notion."""
        key = {"ex_ante": "ir_ex_ante", "interim": "ir_interim_min", "periodic": "ir_periodic_min",
               "expost": "ir_expost_min"}[participation]
        return max(0.0, max(-getattr(a, key) for a in self.agents))

    def to_dict(self) -> dict:
        return {
            **self.head_numbers(), "ex_ante_regret": self.ex_ante_regret,
            "budget_expected": self.budget_expected, "disclosure": self.disclosure,
            "agents": [{"agent": a.agent, "name": a.name, "max_regret": a.max_regret,
                        "max_regret_on_path": a.max_regret_on_path, "ex_ante_regret": a.ex_ante_regret,
                        "interim_regret": a.interim_regret, "worst": a.worst,
                        "rents_by_initial_type": a.root_values.tolist(),
                        "ir_ex_ante": a.ir_ex_ante, "ir_interim_min": a.ir_interim_min,
                        "ir_periodic_min": a.ir_periodic_min, "expost_max_regret": a.expost_max_regret,
                        "ir_expost_min": a.ir_expost_min, "regret_by_type": a.by_type} for a in self.agents],
            **self.extra}

    def summary_lines(self) -> list[str]:
        sc = self.scale
        lines = [f"max IC regret {fmt(self.max_regret, 3, sc)} (on path {fmt(self.max_regret_on_path, 3, sc)}, "
                 f"ex ante {fmt(self.ex_ante_regret, 3, sc)}); payoff scale {fmt(sc)}"]
        for p in ("ex_ante", "interim", "periodic"):
            lines.append(f"IR violation ({p}) {fmt(self.ir_violation(p), 3, sc)}")
        lines.append(f"budget: max |Σ p| {fmt(self.budget_max_imbalance, 3, sc)}, expected surplus "
                     f"{fmt(self.budget_expected, 6, sc)}")
        return lines + regret_lines(self.agents, sc)


def verify_bayesian(mech, notion: str = "bayesian") -> VerificationReport:
    """Check tree rules by dynamic programming (see module docstring).

    ``mech`` exposes ``env``, ``allocation``, ``payments`` and ``disclosure`` (the tree form);
    ``notion`` picks the headline regret (``"bayesian"`` or the periodic ex-post one)."""
    tree = _tree(mech)
    env, T, d = mech.env, tree.T, mech.env.discount
    agents = [_check_agent(mech, tree, i) for i in range(env.n_agents)]
    pay = [np.asarray(p, float) for p in mech.payments]
    cost = [tree_principal_cost(env, mech.allocation[t], t) for t in range(T)]
    util = [sum(_truthful_utility(mech, tree, i, t) for i in range(env.n_agents)) for t in range(T)]
    disc = lambda per_node: float(sum(d ** t * (tree.node_prob[t] @ per_node(t)) for t in range(T)))  # noqa: E731
    imb = max(float(np.max(np.abs(pay[t].sum(axis=1)))) for t in range(T))
    return VerificationReport(agents, imb, disc(lambda t: pay[t].sum(axis=1)),
                              disc(lambda t: pay[t].sum(axis=1) - cost[t]), disc(lambda t: util[t] - cost[t]),
                              env.payoff_scale, mech.disclosure, notion=notion)


def _tree(mech) -> HistoryTree:
    tree = getattr(mech, "tree", None)
    return tree if isinstance(tree, HistoryTree) else HistoryTree(mech.env, len(mech.allocation))


def _truthful_utility(mech, tree: HistoryTree, i: int, t: int) -> np.ndarray:
    """(K_t,): agent i's flow utility at each node when its true types equal its reports."""
    return tree_truthful_utility(mech.env, tree, mech.allocation[t], i, t)


def _others_expectation(G: np.ndarray, mech, tree: HistoryTree, i: int, t: int) -> np.ndarray:
    """Public disclosure: (K_t, n) node values → (H_t, n_report, n_true) by averaging out the others."""
    return np.einsum("hrcn,hc->hrn", _by_others(G, tree, i, t), _others_belief(tree, i, t))


def _by_others(G: np.ndarray, tree: HistoryTree, i: int, t: int) -> np.ndarray:
    """(K_t, n) node values → (H_t, n_report, others' current reports C, n_true)."""
    H, shape = tree.n_histories(t), tree.shapes[t]
    G = np.moveaxis(G.reshape((H,) + tuple(shape) + (G.shape[1],)), 1 + i, 1)
    return G.reshape(H, shape[i], -1, G.shape[-1])


def _others_belief(tree: HistoryTree, i: int, t: int) -> np.ndarray:
    """(H_t or 1, C): the truthful probability of the others' current reports given the history."""
    beliefs = tree.beliefs(i, t)
    w = np.ones((1, 1))
    for j in range(tree.N):
        if j != i:
            b = beliefs[j]
            w = (w[:, :, None] * b[:, None, :]).reshape(max(w.shape[0], b.shape[0]), -1)
    return w


def _private_split(G: np.ndarray, mech, tree: HistoryTree, i: int, t: int) -> np.ndarray:
    """Private disclosure: (K_t, ...) → (own histories, others' histories, ...)."""
    N = mech.env.n_agents
    dims = [n for s in range(t + 1) for n in tree.shapes[s]]
    tail = G.shape[1:]
    G = G.reshape(tuple(dims) + tail)
    own = [s * N + i for s in range(t + 1)]
    others = [a for a in range(len(dims)) if a not in own]
    G = np.transpose(G, own + others + list(range(len(dims), G.ndim)))
    n_own = int(np.prod([dims[a] for a in own]))
    return G.reshape((n_own, -1) + tail)


def _own_reports(tree: HistoryTree, i: int, t: int, own_history: bool) -> np.ndarray:
    """(H_{t+1}, t+1): agent i's own reports through ``t`` at each information state of ``t + 1``
    (public histories, or i's own report histories when ``own_history``)."""
    if not own_history:
        return tree.digits(t)[:, :, i]
    dims = [tree.shapes[s][i] for s in range(t + 1)]
    return np.stack(unravel(np.arange(int(np.prod(dims, dtype=np.int64))), dims), axis=-1)


def _on_path(env, i: int, t: int, Z: int, ztype: np.ndarray, hist: bool, own_past) -> np.ndarray:
    """(H or 1, Z): true states of positive probability that agree with i's own past reports
    (i has been truthful) at each information state."""
    if t == 0:
        return (env.agent_initial(i) > 0)[None, :]
    P = env.agent_transition(i, t - 1)
    if not hist:
        return P[own_past[:, -1]] > 0
    d = np.stack(unravel(np.arange(Z), [env.n_types(i, s) for s in range(t + 1)]), axis=-1)  # (Z, t+1)
    agree = np.all(own_past[:, None, :] == d[None, :, :t], axis=2)                                   # (H, Z)
    return agree & (P[own_past[:, -1]][:, ztype] > 0)


def _history_states(env, i: int) -> bool:
    """Whether agent i's utilities read earlier own types: the DP then runs over its whole own
    true type history (and not only the current type)."""
    own = getattr(env, "own", ())
    return bool(own) and not own[i].current_only


def _true_states(env, i: int, t: int, hist: bool) -> tuple[int, np.ndarray]:
    """(Z, current type of each state): own true type histories through ``t`` (C order, the
    current type last) when ``hist``, else the current types."""
    n = env.n_types(i, t)
    if not hist:
        return n, np.arange(n)
    Z = int(np.prod([env.n_types(i, s) for s in range(t + 1)], dtype=np.int64))
    return Z, np.arange(Z) % n


def _continuation(W_next, P, ztype: np.ndarray, hist: bool):
    r"""(rows, Z_t): :math:`\sum_{\theta'}P(\theta'\mid\theta(z))\,W_{next}(\cdot, z')` with ``z' = (z, θ')``
    (history states) or ``z' = θ'``; 0 in the last period."""
    if P is None:
        return 0.0
    if not hist:
        return W_next @ P.T
    n2 = P.shape[1]
    return np.einsum("kzq,zq->kz", W_next.reshape(W_next.shape[0], -1, n2), P[ztype])


def _check_agent(mech, tree: HistoryTree, i: int) -> AgentCheck:
    env, T, delta = mech.env, tree.T, mech.env.discount
    private = mech.disclosure == "private" and env.n_agents > 1 and T > 1   # one period: both coincide
    hist = _history_states(env, i)
    U_next = V_next = E_next = None
    max_reg = max_reg_on = -np.inf
    worst: dict = {}
    ir_min = ir_min_on = np.inf
    ep_reg, ir_ep = -np.inf, np.inf
    expost = not private
    by_type: list = [None] * T
    for t in range(T - 1, -1, -1):
        n = env.n_types(i, t)
        Z, ztype = _true_states(env, i, t, hist)
        flow = tree_flow_by_history(env, mech.allocation[t], i, t) if hist \
            else tree_flow_utility(env, mech.allocation[t], i, t)
        f = flow - mech.payments[t][:, i:i + 1]                           # (K_t, Z true states)
        P = env.agent_transition(i, t) if t < T - 1 else None             # (n_t, n_{t+1})
        if private:
            # Continuations are indexed by i's own report history, flows by the full node.
            w = _private_split(tree.node_prob[t], mech, tree, i, t).sum(axis=0)   # others' history weights
            F = np.einsum("ocn,c->on", _private_split(f, mech, tree, i, t), w)
            HU = F + delta * _continuation(U_next, P, ztype, hist)
            HV = F + delta * _continuation(V_next, P, ztype, hist)
            H = tree.n_own_histories(i, t - 1)
            HU, HV = HU.reshape(H, n, Z), HV.reshape(H, n, Z)             # (own hist, report, true state)
            reach = _private_split(tree.node_prob[t - 1], mech, tree, i, t - 1).sum(axis=1) if t > 0 else np.ones(1)
            own_past = _own_reports(tree, i, t - 1, own_history=True) if t > 0 else None
        else:
            GU = f + delta * _continuation(U_next, P, ztype, hist)
            GV = f + delta * _continuation(V_next, P, ztype, hist)
            HU = _others_expectation(GU, mech, tree, i, t)
            HV = _others_expectation(GV, mech, tree, i, t)
            H = HU.shape[0]
            # periodic ex-post: the report is a best response to the others' current reports
            GE = f + delta * _continuation(E_next, P, ztype, hist)
            UE = _by_others(GE, tree, i, t).max(axis=1)                    # (H, C, Z)
            VE = _by_others(GV, tree, i, t)[:, ztype, :, np.arange(Z)].transpose(1, 2, 0)   # truthful
            ep_reg, ir_ep = max(ep_reg, float((UE - VE).max())), min(ir_ep, float(VE.min()))
            E_next = np.einsum("hcn,hc->hn", UE, np.broadcast_to(_others_belief(tree, i, t), UE.shape[:2]))
            reach = tree.node_prob[t - 1] if t > 0 else np.ones(1)
            own_past = _own_reports(tree, i, t - 1, own_history=False) if t > 0 else None
        U = HU.max(axis=1)                                                # (H, Z)
        V = HV[:, ztype, np.arange(Z)]                                    # truthful report = current type
        reg = U - V
        on = (reach[:, None] > 0) & _on_path(env, i, t, Z, ztype, hist, own_past)
        by_type[t] = _by_type(env, i, t, reg, HU, ztype, on, reach, own_past)
        m = float(reg.max())
        if m > max_reg:
            h, z = np.unravel_index(int(np.argmax(reg)), reg.shape)
            max_reg = m
            worst = {"period": t + 1, "history": int(h), "true_type": int(ztype[z]),
                     "best_report": int(np.argmax(HU[h, :, z])), "regret": m}
            if hist:
                worst["true_type_history"] = [int(d) for d in unravel(int(z), [env.n_types(i, s)
                                                                                      for s in range(t + 1)])]
        if np.any(on):
            max_reg_on = max(max_reg_on, float(reg[on].max()))
            ir_min_on = min(ir_min_on, float(V[on].min()))
        ir_min = min(ir_min, float(V.min()))
        U_next, V_next = U, V
    pi = env.agent_initial(i)
    root_U, root_V = U_next[0], V_next[0]
    return AgentCheck(
        agent=i, name=env.agent_names[i], max_regret=max(0.0, max_reg),
        max_regret_on_path=max(0.0, max_reg_on), ex_ante_regret=max(0.0, float(pi @ (root_U - root_V))),
        interim_regret=max(0.0, float(np.max(root_U - root_V))), worst=worst, root_values=root_V.copy(),
        ir_ex_ante=float(pi @ root_V), ir_interim_min=float(root_V.min()),
        ir_periodic_min=ir_min, ir_periodic_min_on_path=ir_min_on,
        expost_max_regret=max(0.0, ep_reg) if expost else float("nan"),
        ir_expost_min=ir_ep if expost else float("nan"), by_type=by_type)



def _by_type(env, i: int, t: int, reg, HU, ztype, on, reach, own_past) -> dict:
    """Agent i's period-t regrets by current type (:mod:`dmd_opt.verify.by_type`); a state's
    weight is its reach × the probability of the current type given i's last report (own
    type histories: only the history that agrees with i's reports)."""
    if t == 0:
        w = np.broadcast_to(env.agent_initial(i)[ztype][None, :], reg.shape)
    else:
        w = reach[:, None] * env.agent_transition(i, t - 1)[own_past[:, -1]][:, ztype]
    return regret_by_type(t + 1, env.type_labels(i, t), reg, ztype, np.where(on, w, 0.0), HU.argmax(axis=1),
                          {"history": np.arange(reg.shape[0])}, tol=1e-12 * env.payoff_scale)
