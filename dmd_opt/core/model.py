r"""The environment core: what every dynamic model of the package shares.

A dynamic model has agents :math:`i = 1..N` and periods :math:`t = 1..T` (a finite
horizon) or a stationary infinite horizon; in code periods are 0-based (``t = 0`` is the
first period) and a stationary model stores one period that stands for all.  It holds

* **type sets** :math:`\Theta_{i,t}` — finite, ordered, with real values and labels;
  a *profile* :math:`\theta_t = (\theta_{1,t}, \dots, \theta_{N,t})` is numbered by the
  C-order ravel index of its type indices (the last agent's type varies fastest), so
  period ``t`` has :math:`R_t = \prod_i |\Theta_{i,t}|` profiles;
* **decisions** :math:`A_t` — finite, labelled;
* a **type process** — a distribution of the first profile and, from period ``t`` to
  ``t+1``, a kernel :math:`\mu_t(\theta_{t+1}\mid\theta_t, a_t)` over profiles that may
  depend on the public decision; independent types are the special case
  :math:`\mu_t = \prod_i P_{i,t}(\theta_{i,t+1}\mid\theta_{i,t}, a_t)`;
* **flow utilities** :math:`u_{i,t}(a, \theta_t)` — with private values they depend on
  :math:`\theta_{i,t}` only — and a principal cost :math:`c_t(a)`;
* a **discount factor** :math:`\delta` applied as :math:`\delta^{t}` to period ``t``
  (0-based), so period 1 is undiscounted.

:class:`DynamicModel` implements the shared part once: horizon and period bookkeeping,
profile index arithmetic, labels, reading histories of reports, and the joint views of
the process and utilities that the verifiers and dynamic programs work on.  Three
specialisations keep only their own fields:

* :class:`dmd_opt.core.environment.Environment` — independent Markov types per agent,
  private values, the quantity (Mussa–Rosen) family;
* :class:`dmd_opt.core.joint.JointModel` — a joint, possibly correlated, profile process
  (private or interdependent values), the state space of efficient mechanisms;
* :class:`dmd_opt.families.contingent.environment.ContingentEnvironment` — interdependent
  values with a joint signal process and a rule for the last period.

A subclass provides ``horizon``, ``discount``, ``name``, ``agent_names``,
``decision_labels`` (one tuple per stored period), :meth:`type_values`,
:meth:`type_labels`, ``initial`` (the first-profile distribution), :meth:`kernel`,
:meth:`profile_utility` and :meth:`cost`.  Extension points for further primitives:
:func:`check_discount` (the admissible discount range), :meth:`profile_utility` and
:meth:`own_type_utility` (where a utility that depends on more than the current type
would be read), :meth:`kernel` / ``initial`` (where any joint process plugs in), and the
``independent`` / ``interdependent`` / :attr:`decision_dependent` flags the verifiers
dispatch on.

Histories
---------
:meth:`DynamicModel.parse_history` reads a history of reports in any of these forms and
returns the type index of every agent in every period, shape ``(t + 1, N)``:

* one agent: a string of labels ``"LLH"`` (when the labels split it in one way only),
  labels joined by ``"|"`` as in ``"L|L|H"``, or a sequence ``("L", "L", "H")``;
  integers are type indices;
* several agents: a sequence of per-period profiles ``(("H", "L"), ("L", "L"))``, each
  profile a tuple of the agents' labels (or a string such as ``"HL"`` when every label
  is one character), or the table form ``"(H,L)|(L,L)"`` of
  :meth:`dmd_opt.core.tree.HistoryTree.history_labels`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from dmd_opt.core.limits import check_periods
from dmd_opt.core import validation as V
from dmd_opt.core.errors import ModelError


def check_discount(value: Any, field: str, *, horizon: int | None) -> float:
    r"""The discount factor: :math:`\delta \in (0, 1]` for a finite horizon, :math:`(0, 1)` for an
    infinite one.

    Undiscounted finite-horizon models (sequential screening, Athey–Segal's trading game)
    are stated with :math:`\delta = 1`; an infinite horizon needs :math:`\delta < 1` for values
    to be finite."""
    return V.real(value, field, lo=0.0, hi=1.0, lo_open=True, hi_open=horizon is None)


def check_horizon(value: Any, field: str) -> int | None:
    """A horizon: an integer ``T >= 1`` within the ``periods`` limit, or ``"infinite"`` (returned as ``None``)."""
    if isinstance(value, str) and value == "infinite":
        return None
    T = V.integer(value, field, lo=1)
    check_periods(field, T)
    return T


class DynamicModel:
    """Shared core of every environment type (see the module docstring)."""

    #: types are independent across agents (the kernel is a product of the agents' kernels)
    independent: bool = True
    #: utilities depend on the whole profile, not only on the agent's own type
    interdependent: bool = False

    # ---- horizon and periods --------------------------------------------------------
    @property
    def stationary(self) -> bool:
        """True for a stationary infinite horizon (``horizon is None``)."""
        return self.horizon is None

    @property
    def periods(self) -> int:
        """Number of stored periods: the horizon ``T``, or 1 when stationary."""
        return 1 if self.horizon is None else int(self.horizon)

    @property
    def steps(self) -> int:
        """Number of stored transitions: ``T - 1``, or 1 when stationary."""
        return 1 if self.horizon is None else int(self.horizon) - 1

    def period_index(self, t: int) -> int:
        """Index of the stored data of period ``t`` (0 for every ``t`` when stationary)."""
        return 0 if self.horizon is None else int(t)

    # ---- agents and types -----------------------------------------------------------
    @property
    def n_agents(self) -> int:
        return len(self.agent_names)

    @property
    def N(self) -> int:
        return self.n_agents

    def n_types(self, i: int, t: int) -> int:
        return len(self.type_values(i, t))

    def profile_shape(self, t: int) -> tuple[int, ...]:
        """:math:`(|\\Theta_{1,t}|, \\dots, |\\Theta_{N,t}|)`."""
        return tuple(self.n_types(i, t) for i in range(self.n_agents))

    def n_profiles(self, t: int) -> int:
        """:math:`R_t`, the number of type profiles in period ``t``."""
        return int(np.prod(self.profile_shape(t), dtype=np.int64))

    def profile_digits(self, t: int) -> np.ndarray:
        """(R_t, N): the type index of every agent in every profile of period ``t``."""
        shape = self.profile_shape(t)
        if not shape:
            return np.zeros((1, 0), dtype=np.int64)
        return _digits(shape)

    def profile_index(self, digits, t: int) -> np.ndarray:
        """Profile numbers of type-index rows ``digits`` (..., N) in period ``t``."""
        d = np.asarray(digits, dtype=np.int64)
        return np.ravel_multi_index(tuple(np.moveaxis(d, -1, 0)), self.profile_shape(t))

    def with_own_type(self, i: int, t: int) -> np.ndarray:
        """(R_t, n_{i,t}): the profile obtained from each profile by giving agent ``i`` each type."""
        d = self.profile_digits(t)
        n = self.n_types(i, t)
        out = np.repeat(d[:, None, :], n, axis=1)
        out[:, :, i] = np.arange(n)[None, :]
        return self.profile_index(out, t)

    def profile_label(self, t: int, k: int) -> str:
        """``"(H,L)"`` for several agents, ``"H"`` for one."""
        d = self.profile_digits(t)[int(k)]
        labs = [self.type_labels(i, t)[d[i]] for i in range(self.n_agents)]
        return labs[0] if self.n_agents == 1 else "(" + ",".join(labs) + ")"

    # ---- decisions ------------------------------------------------------------------
    def decisions(self, t: int) -> tuple[str, ...]:
        """Labels of the decisions :math:`A_t`."""
        return tuple(self.decision_labels[self.period_index(t)])

    def n_decisions(self, t: int) -> int:
        return len(self.decision_labels[self.period_index(t)])

    # ---- joint views of the process and utilities -----------------------------------
    @property
    def decision_dependent(self) -> bool:
        """True when some kernel differs across decisions."""
        for t in range(self.steps):
            K = self.kernel(t)
            if K.shape[0] > 1 and float(np.ptp(K, axis=0).max()) > 0:
                return True
        return False

    def own_type_utility(self, i: int, t: int) -> np.ndarray:
        r"""(R_t, n_{i,t}, |A_t|): :math:`u_{i,t}(a, (\theta_i, \theta_{-i}))` for the others'
        types of each profile and every own type :math:`\theta_i` — what agent ``i`` gets
        from a decision when the others report truthfully and it holds type :math:`\theta_i`."""
        return self.profile_utility(i, t)[self.with_own_type(i, t)]

    def agent_initial(self, i: int) -> np.ndarray:
        """(n_{i,0},): the marginal distribution of agent ``i``'s first type."""
        shape = self.profile_shape(0)
        p = np.asarray(self.initial, float).reshape(shape)
        return p.sum(axis=tuple(j for j in range(len(shape)) if j != i))

    def agent_transition(self, i: int, t: int) -> np.ndarray:
        """(n_{i,t}, n_{i,t+1}): agent ``i``'s own Markov matrix; needs independent types whose
        law does not depend on the decision."""
        raise ModelError("agents", f"{type(self).__name__} has no per-agent transition matrices")

    # ---- histories ------------------------------------------------------------------
    def parse_history(self, history) -> np.ndarray:
        """Type indices (t + 1, N) of a history of reports (forms in the module docstring)."""
        return parse_history(history, self.n_agents, self.type_labels,
                             None if self.horizon is None else int(self.horizon))

    def history_label(self, digits: np.ndarray) -> str:
        """Readable form ``"H|L"`` / ``"(H,L)|(L,L)"`` of a history given as type indices."""
        parts = []
        for s, row in enumerate(np.asarray(digits, dtype=np.int64)):
            labs = [self.type_labels(i, s)[row[i]] for i in range(self.n_agents)]
            parts.append(labs[0] if self.n_agents == 1 else "(" + ",".join(labs) + ")")
        return "|".join(parts)


def unravel(index, dims) -> tuple:
    """``np.unravel_index(index, dims)`` for any number of axes.

    numpy stops at 64 axes, and a history over many periods can have more (a persistent type
    keeps one "profile" per period for thousands of periods).  Axes of size 1 always carry
    digit 0 and are skipped; the rest multiply to at most the tree's node count, so they are
    few."""
    dims = [int(n) for n in dims]
    index = np.asarray(index)
    big = [j for j, n in enumerate(dims) if n != 1]
    sub = np.unravel_index(index, [dims[j] for j in big]) if big else ()
    out = [np.zeros_like(index)] * len(dims)
    for j, d in zip(big, sub):
        out[j] = d
    if not big and np.any(index != 0):
        raise ValueError("index out of bounds")
    return tuple(out)


def ravel(multi, dims):
    """``np.ravel_multi_index(multi, dims)`` for any number of axes (see :func:`unravel`)."""
    dims = [int(n) for n in dims]
    multi = tuple(multi)
    big = [j for j, n in enumerate(dims) if n != 1]
    if not big:
        return np.zeros_like(np.asarray(multi[0])) if multi else 0
    return np.ravel_multi_index(tuple(multi[j] for j in big), [dims[j] for j in big])


@lru_cache(maxsize=64)
def _digits_cached(shape: tuple[int, ...]) -> np.ndarray:
    d = np.stack(np.unravel_index(np.arange(int(np.prod(shape, dtype=np.int64))), shape), axis=-1)
    d.setflags(write=False)
    return d


def _digits(shape: tuple[int, ...]) -> np.ndarray:
    return _digits_cached(tuple(int(n) for n in shape))


def kron_all(mats: Sequence[np.ndarray]) -> np.ndarray:
    """Kronecker product of a list of matrices (the 1×1 identity for an empty list)."""
    out = np.ones((1, 1))
    for m in mats:
        out = np.kron(out, m)
    return out


def product_kernel(agent_kernels: Sequence[np.ndarray], n_decisions: int) -> np.ndarray:
    r"""Joint kernel of independent agents: per-agent (|A|, n_j, n_j') → (|A|, R, R'),
    :math:`\mu(\theta'\mid\theta,a) = \prod_j P_j(\theta_j'\mid\theta_j,a)` in C order."""
    if not agent_kernels:
        return np.ones((n_decisions, 1, 1))
    return np.stack([kron_all([k[a] for k in agent_kernels]) for a in range(n_decisions)])


# ------------------------------------------------------------------ reading histories
def parse_history(history, n_agents: int, labels, horizon: int | None = None) -> np.ndarray:
    """Type indices (t + 1, N) of ``history``; ``labels(i, t)`` gives agent i's labels in period t.

    Raises :class:`KeyError` naming the offending entry when a label is unknown or the
    history is longer than the horizon."""
    periods = _split_periods(history, n_agents, labels)
    if not periods:
        raise KeyError("empty history: give at least the first period's reports")
    if horizon is not None and len(periods) > horizon:
        raise KeyError(f"history of {len(periods)} periods is longer than the horizon {horizon}")
    out = np.empty((len(periods), n_agents), dtype=np.int64)
    for t, prof in enumerate(periods):
        if len(prof) != n_agents:
            raise KeyError(f"period {t + 1}: {len(prof)} reports for {n_agents} agents")
        for i, lab in enumerate(prof):
            out[t, i] = _type_index(lab, labels(i, t), i, t)
    return out


def _type_index(lab, labs: Sequence[str], i: int, t: int) -> int:
    if isinstance(lab, (int, np.integer)) and not isinstance(lab, bool):
        if 0 <= int(lab) < len(labs):
            return int(lab)
        raise KeyError(f"period {t + 1}, agent {i + 1}: type index {lab} out of range 0..{len(labs) - 1}")
    lab = str(lab).strip()
    if lab in labs:
        return labs.index(lab)
    raise KeyError(f"period {t + 1}, agent {i + 1}: unknown type {lab!r}; types are {', '.join(labs)}")


def _split_periods(history, n_agents: int, labels) -> list[tuple]:
    """Normalise ``history`` to a list of per-period report tuples (labels or indices)."""
    if isinstance(history, (int, np.integer)) and not isinstance(history, bool):
        history = (history,)
    if isinstance(history, str):
        s = history.strip()
        if "|" in s or "(" in s:
            return [_split_profile(p.strip().strip("()"), n_agents, labels, t)
                    for t, p in enumerate(s.split("|"))]
        if n_agents == 1:
            return [(x,) for x in _split_labels(s, labels)]
        return [_split_profile(s, n_agents, labels, 0)]
    seq = list(history)
    if n_agents == 1:
        return [(x[0],) if isinstance(x, (tuple, list)) and len(x) == 1 else (x,) for x in seq]
    return [_split_profile(p, n_agents, labels, t) if isinstance(p, str) else tuple(p)
            for t, p in enumerate(seq)]


def _split_profile(p: str, n_agents: int, labels, t: int) -> tuple:
    """One period's profile from ``"H,L"`` or, with one-character labels, ``"HL"``."""
    if "," in p:
        return tuple(x.strip() for x in p.split(","))
    if n_agents == 1:
        return (p,)
    if len(p) == n_agents and all(len(x) == 1 for i in range(n_agents) for x in labels(i, t)):
        return tuple(p)
    raise KeyError(f"period {t + 1}: cannot split {p!r} into {n_agents} reports; write ('H', 'L') or 'H,L'")


def _split_labels(s: str, labels) -> list[str]:
    """Split a concatenation of one agent's labels (``"LLH"``) in the unique possible way."""
    ways: list[list[str]] = []
    beyond = []

    def walk(pos: int, t: int, acc: list[str]) -> None:
        if len(ways) > 1:
            return
        if pos == len(s):
            ways.append(list(acc))
            return
        try:
            labs = labels(0, t)
        except IndexError:           # past the last period of a finite horizon
            beyond.append(t)
            return
        for lab in labs:
            if lab and s.startswith(lab, pos):
                walk(pos + len(lab), t + 1, acc + [lab])

    walk(0, 0, [])
    if len(ways) == 1:
        return ways[0]
    if not ways and beyond:
        raise KeyError(f"{s!r} reads as a history longer than the horizon {min(beyond)}")
    if not ways:
        raise KeyError(f"cannot read {s!r} as a sequence of type labels; write them as a tuple or joined by '|'")
    raise KeyError(f"{s!r} splits into type labels in more than one way; write them as a tuple or joined by '|'")
