r"""Finite stage games with a privately informed agent, and their pure one-period plans.

The repeated game behind a relational contract (Levin 2003; Li, Matouschek & Powell
2017) is played by a principal (she) and an agent (he) who discount at a common
:math:`\delta`.  Every period:

1. the agent privately observes a state :math:`\theta \in \Theta`, i.i.d. with
   probabilities :math:`\pi(\theta)`;
2. if the game has *messages* (cheap talk), the agent sends a public message;
3. the principal takes a public action :math:`a \in A`;
4. the agent takes a public action :math:`e \in E`, from the actions feasible in
   :math:`(\theta, a)` (a project can only be chosen when it is available);
5. payoffs :math:`u_P(\theta,a,e)`, :math:`u_A(\theta,a,e)` accrue.

Everything except :math:`\theta` is public.  A :class:`StageGame` holds this data:
the feasible triples and their payoffs.  :func:`lmp_game` builds the power-dynamics
stage games of Li, Matouschek & Powell (see ``docs/relational.md`` for the versions).

A *plan* is a pure one-period strategy profile: a partition of :math:`\Theta` into
message cells (the agent's report reveals his cell; without messages there is one
cell), the principal's action in each cell and the agent's action in each state.
Cheap-talk messages are payoff-irrelevant, so only the partition matters, and a
message nobody sends can be read as some sent message (Crawford–Sobel relabelling).
:class:`Plans` enumerates all plans with index arrays for the linear programs of
:mod:`.aps`.  A plan's *behaviour* is what happens in every state, the tuple of
:math:`(a, e)` by state; the modes of the power-dynamics game are behaviours.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.core.validation import distribution, labels, mapping, real, sequence

MAX_STATES = 8            # set partitions of 8 states: 4140
MAX_ACTIONS = 64
MAX_PLANS = 20_000


@dataclass(frozen=True)
class StageGame:
    """A finite stage game with a privately informed agent (module docstring).

    ``feasible[s, a, e]``: whether the agent can take action ``e`` in state ``s``
    after the principal's action ``a``; ``u_principal``, ``u_agent``: payoffs of the
    feasible triples (0 elsewhere).  ``modes``: names of behaviours (tuples of
    ``(a, e)`` by state), for reports.
    """

    states: tuple[str, ...]
    prob: np.ndarray
    principal_actions: tuple[str, ...]
    agent_actions: tuple[str, ...]
    feasible: np.ndarray
    u_principal: np.ndarray
    u_agent: np.ndarray
    messages: bool = False
    modes: dict = field(default_factory=dict, compare=False)
    name: str = "stage game"

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def scale(self) -> float:
        """Payoff scale (largest absolute stage payoff, at least 1)."""
        f = self.feasible
        return float(max(1.0, np.abs(self.u_principal[f]).max(), np.abs(self.u_agent[f]).max()))

    # ---- construction -----------------------------------------------------------------
    @classmethod
    def create(cls, states, prob, principal_actions, agent_actions, outcomes, *, messages=False,
               modes=None, name="stage game", field_prefix="stage") -> "StageGame":
        """Validated stage game.  ``outcomes``: iterable of ``(state, principal action,
        agent action, (u_P, u_A))`` with names; unlisted triples are infeasible."""
        f = field_prefix
        states = labels(states, f"{f}.states")
        if len(states) > MAX_STATES:
            raise ModelError(f"{f}.states", f"at most {MAX_STATES} states are supported, got {len(states)}")
        prob = distribution(prob, f"{f}.prob", size=len(states))
        if np.any(prob <= 0):
            raise ModelError(f"{f}.prob", f"state {states[int(np.argmin(prob))]!r} has probability 0; drop it")
        pa = labels(principal_actions, f"{f}.principal_actions")
        ea = labels(agent_actions, f"{f}.agent_actions")
        for fld, acts in ((f"{f}.principal_actions", pa), (f"{f}.agent_actions", ea)):
            if len(acts) > MAX_ACTIONS:
                raise ModelError(fld, f"at most {MAX_ACTIONS} actions are supported, got {len(acts)}")
        if not isinstance(messages, bool):
            raise ModelError(f"{f}.messages", f"expected true or false, got {messages!r}")
        S, A, E = len(states), len(pa), len(ea)
        feas = np.zeros((S, A, E), bool)
        uP = np.zeros((S, A, E))
        uA = np.zeros((S, A, E))
        idx_s = {s: i for i, s in enumerate(states)}
        idx_a = {s: i for i, s in enumerate(pa)}
        idx_e = {s: i for i, s in enumerate(ea)}
        outcomes = sequence(outcomes, f"{f}.outcome")
        if len(outcomes) > S * A * E:
            raise ModelError(f"{f}.outcome", f"{len(outcomes)} entries for {S * A * E} (state, action, action) triples")
        for i, o in enumerate(outcomes):
            fld = f"{f}.outcome[{i}]"
            if isinstance(o, dict):
                o = mapping(o, fld, required=("state", "principal", "agent", "payoff"))
                o = (o["state"], o["principal"], o["agent"], o["payoff"])
            if not isinstance(o, (tuple, list)) or len(o) != 4:
                raise ModelError(fld, "expected state, principal, agent and payoff")
            s, a, e, pay = o
            for key, val, table in (("state", s, idx_s), ("principal", a, idx_a), ("agent", e, idx_e)):
                if not isinstance(val, str) or val not in table:
                    raise ModelError(f"{fld}.{key}", f"unknown name {val!r}; known: {', '.join(table)}")
            pay = sequence(pay, f"{fld}.payoff")
            if len(pay) != 2:
                raise ModelError(f"{fld}.payoff", f"expected [principal, agent], got {len(pay)} numbers")
            up = real(pay[0], f"{fld}.payoff[0]")
            ua = real(pay[1], f"{fld}.payoff[1]")
            si, ai, ei = idx_s[s], idx_a[a], idx_e[e]
            if feas[si, ai, ei]:
                raise ModelError(fld, f"({s}, {a}, {e}) is listed twice")
            feas[si, ai, ei] = True
            uP[si, ai, ei], uA[si, ai, ei] = up, ua
        for si in range(S):
            for ai in range(A):
                if not feas[si, ai].any():
                    raise ModelError(f"{f}.outcome", f"state {states[si]!r} after principal action {pa[ai]!r} "
                                                     "has no feasible agent action; list at least one")
        if not isinstance(name, str):
            raise ModelError("name", "expected a string")
        return cls(states, prob, pa, ea, feas, uP, uA, messages, dict(modes or {}), name)

    @classmethod
    def from_dict(cls, raw: dict, field_prefix: str = "stage") -> "StageGame":
        f = field_prefix
        raw = mapping(raw, f, required=("states", "prob", "principal_actions", "agent_actions", "outcome"),
                      optional=("messages", "modes"))
        modes = {}
        if "modes" in raw:
            modes = _parse_modes(raw["modes"], f"{f}.modes", raw)
        return cls.create(raw["states"], raw["prob"], raw["principal_actions"], raw["agent_actions"],
                          raw["outcome"], messages=raw.get("messages", False), modes=modes, field_prefix=f)

    # ---- helpers ----------------------------------------------------------------------------
    def behaviour_name(self, key: tuple) -> str:
        """The mode name of a behaviour ((a, e) by state), or a readable description."""
        if key in self.modes:
            return self.modes[key]
        return "; ".join(f"{s}: {self.principal_actions[a]}/{self.agent_actions[e]}"
                         for s, (a, e) in zip(self.states, key))

    def static_best_response(self, s: int, a: int) -> int:
        """The agent's myopic best action in state s after a (first among ties)."""
        u = np.where(self.feasible[s, a], self.u_agent[s, a], -np.inf)
        return int(np.argmax(u))

    def to_dict(self) -> dict:
        out = []
        for s, a, e in zip(*np.nonzero(self.feasible)):
            out.append({"state": self.states[s], "principal": self.principal_actions[a],
                        "agent": self.agent_actions[e],
                        "payoff": [float(self.u_principal[s, a, e]), float(self.u_agent[s, a, e])]})
        return {"states": list(self.states), "prob": self.prob.tolist(), "messages": self.messages,
                "principal_actions": list(self.principal_actions), "agent_actions": list(self.agent_actions),
                "outcome": out}


