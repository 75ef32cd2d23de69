r"""The feasibility half of a reduced-form certificate: the interim rule is implementable.

The final reduced-form LP holds only the Border inequalities generated lazily, so
its optimum is a relaxation's.  It is the optimum of the full program once its
interim rule :math:`Q^*` is shown to satisfy *every* Border inequality.  The
certificate records the ex-post rule that implements :math:`Q^*` — a lottery over
priority rules (:class:`~dmd_opt.families.revenue.border.PriorityMixture`) — and
the check recomputes that rule's interim allocation without any solver:

* **exactly**, when the LP optimum was certified in rational arithmetic: the
  interim allocation :math:`v^r` of every recorded rule is computed in rationals
  (products over bidders), the lottery weights are re-solved exactly from
  :math:`\sum_r w_r v^r = f\cdot Q^*`, and the check asks that the solution have
  :math:`w\ge0`, :math:`\sum_r w_r\le1` and satisfy *every* equation.  Then
  :math:`Q^*` is the interim rule of an explicit ex-post allocation, hence
  feasible — a constructive proof of all Border inequalities at once (and a
  stronger statement than a list of checked threshold sets);
* **in floating point** otherwise: the recorded weights' interim allocation must
  match :math:`Q^*` within 1e-11 in probability mass per type.
"""

from __future__ import annotations

import numpy as np

from dmd_opt.core import validation as V
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.border import PriorityMixture

#: Largest recorded implementation a certificate may carry (rules × types).
MAX_RULE_ENTRIES = 20_000_000


def parse_implementation(impl, M: int) -> PriorityMixture:
    """Validate a recorded lottery over priority rules (``{"weights": [...], "ranks": [[...]]}``)."""
    V.mapping(impl, "implementation", required=("weights", "ranks"))
    w = V.sequence(impl["weights"], "implementation.weights")
    ranks = V.sequence(impl["ranks"], "implementation.ranks")
    if len(w) != len(ranks):
        raise ModelError("implementation", f"{len(w)} weights for {len(ranks)} rules")
    if len(ranks) * M > MAX_RULE_ENTRIES:
        raise ModelError("implementation.ranks", "too many recorded rules for this model")
    weights = np.array([V.real(x, f"implementation.weights[{k}]", lo=0.0) for k, x in enumerate(w)])
    out = []
    for k, r in enumerate(ranks):
        seq = V.sequence(r, f"implementation.ranks[{k}]", nonempty=False)
        if len(seq) != M or not all(isinstance(x, int) and not isinstance(x, bool) for x in seq):
            raise ModelError(f"implementation.ranks[{k}]", f"expected {M} integers (a class per bidder type)")
        a = np.asarray(seq, np.int64)
        if a.size and (a.min() < -1 or a.max() > M):
            raise ModelError(f"implementation.ranks[{k}]", "classes must lie in -1 … number of types")
        out.append(a)
    if weights.sum() > 1.0 + 1e-9:
        raise ModelError("implementation.weights", f"the weights sum to {weights.sum():.12g} > 1")
    return PriorityMixture(weights, out)


def exact_vertex(rank: np.ndarray, f: list, bidder: np.ndarray, N: int, units: int) -> list:
    """The interim mass :math:`z^r` of one priority rule in rational arithmetic (see
    :meth:`.border.Border.vertex`; the same formula, every product and sum exact)."""
    from dmd_opt.certificates import exact as X
    M = len(f)
    zero, one = X.ZERO, X.Q(1)
    z = [zero] * M
    served = [e for e in range(M) if rank[e] >= 0]
    classes: dict[int, list[int]] = {}
    for e in served:
        classes.setdefault(int(rank[e]), []).append(e)
    F = [zero] * N                                        # mass of each bidder in earlier classes
    for c in sorted(classes):
        members = classes[c]
        p = [zero] * N
        for e in members:
            p[bidder[e]] += f[e]
        present = [j for j in range(N) if p[j] != 0]
        for i in sorted({int(bidder[e]) for e in members}):
            share = _share(i, F, p, N, units, len(present))
            for e in members:
                if bidder[e] == i:
                    z[e] = f[e] * share
        for j in range(N):
            F[j] += p[j]
    return z


