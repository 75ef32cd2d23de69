r"""Feasibility of interim allocation rules: Border's inequalities for k identical units.

Bidders :math:`i = 1..N` have independent types :math:`\theta_i\in\Theta_i` with
probabilities :math:`f_i(\theta_i)`; each wants at most one of :math:`k` identical
units.  An *interim rule* :math:`Q_i(\theta_i)` (the probability that type
:math:`\theta_i` of bidder i gets a unit) is *feasible* when some ex-post rule
:math:`x(\theta)\in[0,1]^N`, :math:`\sum_i x_i(\theta)\le k`, has
:math:`E[x_i\mid\theta_i] = Q_i(\theta_i)`.  Write a pair :math:`e = (i,\theta_i)`,
:math:`z_e = f_i(\theta_i)Q_i(\theta_i)` and, for a set :math:`S` of pairs,
:math:`S_i = \{\theta_i : (i,\theta_i)\in S\}`.  Then (Border 1991 for one unit;
Che, Kim & Mierendorff 2013 for k units, by max-flow/min-cut)

.. math::

    Q \text{ feasible}\iff z(S) \le g(S) := E\big[\min(k, \#\{i:\theta_i\in S_i\})\big]
    \quad\text{for every } S,

and for :math:`k = 1`, :math:`g(S) = 1-\prod_i(1-f_i(S_i))`.  :math:`g` is
submodular, so the feasible :math:`z` form the polymatroid :math:`P(g)`.

*Separation by sorting.*  The most violated inequality is attained at a
*threshold set* :math:`S(c) = \{e : Q_e \ge c\}` (Cai, Daskalakis & Weinberg 2012;
Alaei, Fu, Haghpanah, Hartline & Malekian 2012): sort the pairs by :math:`Q`,
evaluate :math:`z(S)-g(S)` for each of the at most :math:`\sum_i|\Theta_i|`
prefixes.  :math:`g` of every prefix comes from the Poisson-binomial law of the
number of active bidders, a vectorised dynamic programme over bidders.

*Priority rules.*  A total order :math:`\pi` of a set :math:`U` of pairs defines
the ex-post rule "give the units to the (at most k) present pairs of :math:`U`
ranked highest".  Its interim allocation is the *greedy vertex* of :math:`P(g)`,

.. math::  z^\pi_e = g(\pi_{\prec e}\cup\{e\}) - g(\pi_{\prec e})
           = f_e\,\Pr\big[\#\{j\ne i: \theta_j\in\pi_{\prec e}\} < k\big],

a product :math:`f_e\prod_{j\ne i}(1-F_j)` over the other bidders when k = 1.

*Implementation* (:func:`decompose`): every feasible :math:`z` is a convex
combination of greedy vertices (Border's hierarchical allocations; Border 2007,
Cai–Daskalakis–Weinberg 2012).  The decomposition walks from the greedy vertex
:math:`v` of an order compatible with a maximal chain of the sets tight at
:math:`z` through :math:`z` to the boundary of :math:`P(g)`; the set hit there
becomes tight and refines the chain, so at most :math:`2\sum_i|\Theta_i|` steps
are needed (Carathéodory).  Every set in the chain stays tight, and with the
order compatible with a *maximal* chain of tight sets the walk always moves
(a set tight at :math:`z` is then a union of whole chain steps, on which
:math:`v` and :math:`z` agree).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Violations below this (relative to 1) count as feasible.
FEAS_TOL = 1e-12


@dataclass
class PriorityMixture:
    """A lottery over priority rules: weight ``weights[r]`` on the rule ``ranks[r]``.

    A rule gives every pair a priority class (0 first; −1 never served); present
    pairs of one class share the units left by a uniform lottery.
    """

    weights: np.ndarray
    ranks: list[np.ndarray]


class Border:
    """Border's inequalities for independent bidders and ``units`` identical units.

    ``probs``: one array of type probabilities per bidder.  Pairs are numbered
    bidder by bidder (``bidder[e]``, ``type_index[e]``, ``f[e]``).
    """

    def __init__(self, probs, units: int = 1):
        # float arrays, or object arrays of rationals for the exact rebuild of a certificate
        self.probs = [np.asarray(p) if np.asarray(p).dtype == object else np.asarray(p, float) for p in probs]
        self.N = len(self.probs)
        # k ≥ N units serve every present bidder: the same as N units (and the per-unit tables stay small)
        self.units = min(int(units), max(self.N, 1))
        self.sizes = np.array([p.size for p in self.probs])
        self.offsets = np.r_[0, np.cumsum(self.sizes)[:-1]]
        self.M = int(self.sizes.sum())
        self.bidder = np.repeat(np.arange(self.N), self.sizes)
        self.type_index = np.concatenate([np.arange(s) for s in self.sizes])
        self.f = np.concatenate(self.probs)

    # ---- the capacity function g ------------------------------------------------------
    def capacity(self, masses: np.ndarray) -> np.ndarray:
        r""":math:`E[\min(k, \sum_i B_i)]` for independent Bernoulli(:math:`F_i`); ``masses`` is (R, N).

        Rationals (object arrays) stay rational: the exact rebuild of a certificate uses this.
        """
        F = np.asarray(masses)
        k = self.units
        if F.dtype == object:
            return self._capacity_exact(F)
        F = np.clip(F.astype(float), 0.0, 1.0)
        if k >= self.N:
            return F.sum(axis=1)
        if k == 1:
            return 1.0 - np.prod(1.0 - F, axis=1)
        dist = _poisson_binomial(F, k)                  # (R, k): P(A = a), a < k
        return k - (dist * (k - np.arange(k))).sum(axis=1)

    def _capacity_exact(self, F: np.ndarray) -> np.ndarray:
        k = self.units
        out = np.empty(F.shape[0], object)
        for r in range(F.shape[0]):
            row = list(F[r])
            if k >= self.N:
                out[r] = sum(row[1:], row[0]) if row else 0
                continue
            dist = [1] + [0] * (k - 1)                  # P(A = a), a < k
            for p in row:
                new = [d * (1 - p) for d in dist]
                for a in range(1, k):
                    new[a] = new[a] + dist[a - 1] * p
                dist = new
            out[r] = k - sum((dist[a] * (k - a) for a in range(k)), 0)
        return out

    def below_k_excluding(self, F: np.ndarray) -> np.ndarray:
        r"""(R, N): :math:`\Pr[\#\{j\ne i: B_j\} < k]` for every row of masses ``F`` and bidder i."""
        R, N = F.shape
        k = self.units
        if k >= N:
            return np.ones((R, N))
        q = 1.0 - F
        if k == 1:
            left = np.ones((R, N))
            right = np.ones((R, N))
            left[:, 1:] = np.cumprod(q[:, :-1], axis=1)
            right[:, :-1] = np.cumprod(q[:, ::-1], axis=1)[:, ::-1][:, 1:]
            return left * right
        # k > 1: prefix and suffix Poisson-binomial laws truncated at k, then convolved
        pre = np.zeros((R, N + 1, k))
        suf = np.zeros((R, N + 1, k))
        pre[:, 0, 0] = 1.0
        suf[:, N, 0] = 1.0
        for j in range(N):
            pre[:, j + 1] = pre[:, j] * q[:, j:j + 1]
            pre[:, j + 1, 1:] += pre[:, j, :-1] * F[:, j:j + 1]
        for j in range(N - 1, -1, -1):
            suf[:, j] = suf[:, j + 1] * q[:, j:j + 1]
            suf[:, j, 1:] += suf[:, j + 1, :-1] * F[:, j:j + 1]
        out = np.zeros((R, N))
        for a in range(k):
            out += (pre[:, :N, a] * suf[:, 1:, :k - a].sum(axis=2))
        return out

    # ---- sets ---------------------------------------------------------------------------
    def masses(self, S: np.ndarray) -> np.ndarray:
        """(R, N) type masses of bidders in boolean set masks ``S`` (R, M)."""
        S = np.atleast_2d(S)
        exact = self.f.dtype == object
        out = np.zeros((S.shape[0], self.N), object if exact else float)
        for i in range(self.N):
            sl = slice(self.offsets[i], self.offsets[i] + self.sizes[i])
            if exact:
                out[:, i] = [sum(self.f[sl][row], 0) for row in S[:, sl]]
            else:
                out[:, i] = S[:, sl].astype(float) @ self.f[sl]
        return out

    def rhs(self, S: np.ndarray) -> np.ndarray:
        """:math:`g(S)` for boolean masks ``S`` (R, M)."""
        return self.capacity(self.masses(S))

    def row(self, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The inequality :math:`\\sum_{e\\in S} f_eQ_e \\le g(S)` as (pair indices, coefficients)."""
        idx = np.nonzero(S)[0]
        return idx, self.f[idx]

    # ---- separation ---------------------------------------------------------------------
    def _prefix_masses(self, order: np.ndarray) -> np.ndarray:
        """(len(order)+1, N): type masses of each bidder among the first j pairs of ``order``."""
        P = np.zeros((order.size + 1, self.N))
        P[1 + np.arange(order.size), self.bidder[order]] = self.f[order]
        return np.cumsum(P, axis=0)

    def threshold_profile(self, Q: np.ndarray):
        r"""Violations :math:`z(S)-g(S)` of the common threshold sets :math:`\{e: Q_e\ge c\}`.

        Returns ``(order, ends, viol)``: pairs sorted by Q (descending, stable),
        the prefix lengths that end a tie class, and the violation of each.
        (Common thresholds are necessary but, for asymmetric bidders, not
        sufficient; see :meth:`candidates`.)
        """
        Q = np.asarray(Q, float)
        order = np.argsort(-Q, kind="stable")
        Qs = Q[order]
        ends = np.r_[np.nonzero(Qs[1:] != Qs[:-1])[0] + 1, order.size]
        cz = np.r_[0.0, np.cumsum(self.f[order] * Qs)]
        P = self._prefix_masses(order)[ends]
        viol = cz[ends] - self.capacity(P)
        return order, ends, viol

    def _bidder_orders(self, Q: np.ndarray) -> list[np.ndarray]:
        """Each bidder's pairs sorted by Q (descending; stable)."""
        return [self.offsets[i] + np.argsort(-Q[self.offsets[i]:self.offsets[i] + self.sizes[i]], kind="stable")
                for i in range(self.N)]

    def candidates(self, Q: np.ndarray, with_path_length: bool = False):
        r"""Candidate sets for the most violated inequality, with their violations.

        A maximiser of :math:`z(S)-g(S)` takes from each bidder an *upper set* of
        its types by :math:`Q_i` (adding a type changes :math:`g` by
        :math:`f_i(	heta)\Pr[	ext{fewer than k others active}]`, whatever the type),
        so :math:`S` is given by cut levels :math:`a_i` (bidder i's :math:`a_i`
        highest types).  For one unit,

        .. math:: \max_S\, z(S)-g(S) = \max_a \sum_i Z_i(a_i) + \prod_i y_i(a_i) - 1,

        :math:`Z_i(a)` the top-:math:`a` mass of :math:`z`, :math:`y_i(a) = 1-F_i(a)`.
        Since :math:`e^s = \max_{\lambda>0}\lambda(s-\log\lambda+1)`, the maximum is
        :math:`\max_\lambdaig[\sum_i\max_{a}(Z_i(a)+\lambda\log y_i(a))
        +\lambda-\lambda\log\lambdaig]-1`, separable for fixed :math:`\lambda`; a
        maximiser :math:`a(\lambda^*)` of the inner problem at :math:`\lambda^*=\prod_iy_i(a^*)`
        is a maximiser of the outer one.  As :math:`\lambda` falls each :math:`a_i(\lambda)`
        walks up the upper concave envelope of the points :math:`(\log y_i(a), Z_i(a))`,
        so the path :math:`\{a(\lambda)\}` — at most :math:`\sum_i|\Theta_i|+1` sets, plus
        the set of all pairs — contains a most violated set.  *Common* thresholds
        :math:`\{e: Q_e\ge c\}` are not enough when bidders are asymmetric (the
        thresholds of a maximiser are :math:`\prod_{j
e i}y_j`, which differ by bidder).

        For k > 1 units the same path (with the k-unit :math:`g`), the common
        threshold sets and coordinate ascent from the best of them are searched;
        :meth:`exhaustive_max` enumerates all cut levels where that is small.

        Returns ``(levels, viol)``: (R, N) cut levels and the violation of each set
        (the first rows are the nested path sets; their number is returned too
        when ``with_path_length``).
        """
        Q = np.asarray(Q, float)
        z = self.f * Q
        orders = self._bidder_orders(Q)
        events_lam, events_bid, events_dz, events_ds, events_df = [], [], [], [], []
        hull_pts = []
        for i, o in enumerate(orders):
            Z = np.r_[0.0, np.cumsum(z[o])]
            F = np.r_[0.0, np.cumsum(self.f[o])]
            y = 1.0 - F
            ok = y > 1e-15
            a_idx = np.nonzero(ok)[0]
            s = np.log(y[a_idx])
            pts = _upper_envelope(s, Z[a_idx])          # indices into a_idx, a ascending
            a_h = a_idx[pts]
            hull_pts.append(a_h)
            if a_h.size > 1:
                dZ = np.diff(Z[a_h])
                ds = np.diff(np.log(y[a_h]))            # < 0
                events_lam.append(dZ / -ds)
                events_bid.append(np.full(dZ.size, i))
                events_dz.append(dZ)
                events_ds.append(ds)
                events_df.append(np.diff(F[a_h]))
        if events_lam:
            lam = np.concatenate(events_lam)
            bid = np.concatenate(events_bid)
            ev = np.argsort(-lam, kind="stable")
            bid = bid[ev]
            dz = np.concatenate(events_dz)[ev]
            ds = np.concatenate(events_ds)[ev]
            df = np.concatenate(events_df)[ev]
        else:
            bid = np.zeros(0, np.int64)
            dz = ds = df = np.zeros(0)
        # states along the path: state r has the first r events applied
        cnt = np.zeros((bid.size + 1, self.N), np.int64)
        cnt[1 + np.arange(bid.size), bid] = 1
        cnt = np.cumsum(cnt, axis=0)
        levels = np.stack([hull_pts[i][cnt[:, i]] for i in range(self.N)], axis=1)
        cz = np.r_[0.0, np.cumsum(dz)]
        if self.units == 1:
            viol = cz + np.exp(np.r_[0.0, np.cumsum(ds)]) - 1.0
        else:
            Fm = np.zeros((bid.size + 1, self.N))
            Fm[1 + np.arange(bid.size), bid] = df
            viol = cz - self.capacity(np.cumsum(Fm, axis=0))
        full = np.array([self.sizes])
        lev = [levels, full]
        vio = [viol, np.array([z.sum() - self.capacity(np.ones((1, self.N)))[0]])]
        if self.units > 1:
            # common thresholds and coordinate ascent from the best sets found
            order, ends, tv = self.threshold_profile(Q)
            S = np.zeros((ends.size, self.M), bool)
            pos = np.empty(self.M, np.int64)
            pos[order] = np.arange(self.M)
            S = pos[None, :] < ends[:, None]
            tl = self._levels_of(S, orders)
            lev.append(tl)
            vio.append(tv)
            allv = np.concatenate(vio)
            alll = np.concatenate(lev)
            best = np.argsort(-allv, kind="stable")[:8]
            for b in best:
                la = self._ascend(alll[b].copy(), z, orders)
                lev.append(la[None, :])
                vio.append(np.array([self.violation_of_levels(la[None, :], z, orders)[0]]))
        if with_path_length:
            return np.concatenate(lev), np.concatenate(vio), levels.shape[0]
        return np.concatenate(lev), np.concatenate(vio)

    def _levels_of(self, S: np.ndarray, orders) -> np.ndarray:
        """Cut levels (number of top types per bidder) of upper sets given as masks."""
        return np.stack([S[:, o].sum(axis=1) for o in orders], axis=1)

    def violation_of_levels(self, levels: np.ndarray, z: np.ndarray, orders) -> np.ndarray:
        Zc = [np.r_[0.0, np.cumsum(z[o])] for o in orders]
        Fc = [np.r_[0.0, np.cumsum(self.f[o])] for o in orders]
        Zs = sum(Zc[i][levels[:, i]] for i in range(self.N))
        F = np.stack([Fc[i][levels[:, i]] for i in range(self.N)], axis=1)
        return Zs - self.capacity(F)

    def _ascend(self, lev: np.ndarray, z: np.ndarray, orders, rounds: int = 50) -> np.ndarray:
        """Coordinate ascent on cut levels: each bidder's best cut given the others'."""
        Zc = [np.r_[0.0, np.cumsum(z[o])] for o in orders]
        Fc = [np.r_[0.0, np.cumsum(self.f[o])] for o in orders]
        for _ in range(rounds):
            changed = False
            for i in range(self.N):
                F = np.array([Fc[j][lev[j]] for j in range(self.N)])
                G1 = self.below_k_excluding(F[None, :])[0, i]       # ∂g/∂F_i
                gain = Zc[i] - G1 * Fc[i]
                a = int(np.argmax(gain))
                if gain[a] > gain[lev[i]] + 1e-15:
                    lev[i] = a
                    changed = True
            if not changed:
                break
        return lev

    def levels_to_set(self, levels: np.ndarray, Q: np.ndarray) -> np.ndarray:
        """Boolean mask of the set with the given cut levels (by each bidder's Q order)."""
        S = np.zeros(self.M, bool)
        for i, o in enumerate(self._bidder_orders(np.asarray(Q, float))):
            S[o[:int(levels[i])]] = True
        return S

    def exhaustive_max(self, Q: np.ndarray, limit: int = 200_000) -> float | None:
        """The exact largest violation over all cut levels (None when there are more than ``limit``)."""
        total = int(np.prod(self.sizes + 1, dtype=float))
        if total > limit:
            return None
        Q = np.asarray(Q, float)
        orders = self._bidder_orders(Q)
        grids = np.meshgrid(*[np.arange(s + 1) for s in self.sizes], indexing="ij")
        lev = np.stack([g.ravel() for g in grids], axis=1)
        return float(self.violation_of_levels(lev, self.f * Q, orders).max())

    def separate(self, Q: np.ndarray, tol: float = FEAS_TOL, max_sets: int = 1):
        """The most violated sets (boolean masks, most violated first) and the largest violation."""
        Q = np.asarray(Q, float)
        levels, viol = self.candidates(Q)
        worst = float(viol.max()) if viol.size else 0.0
        if worst <= tol:
            return [], worst
        cand = np.nonzero(viol > tol)[0]
        cand = cand[np.argsort(-viol[cand], kind="stable")]
        sets, seen = [], set()
        for c in cand:
            key = levels[c].tobytes()
            if key in seen:
                continue
            seen.add(key)
            sets.append(self.levels_to_set(levels[c], Q))
            if len(sets) >= max_sets:
                break
        return sets, worst

    def violated_chains(self, Q: np.ndarray, tol: float = FEAS_TOL):
        """The violated candidate sets as chains of nested sets, and the largest violation.

        Each chain is given by the position, for every pair, of the first set that
        holds it (−1: none).  The violated sets along the separation path are
        nested and make one chain; other violated candidates (k > 1) one chain each.
        """
        Q = np.asarray(Q, float)
        levels, viol, n_path = self.candidates(Q, with_path_length=True)
        worst = float(viol.max()) if viol.size else 0.0
        if worst <= tol:
            return [], worst
        chains = []
        orders = self._bidder_orders(Q)
        sel = np.nonzero(viol[:n_path] > tol)[0]
        if sel.size:
            cuts = levels[sel]
            first = np.full(self.M, -1, np.int64)
            for i, o in enumerate(orders):
                pos = np.searchsorted(cuts[:, i], np.arange(o.size), side="right")
                first[o] = np.where(pos < sel.size, pos, -1)
            chains.append(first)
        seen = set()
        for c in n_path + np.nonzero(viol[n_path:] > tol)[0]:
            key = levels[c].tobytes()
            if key in seen:
                continue
            seen.add(key)
            chains.append(np.where(self.levels_to_set(levels[c], Q), 0, -1).astype(np.int64))
        return chains, worst

    def most_violated(self, Q: np.ndarray):
        """(violation, mask) of the most violated candidate set."""
        levels, viol = self.candidates(Q)
        c = int(np.argmax(viol))
        return float(viol[c]), self.levels_to_set(levels[c], Q)

    def max_violation(self, Q: np.ndarray) -> float:
        _, viol = self.candidates(Q)
        return max(0.0, float(viol.max())) if viol.size else 0.0

    # ---- priority rules -----------------------------------------------------------------
    def vertex(self, rank: np.ndarray) -> np.ndarray:
        r"""Interim :math:`z` of the priority rule with classes ``rank`` (−1: never served).

        Pairs of a lower rank are served first; the present pairs of one class
        share the units left by a uniform lottery.  For a pair e of bidder i in
        class c, with :math:`A` the number of other bidders present in earlier
        classes and :math:`B` the number present in class c,

        .. math:: z_e = f_e \sum_{a<k,\,b}\Pr[A=a,B=b]\,\frac{\min(k-a,\,b+1)}{b+1},

        where each other bidder j is independently "earlier" with probability
        :math:`F_j` (its mass in earlier classes), "in c" with :math:`p_j`, else absent:
        products over bidders (for k = 1 and a class of one bidder,
        :math:`z_e = f_e\prod_{j\ne i}(1-F_j)`).  No profile is enumerated.
        """
        rank = np.asarray(rank, np.int64)
        z = np.zeros(self.M)
        served = np.nonzero(rank >= 0)[0]
        if served.size == 0:
            return z
        cls, cidx = np.unique(rank[served], return_inverse=True)
        C = cls.size
        p = np.zeros((C, self.N))
        np.add.at(p, (cidx, self.bidder[served]), self.f[served])
        before = np.cumsum(p, axis=0) - p                        # (C, N) masses in earlier classes
        nb = (p > 0).sum(axis=1)                                  # bidders present in each class
        single = nb[cidx] <= 1
        if single.any():
            e = served[single]
            below = self.below_k_excluding(before[cidx[single]])
            z[e] = self.f[e] * below[np.arange(e.size), self.bidder[e]]
        for c in np.nonzero(nb > 1)[0]:
            share = self._class_share(before[c], p[c])
            e = served[cidx == c]
            z[e] = self.f[e] * share[self.bidder[e]]
        return z

    def _class_share(self, F: np.ndarray, p: np.ndarray) -> np.ndarray:
        """(N,): probability that a present pair of bidder i in a tied class gets a unit."""
        k, N = self.units, self.N
        J = int((p > 0).sum())
        # state[i, a, b]: law of (A, B) over bidders j ≠ i processed so far; a = k means "≥ k"
        st = np.zeros((N, k + 1, J + 1))
        st[:, 0, 0] = 1.0
        eye = np.eye(N, dtype=bool)
        for j in range(N):
            Fj = np.where(eye[:, j], 0.0, F[j])[:, None, None]
            pj = np.where(eye[:, j], 0.0, p[j])[:, None, None]
            new = st * (1.0 - Fj - pj)
            new[:, 1:, :] += st[:, :-1, :] * Fj
            new[:, k, :] += st[:, k, :] * Fj[:, 0]
            new[:, :, 1:] += st[:, :, :-1] * pj
            st = new
        a = np.arange(k)[:, None]
        b = np.arange(J + 1)[None, :]
        gain = np.minimum(k - a, b + 1) / (b + 1)                 # (k, J+1)
        return (st[:, :k, :] * gain[None]).sum(axis=(1, 2))

    def interim(self, mix: PriorityMixture) -> np.ndarray:
        """Interim allocation :math:`Q` of a lottery over priority rules."""
        z = np.zeros(self.M)
        for w, r in zip(mix.weights, mix.ranks):
            z += w * self.vertex(r)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.f > 0, z / self.f, 0.0)

    def allocate(self, mix: PriorityMixture, profiles: np.ndarray) -> np.ndarray:
        """Ex-post allocation (P, N) of the lottery at type profiles (P, N) (type indices)."""
        profiles = np.atleast_2d(np.asarray(profiles, np.int64))
        P = profiles.shape[0]
        pair = self.offsets[None, :] + profiles                  # (P, N)
        x = np.zeros((P, self.N))
        for w, r in zip(mix.weights, mix.ranks):
            rk = r[pair]                                          # (P, N), −1 never served
            left = np.full(P, float(self.units))
            for c in np.unique(rk[rk >= 0]):
                here = rk == c
                b = here.sum(axis=1)
                share = np.where(b > 0, np.minimum(1.0, left / np.maximum(b, 1)), 0.0)
                x += w * here * share[:, None]
                left = np.maximum(0.0, left - b)
        return x

    def decompose(self, Q: np.ndarray, values: np.ndarray | None = None, tol: float = 1e-13,
                  max_steps: int | None = None) -> PriorityMixture:
        """Write the feasible interim rule ``Q`` as a lottery over priority orders (module docstring).

        ``values`` (per pair) break ties among equal Q in favour of higher values, so
        that every order ranks a bidder's higher types first when Q is monotone.
        The chain of tight sets is held as a level per pair (member k = pairs of
        level ≤ k); refining it by a tight set S splits every level by S.
        """
        Q = np.clip(np.asarray(Q, float), 0.0, 1.0)
        z = self.f * Q
        val = np.zeros(self.M) if values is None else np.asarray(values, float)
        max_steps = max_steps or 4 * self.M + 10
        level = self._tight_levels(z, tol)
        W = 1.0
        weights, ranks = [], []
        stalls = 0
        slack = tol                            # grows when round-off makes the residual infeasible
        for _ in range(max_steps):
            eps = min(1e-9, slack / W)        # residual round-off grows like 1/W
            Qz = np.where(self.f > 0, z / np.where(self.f > 0, self.f, 1.0), 0.0)
            rank = np.where(z > eps * self.f, level, -1)       # Q > eps: round-off in z_e scales with f_e
            v = self.vertex(rank)
            d = z - v
            if np.max(np.abs(d)) <= 10 * eps:                # z_e errors are absolute (rare types: large in Q)
                weights.append(W)
                ranks.append(_strict(rank, Qz, val))
                break
            t, S = self._line_search(z, d, eps)
            if S is not None:
                new = _split(level, S)
                changed = not np.array_equal(np.unique(level, return_inverse=True)[1],
                                             np.unique(new, return_inverse=True)[1])
                level = new
            else:
                changed = False
            if t <= 1e-15:
                stalls = 0 if changed else stalls + 1
                if stalls > 2:
                    worst = self.max_violation(Qz)
                    if worst > 1e-9 or slack > 1e-9:
                        raise ValueError("the interim rule is not feasible: a Border inequality is violated "
                                         f"by {worst:.3g}")
                    slack = max(slack, 2.0 * worst * W)   # round-off: accept sets this close as tight
                    stalls = 0
                continue
            weights.append(W * t / (1.0 + t))
            ranks.append(_strict(rank, Qz, val))
            z = np.maximum(z + t * d, 0.0)
            W = W / (1.0 + t)
        else:
            raise RuntimeError("priority decomposition did not finish")
        mix = PriorityMixture(np.asarray(weights), ranks)
        return self._polish(mix, self.f * Q)

    def _polish(self, mix: PriorityMixture, z: np.ndarray) -> PriorityMixture:
        """Re-fit the weights of the orders found to z by non-negative least squares.

        The walk accumulates round-off (each step divides the residual by 1 − weight);
        the orders are right, so refitting their weights removes it.
        """
        R = len(mix.ranks)
        if R > 600 or R == 1:
            return mix
        from scipy.optimize import nnls
        V = np.stack([self.vertex(r) for r in mix.ranks], axis=1)
        w, _ = nnls(V, z)
        if w.sum() <= 1.0 + 1e-12 and np.max(np.abs(V @ w - z)) <= np.max(np.abs(V @ mix.weights - z)):
            return PriorityMixture(w, mix.ranks)
        return mix

    def _tight_levels(self, z: np.ndarray, tol: float) -> np.ndarray:
        """Levels of a chain of sets tight at z, from the tight candidate sets.

        The sets along the λ-path are nested (each bidder's cut only grows as λ
        falls), so a pair's level is the first tight path set holding it; the few
        other candidates refine that chain one by one.
        """
        Q = np.where(self.f > 0, z / np.where(self.f > 0, self.f, 1.0), 0.0)
        levels, viol, n_path = self.candidates(Q, with_path_length=True)
        tight = np.nonzero(viol[:n_path] >= -tol)[0]
        level = np.zeros(self.M, np.int64)
        if tight.size:
            cuts = levels[tight]                                  # (T, N), non-decreasing down the rows
            for i, o in enumerate(self._bidder_orders(Q)):
                level[o] = np.searchsorted(cuts[:, i], np.arange(o.size), side="right")
            level = np.unique(level, return_inverse=True)[1].astype(np.int64)
        for c in n_path + np.nonzero(viol[n_path:] >= -tol)[0]:
            level = _split(level, self.levels_to_set(levels[c], Q))
        return level

    def _line_search(self, z: np.ndarray, d: np.ndarray, tol: float):
        """Largest t with z + t d in P(g) (violations ≤ tol·(1+t)) and ≥ 0; the blocking set.

        Dinkelbach's method over threshold sets: at a candidate t, the most violated
        threshold set S of z + t d gives the smaller candidate solving
        z(S) − g(S) + t d(S) = tol (1 + t).
        """
        neg = (d < 0) & (z > tol)
        t = float(np.min(z[neg] / -d[neg])) if neg.any() else 1e6
        S_block = None
        for _ in range(200):
            y = z + t * d
            Qy = np.where(self.f > 0, y / np.where(self.f > 0, self.f, 1.0), 0.0)
            viol, S = self.most_violated(Qy)
            if viol <= 4.0 * tol * (1.0 + t):    # the step below aims at tol: room for round-off
                break
            dz = float(d[S].sum())
            slack = tol + float(self.rhs(S[None, :])[0]) - float(z[S].sum())
            t_new = max(0.0, slack / (dz - tol)) if dz > tol else 0.0
            S_block = S
            if t_new >= t:
                break
            t = t_new
        return t, S_block