def _parse_modes(raw, fld, game_raw) -> dict:
    """``modes = {Name = {state = "principal/agent", ...}}`` → behaviour keys."""
    raw = mapping(raw, fld, optional=tuple(raw) if isinstance(raw, dict) else ())
    states = list(game_raw.get("states", []))
    pa = list(game_raw.get("principal_actions", []))
    ea = list(game_raw.get("agent_actions", []))
    out = {}
    for name, beh in raw.items():
        f2 = f"{fld}.{name}"
        beh = mapping(beh, f2, required=tuple(s for s in states if isinstance(s, str)))
        key = []
        for s in states:
            v = beh[s]
            if not isinstance(v, str) or v.count("/") != 1:
                raise ModelError(f"{f2}.{s}", f"expected 'principal_action/agent_action', got {v!r}")
            a, e = v.split("/")
            if a not in pa or e not in ea:
                raise ModelError(f"{f2}.{s}", f"unknown action in {v!r}")
            key.append((pa.index(a), ea.index(e)))
        out[tuple(key)] = str(name)
    return out


# ---------------------------------------------------------------------------------------
# the power-dynamics games of Li, Matouschek & Powell
# ---------------------------------------------------------------------------------------
LMP_VARIANTS = ("trust", "lecture", "commitment")


def lmp_game(variant: str, B: float, b: float, p: float, exposure: float | None = None,
             annihilation: float | None = None) -> StageGame:
    r"""The stage game of the power-dynamics model (Li, Matouschek & Powell 2017).

    States: the principal-preferred project is ``available`` (probability ``p``) or
    ``unavailable``; only the agent knows which.  Projects (payoffs principal, agent):
    default ``(0, 0)``; principal-preferred ``(B, b)`` (only when available);
    agent-preferred ``(x, B)`` with ``x = exposure``.

    * ``trust`` / ``commitment``: the principal first *centralises* (the default
      project) or *empowers* the agent, who then picks any available project
      (principal-preferred, agent-preferred or default).  Default ``exposure = 0``:
      empowering pays the principal only when the agent picks her project.
    * ``lecture``: the agent recommends a project (cheap talk) and the principal
      picks it herself — ``default``, ``agent`` (always possible), ``principal``
      (yields the default when unavailable); ``exposure`` defaults to ``b``, the
      table in which the agent-preferred project pays the principal ``b > 0``.
      ``annihilation`` adds the off-path action "total annihilation" with payoffs
      ``(annihilation, annihilation)`` (a large negative number stands for −∞).
    """
    if variant not in LMP_VARIANTS:
        raise ModelError("variant", f"must be one of {', '.join(map(repr, LMP_VARIANTS))}, got {variant!r}")
    B = real(B, "lmp.B")
    b = real(b, "lmp.b", lo=0, lo_open=True)
    if not B > b:
        raise ModelError("lmp.B", f"need B > b > 0, got B={B:g}, b={b:g}")
    p = real(p, "lmp.p", lo=0, hi=1, lo_open=True, hi_open=True)
    if exposure is None:
        exposure = b if variant == "lecture" else 0.0
    x = real(exposure, "lmp.exposure")
    if not x < B:
        raise ModelError("lmp.exposure", f"the agent-preferred project must pay the principal less than B={B:g}")
    states = ("available", "unavailable")
    if variant == "lecture":
        acts = ["default", "agent_project", "principal_project"]
        out = []
        for s in states:
            out += [(s, "default", "none", (0.0, 0.0)), (s, "agent_project", "none", (x, B)),
                    (s, "principal_project", "none", (B, b) if s == "available" else (0.0, 0.0))]
        if annihilation is not None:
            z = real(annihilation, "lmp.annihilation", hi=0, hi_open=True)
            acts.append("annihilation")
            out += [(s, "annihilation", "none", (z, z)) for s in states]
        d, ag, pp = 0, 1, 2
        modes = {((pp, 0), (ag, 0)): "cooperative empowerment", ((pp, 0), (d, 0)): "restricted empowerment",
                 ((ag, 0), (ag, 0)): "unrestricted empowerment", ((d, 0), (d, 0)): "centralisation"}
        return StageGame.create(states, [p, 1 - p], acts, ["none"], out, messages=True, field_prefix="lmp",
                                modes=modes, name="Li–Matouschek–Powell, lecture payoffs")
    if annihilation is not None:
        raise ModelError("lmp.annihilation", "only the lecture variant has the annihilation action")
    out = [(s, "centralise", "none", (0.0, 0.0)) for s in states]
    out += [("available", "empower", "principal_project", (B, b))]
    out += [(s, "empower", "agent_project", (x, B)) for s in states]
    out += [(s, "empower", "default", (0.0, 0.0)) for s in states]
    C, Em = 0, 1
    none, pp, ap, d = 0, 1, 2, 3
    modes = {((Em, pp), (Em, ap)): "cooperative empowerment", ((Em, pp), (Em, d)): "restricted empowerment",
             ((Em, ap), (Em, ap)): "unrestricted empowerment", ((C, none), (C, none)): "centralisation"}
    return StageGame.create(states, [p, 1 - p], ["centralise", "empower"],
                            ["none", "principal_project", "agent_project", "default"], out, messages=False,
                            field_prefix="lmp", modes=modes, name="Li–Matouschek–Powell trust game")