def _share(i: int, F: list, p: list, N: int, k: int, J: int):
    """Probability that a present pair of bidder i in a class wins a unit (exact DP over the others)."""
    from dmd_opt.certificates import exact as X
    zero = X.ZERO
    # st[a][b]: law of (#others earlier, capped at k; #others in the class)
    st = [[zero] * (J + 1) for _ in range(k + 1)]
    st[0][0] = X.Q(1)
    for j in range(N):
        if j == i:
            continue
        Fj, pj = F[j], p[j]
        rest = X.Q(1) - Fj - pj
        new = [[zero] * (J + 1) for _ in range(k + 1)]
        for a in range(k + 1):
            for b in range(J + 1):
                v = st[a][b]
                if v == 0:
                    continue
                new[a][b] += v * rest
                new[min(a + 1, k)][b] += v * Fj
                if b < J:
                    new[a][b + 1] += v * pj
        st = new
    out = zero
    for a in range(k):
        for b in range(J + 1):
            if st[a][b] != 0:
                out += st[a][b] * X.Q(min(k - a, b + 1), b + 1)
    return out


def check_implementation_exact(mix: PriorityMixture, Q_exact: list, f_exact: list, bidder: np.ndarray,
                               N: int, units: int) -> tuple[bool, str]:
    """Exact check that ``Q_exact`` is the interim rule of a lottery over the recorded rules."""
    import flint
    from dmd_opt.certificates import exact as X
    M = len(f_exact)
    target = [f_exact[e] * Q_exact[e] for e in range(M)]
    R = len(mix.ranks)
    verts = [exact_vertex(r, f_exact, bidder, N, units) for r in mix.ranks]
    if R == 0:
        ok = all(t == 0 for t in target)
        return ok, "the empty lottery serves no one" if ok else "no recorded rule, yet some type is served"
    # choose R independent equations with a pivoted QR of the float matrix, solve them exactly
    Vf = np.array([[X.to_float(v) for v in col] for col in verts]).T            # (M, R)
    from scipy.linalg import qr
    _, Rm, piv = qr(Vf.T, pivoting=True, mode="economic")
    rank = int(np.sum(np.abs(np.diag(Rm)) > 1e-14 * max(1.0, np.abs(Rm).max()))) if Rm.size else 0
    if rank < R:
        return False, f"the {R} recorded rules are linearly dependent (rank {rank}); weights are not determined"
    rows = [int(e) for e in piv[:R]]
    Mat = flint.fmpq_mat(R, R, [verts[r][e] for e in rows for r in range(R)])
    rhs = flint.fmpq_mat(R, 1, [target[e] for e in rows])
    try:
        w = Mat.solve(rhs)
    except ZeroDivisionError:
        return False, "the recorded rules' equations are singular"
    w = [w[r, 0] for r in range(R)]
    if any(x < 0 for x in w):
        return False, "the exact lottery weights include a negative one"
    total = sum(w, X.ZERO)
    if total > 1:
        return False, f"the exact lottery weights sum to {X.to_float(total):.15g} > 1"
    for e in range(M):
        s = X.ZERO
        for r in range(R):
            if verts[r][e] != 0:
                s += w[r] * verts[r][e]
        if s != target[e]:
            return False, (f"bidder {int(bidder[e]) + 1}'s type {e}: the recorded rules give interim mass "
                           f"{X.to_float(s):.15g}, the certified optimum {X.to_float(target[e]):.15g}")
    return True, (f"feasibility proved exactly: the optimal interim rule is the interim allocation of the recorded "
                  f"lottery over {R} priority rule{'s' if R != 1 else ''} (exact weights sum to "
                  f"{X.to_float(total):.12g} ≤ 1), computed in rational arithmetic, so every Border inequality holds")


def certify_hook(data, impl, Q0: int):
    """The function the certificate checker calls with the certified optimum (exact or float)."""
    from dmd_opt.certificates import exact as X
    border = data.border
    mix = parse_implementation(impl, data.M)
    bidder = border.bidder
    M = data.M

    def certify(x_exact, x_float) -> dict:
        if x_exact is not None:
            f_exact = [X.nice(float(v)) for v in np.asarray(border.f, float)]
            ok, msg = check_implementation_exact(mix, list(x_exact[Q0:Q0 + M]), f_exact, bidder, data.N,
                                                 data.units)
            if ok:
                return {"ok": True, "exact": True, "message": msg}
            fl = certify(None, x_float)
            return {"ok": fl["ok"], "exact": False, "message": f"exact feasibility proof failed ({msg}), "
                                                               f"{fl['message']}"}
        Q = np.clip(np.asarray(x_float[Q0:Q0 + M], float), 0.0, 1.0)
        Qi = border.interim(mix)
        gap = np.abs(Qi - Q)
        mass = float(np.max(border.f * gap)) if M else 0.0
        ok = mass <= 1e-11 and float(mix.weights.sum()) <= 1.0 + 1e-12
        msg = (f"feasibility (floating point): the recorded lottery over {len(mix.ranks)} priority rules has "
               f"interim allocation within {float(gap.max()) if M else 0.0:.2g} of the optimum "
               f"(mass {mass:.2g} per type)")
        return {"ok": ok, "exact": False, "message": msg if ok else "FAILED " + msg}

    return certify