def _poisson_binomial(F: np.ndarray, k: int) -> np.ndarray:
    """(R, k): P(A = a) for a < k, A the number of successes of independent Bernoulli(F[r, :])."""
    R, N = F.shape
    dist = np.zeros((R, k))
    dist[:, 0] = 1.0
    for j in range(N):
        p = F[:, j:j + 1]
        new = dist * (1.0 - p)
        new[:, 1:] += dist[:, :-1] * p
        dist = new
    return dist


def _strict(rank: np.ndarray, Q: np.ndarray, val: np.ndarray) -> np.ndarray:
    """The rule's classes as stored: the chain classes (ties within a class are lotteries)."""
    out = np.full(rank.size, -1, np.int32)
    live = rank >= 0
    out[live] = np.unique(rank[live], return_inverse=True)[1]
    return out


def _split(level: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Refine the chain ``level`` by the tight set S: each level splits into its part in S, then the rest."""
    key = level * 2 + (~S).astype(np.int64)
    return np.unique(key, return_inverse=True)[1].astype(np.int64)


def _upper_envelope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""Indices of the points that maximise :math:`y + \lambda x` for some :math:`\lambda > 0`.

    ``x`` is non-increasing (log of the mass left out) and ``y`` non-decreasing (the
    mass of z taken).  With :math:`u = -x` increasing this is the part of the upper
    concave hull (Andrew's monotone chain) from the first point up to the highest one.
    """
    u = -np.asarray(x, float)
    y = np.asarray(y, float)
    hull: list[int] = []
    for j in range(u.size):
        if hull and u[j] <= u[hull[-1]]:          # same u (a type of probability 0): keep the higher y
            if y[j] >= y[hull[-1]]:
                hull.pop()
            else:
                continue
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (u[b] - u[a]) * (y[j] - y[a]) - (y[b] - y[a]) * (u[j] - u[a]) >= 0:
                hull.pop()
            else:
                break
        hull.append(j)
    out = [hull[0]]
    for j in hull[1:]:
        if y[j] > y[out[-1]]:
            out.append(j)
        else:
            break
    return np.array(out, np.int64)