# ---------------------------------------------------------------------------------------
# plans
# ---------------------------------------------------------------------------------------
def set_partitions(items: tuple[int, ...]) -> list[tuple[tuple[int, ...], ...]]:
    """All set partitions of ``items`` (cells ordered by their smallest element)."""
    if not items:
        return [()]
    first, rest = items[0], items[1:]
    out = []
    for part in set_partitions(rest):
        out.append(((first,),) + part)
        for i in range(len(part)):
            out.append(part[:i] + ((first,) + part[i],) + part[i + 1:])
    return [tuple(sorted(p, key=min)) for p in out]


@dataclass
class Plans:
    r"""Every pure plan of a stage game, as index arrays.

    ``Q`` plans and ``O`` outcomes (an outcome is a public event of one plan: its
    message cell and the agent's action there; the principal's action is the
    cell's).  Per plan and state: ``cell[q, s]``, ``action[q, s]``, ``agent[q, s]``,
    ``outcome[q, s]``.  Per outcome: ``out_plan``, ``out_cell``, ``out_action``,
    ``out_agent``.  ``partition[q]`` indexes ``partitions`` (lists of cells);
    ``cell_states[q][c]`` the states of plan q's cell c; ``cell_action[q][c]``.
    ``behaviour[q]``: the tuple of ``(a, e)`` by state.
    """

    game: StageGame
    partitions: list
    partition: np.ndarray
    cell: np.ndarray
    action: np.ndarray
    agent: np.ndarray
    outcome: np.ndarray
    out_plan: np.ndarray
    out_cell: np.ndarray
    out_action: np.ndarray
    out_agent: np.ndarray
    cell_states: list
    cell_action: list
    behaviour: list

    @property
    def Q(self) -> int:
        return int(self.partition.size)

    @property
    def O(self) -> int:  # noqa: E743
        return int(self.out_plan.size)

    def stage_payoffs(self) -> tuple[np.ndarray, np.ndarray]:
        """Expected stage payoffs (agent, principal) of every plan, shape (Q,)."""
        g = self.game
        s = np.arange(g.n_states)[None, :]
        uA = (g.u_agent[s, self.action, self.agent] * g.prob).sum(axis=1)
        uP = (g.u_principal[s, self.action, self.agent] * g.prob).sum(axis=1)
        return uA, uP

    def names(self) -> list[str]:
        return [self.game.behaviour_name(k) for k in self.behaviour]

    def describe(self, q: int) -> dict[str, Any]:
        g = self.game
        cells = [[g.states[s] for s in c] for c in self.cell_states[q]]
        return {"mode": self.game.behaviour_name(self.behaviour[q]), "messages": cells,
                "principal": {g.states[s]: g.principal_actions[self.action[q, s]] for s in range(g.n_states)},
                "agent": {g.states[s]: g.agent_actions[self.agent[q, s]] for s in range(g.n_states)}}


def enumerate_plans(game: StageGame, limit: int = MAX_PLANS) -> Plans:
    """All pure plans (module docstring); ``limit`` guards the enumeration's size."""
    S, A = game.n_states, len(game.principal_actions)
    parts = set_partitions(tuple(range(S))) if game.messages else [(tuple(range(S)),)]
    # responses of a cell: the principal's action and a feasible agent action per state
    resp_cache: dict[tuple, list] = {}

    def responses(cell):
        if cell not in resp_cache:
            rs = []
            for a in range(A):
                choices = [np.nonzero(game.feasible[s, a])[0].tolist() for s in cell]
                rs += [(a, es) for es in itertools.product(*choices)]
            resp_cache[cell] = rs
        return resp_cache[cell]

    def n_responses(cell) -> int:         # counted without listing them
        return sum(int(np.prod([game.feasible[s, a].sum() for s in cell], dtype=float)) for a in range(A))

    total = 0
    for part in parts:
        n = 1
        for c in part:
            n *= n_responses(c)
        total += n
        if total > limit:
            raise ModelError("stage", f"the stage game has more than {limit} pure one-period plans "
                                      "(partitions × actions); reduce its actions or states")
    rows = []
    for pi, part in enumerate(parts):
        for combo in itertools.product(*[responses(c) for c in part]):
            rows.append((pi, part, combo))
    Q = len(rows)
    cell = np.zeros((Q, S), np.int64)
    action = np.zeros((Q, S), np.int64)
    agent = np.zeros((Q, S), np.int64)
    outcome = np.zeros((Q, S), np.int64)
    out_plan, out_cell, out_action, out_agent = [], [], [], []
    partition = np.zeros(Q, np.int64)
    cell_states, cell_action, behaviour = [], [], []
    for q, (pi, part, combo) in enumerate(rows):
        partition[q] = pi
        cell_states.append(part)
        cell_action.append(tuple(a for a, _ in combo))
        for ci, (c, (a, es)) in enumerate(zip(part, combo)):
            seen: dict[int, int] = {}
            for s, e in zip(c, es):
                cell[q, s], action[q, s], agent[q, s] = ci, a, e
                if e not in seen:
                    seen[e] = len(out_plan)
                    out_plan.append(q)
                    out_cell.append(ci)
                    out_action.append(a)
                    out_agent.append(e)
                outcome[q, s] = seen[e]
        behaviour.append(tuple((int(action[q, s]), int(agent[q, s])) for s in range(S)))
    return Plans(game, [list(p) for p in parts], partition, cell, action, agent, outcome,
                 np.array(out_plan, np.int64), np.array(out_cell, np.int64), np.array(out_action, np.int64),
                 np.array(out_agent, np.int64), cell_states, cell_action, behaviour)
