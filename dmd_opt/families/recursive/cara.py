r"""Thomas–Worrall insurance with CARA utility, solved exactly (no grid).

With :math:`u(c) = -e^{-\gamma c}/\gamma`, i.i.d. incomes :math:`\theta_1<\dots<\theta_K`
with probabilities :math:`\pi_k`, discount :math:`\beta` and no bounds on transfers, the
lender's cost function is (Thomas & Worrall 1990, §4; the homogeneity argument below)

.. math::

    C(v) = A - \frac{\ln(v/v^*)}{\gamma(1-\beta)}, \qquad v<0,\qquad
    v^* = -\frac{1}{\gamma(1-\beta)} .

*Homogeneity.*  If transfers :math:`b_k` and continuations :math:`w_k` are feasible at
promise :math:`v`, then :math:`b_k+\Delta` and :math:`e^{-\gamma\Delta}w_k` are feasible at
:math:`e^{-\gamma\Delta}v` (every utility is multiplied by :math:`e^{-\gamma\Delta}`, so promise
keeping and IC scale), and they cost :math:`\Delta/(1-\beta)` more.  Hence the policies at any
:math:`v<0` are those at :math:`v^*` shifted:

.. math::

    b_k(v) = b_k^* - \frac{\ln(v/v^*)}{\gamma}, \qquad w_k(v) = \omega_k\, v ,

and the Bellman equation reduces to one convex program at :math:`v^*` in
:math:`\zeta_k = -u(\theta_k+b_k) > 0` (utility of consumption) and :math:`\omega_k = w_k/v^*>0`:

.. math::

    (1-\beta)A = \min_{\zeta,\omega>0}\sum_k\pi_k\Big[-\theta_k - \frac{\ln(\gamma\zeta_k)}{\gamma}
        - \frac{\beta\ln\omega_k}{\gamma(1-\beta)}\Big]
    \;\text{s.t.}\; \sum_k\pi_k(-\zeta_k+\beta v^*\omega_k) = v^*,\quad
    -\zeta_k+\beta v^*\omega_k \ge -r_{kj}\zeta_j + \beta v^*\omega_j ,

with :math:`r_{kj} = e^{-\gamma(\theta_k-\theta_j)}` (income :math:`k` claiming :math:`j`
values :math:`j`'s transfer at :math:`r_{kj}\zeta_j`).

*Closed form of the optimum.*  With a multiplier :math:`\mu` on promise keeping and
:math:`\lambda_{kj}\ge0` on the IC rows, stationarity gives every primal variable in closed
form,

.. math::

    \alpha_k = \mu\pi_k + \sum_j\lambda_{kj} - \sum_j\lambda_{jk}r_{jk},\quad
    \beta_k = \mu\pi_k + \sum_j\lambda_{kj} - \sum_j\lambda_{jk},\qquad
    u'(c_k^*) = \frac{\pi_k}{\alpha_k},\quad \omega_k = \frac{\pi_k}{\beta_k},

i.e. consumption :math:`c_k^* = \ln(\alpha_k/\pi_k)/\gamma`, transfer
:math:`b_k^* = c_k^*-\theta_k`, and the multipliers maximise the smooth concave dual

.. math::

    g(\mu,\lambda) = \mu v^* + \sum_k\frac{\pi_k}{\gamma}\ln\alpha_k
        + \frac{\beta}{\gamma(1-\beta)}\sum_k\pi_k\ln\beta_k + \text{const}.

Its gradient is the vector of constraint residuals (promise keeping, IC), so Newton's
method on :math:`g` over the binding IC rows (active set: the adjacent downward rows
first, the rows Thomas & Worrall show to bind, then corrected by the signs of the
multipliers and the slacks of the others) drives every residual to rounding level.
Summing the :math:`\omega` conditions gives :math:`\sum_k\pi_k/\omega_k = \mu`, and the
homogeneity direction gives :math:`\mu = C'(v^*) = 1`: the inverse marginal cost
:math:`C'(w) = 1/u'(\bar c(w))` (:math:`\bar c` the certainty equivalent of :math:`w`) is a
martingale, :math:`\sum_k\pi_k\,v/w_k(v) = 1` — Thomas & Worrall's immiseration.

*Two incomes.*  The IC row "high claims low" binds, and with :math:`\mu = 1`,
:math:`r = e^{-\gamma(\theta_2-\theta_1)}`, :math:`\kappa = \beta/(1-\beta)` its multiplier
:math:`x` is the root in :math:`(0,\pi_1)` of the quadratic

.. math::

    r\pi_1(\pi_1-x)(\pi_2+x) + \kappa\pi_1(\pi_1-rx)(\pi_2+x) - (1+\kappa)\pi_2(\pi_1-rx)(\pi_1-x) = 0,

with :math:`\alpha = (\pi_1 - rx,\ \pi_2 + x)`, :math:`\beta = (\pi_1 - x,\ \pi_2 + x)`
(the tests solve this quadratic independently and compare).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.core.validation import array, distribution, real


@dataclass(frozen=True)
class CARAContract:
    """The exact CARA solution: normalised policies at :math:`v^*`, multipliers, residuals.

    ``transfers_star[k]`` = :math:`b_k^*`, ``omega[k]`` = :math:`w_k/v`, ``mu`` and
    ``ic_multipliers[k, j]`` (income k claiming j) the optimal multipliers,
    ``residuals`` the largest violations at :math:`v^*` (module docstring).  Evaluate at
    any promise with :meth:`transfers`, :meth:`continuations`, :meth:`cost`,
    :meth:`residuals_at`.
    """

    income: np.ndarray
    prob: np.ndarray
    beta: float
    gamma: float
    v_star: float
    A: float
    transfers_star: np.ndarray
    omega: np.ndarray
    mu: float
    ic_multipliers: np.ndarray
    residuals: dict
    status: str
    iterations: int
    tol: float
    binding: list = field(default_factory=list)

    @property
    def K(self) -> int:
        return int(self.income.size)

    def _shift(self, v) -> np.ndarray:
        v = np.asarray(v, float)
        if np.any(v >= 0):
            raise ModelError("promise", "the CARA closed form covers promises v < 0 only")
        return np.log(v / self.v_star) / self.gamma

    def cost(self, v) -> np.ndarray:
        """:math:`C(v) = A - \\ln(v/v^*)/(\\gamma(1-\\beta))`."""
        return self.A - self._shift(v) / (1 - self.beta)

    def transfers(self, v) -> np.ndarray:
        """:math:`b_k(v)`, shape (K,) + shape of v."""
        s = self._shift(v)
        return self.transfers_star.reshape((-1,) + (1,) * s.ndim) - s[None]

    def continuations(self, v) -> np.ndarray:
        """:math:`w_k(v) = \\omega_k v`, shape (K,) + shape of v."""
        v = np.asarray(v, float)
        self._shift(v)
        return self.omega.reshape((-1,) + (1,) * v.ndim) * v[None]

    def consumption(self, v) -> np.ndarray:
        return self.income.reshape((-1,) + (1,) * np.ndim(v)) + self.transfers(v)

    def utility(self, c) -> np.ndarray:
        return -np.exp(-self.gamma * np.asarray(c, float)) / self.gamma

    def residuals_at(self, v) -> dict:
        """Residuals of the returned policies at promises ``v``, recomputed from the primitives.

        ``promise_keeping``: :math:`|\\sum_k\\pi_k[u(\\theta_k+b_k)+\\beta w_k] - v|`;
        ``IC``: largest :math:`\\max(0, \\text{deviation payoff} - \\text{truthful payoff})`;
        ``martingale``: :math:`|\\sum_k\\pi_k v/w_k - 1|`.  Arrays over ``v``.
        """
        v = np.atleast_1d(np.asarray(v, float))
        b, w = self.transfers(v), self.continuations(v)
        th, beta = self.income, self.beta
        own = self.utility(th[:, None] + b) + beta * w                               # (K, n)
        dev = self.utility(th[:, None, None] + b[None, :, :]) + beta * w[None, :, :]  # (k true, j report, n)
        gap = dev - own[:, None, :]
        idx = np.arange(self.K)
        gap[idx, idx] = -np.inf
        return {"promise_keeping": np.abs(self.prob @ own - v),
                "IC": np.maximum(0.0, gap.max(axis=(0, 1))),
                "martingale": np.abs(self.prob @ (v[None, :] / w) - 1.0)}

    def to_dict(self) -> dict:
        return {"A": self.A, "v_star": self.v_star, "transfers_star": self.transfers_star,
                "omega": self.omega, "mu": self.mu, "ic_multipliers": self.ic_multipliers,
                "binding_ic": [f"{k}->{j}" for k, j in self.binding], "residuals": self.residuals,
                "status": self.status, "newton_iterations": self.iterations, "tol": self.tol}


def solve_cara(income, prob, beta: float, gamma: float, *, tol: float = 1e-13,
               max_iter: int = 200) -> CARAContract:
    """Solve the CARA program at :math:`v^*` exactly (module docstring).

    ``tol``: Newton stops when every constraint residual is below ``tol`` × :math:`|v^*|`
    (the solver tolerance; rounding limits it to about 1e-15).  Returns a
    :class:`CARAContract` whose ``status`` is ``optimal`` when the KKT conditions hold
    within ``tol`` (multipliers ≥ 0, every IC row satisfied) and ``inaccurate`` otherwise.
    """
    th = array(income, "income", ndim=1)
    if th.size < 2 or np.any(np.diff(th) <= 0):
        raise ModelError("income", "expected at least 2 strictly increasing income levels")
    pi = distribution(prob, "prob", size=th.size)
    if np.any(pi <= 0):
        raise ModelError("prob", "every income level needs positive probability")
    beta = real(beta, "beta", lo=0, hi=1, lo_open=True, hi_open=True)
    gamma = real(gamma, "utility.gamma", lo=0, lo_open=True)
    tol = real(tol, "solve.solver_tol", lo=0, lo_open=True)
    if gamma * float(th[-1] - th[0]) > 700.0:     # exp(γ Δθ) beyond double precision
        raise ModelError("utility.gamma", f"γ × (income range) = {gamma * float(th[-1] - th[0]):.4g} exceeds 700: "
                         "exp(−γc) overflows in double precision; rescale income or γ")
    K = th.size
    D = -1.0 / (gamma * (1 - beta))
    c = beta / (gamma * (1 - beta))
    r = np.exp(-gamma * (th[:, None] - th[None, :]))                    # r[k, j]
    pairs = [(k, j) for k in range(K) for j in range(K) if k != j]
    active = [(k + 1, k) for k in range(K - 1)]                          # adjacent downward first
    total_iter = 0
    status = "inaccurate"
    for _ in range(4 * K * K):
        y, it = _newton(active, pi, r, D, c, gamma, tol, max_iter)
        total_iter += it
        lam = y[1:]
        zeta, om = _primal(y, active, pi, r, gamma)
        slack = _ic_slack(zeta, om, r, D, beta)
        if lam.size and lam.min() < -tol:
            active = [p for p, l in zip(active, lam) if l != lam.min()]
            continue
        inactive = [p for p in pairs if p not in active]
        worst = min(inactive, key=lambda p: slack[p], default=None)
        if worst is not None and slack[worst] < -tol * abs(D):
            active = active + [worst]
            continue
        status = "optimal"
        break
    mu = float(y[0])
    L = np.zeros((K, K))
    for (k, j), l in zip(active, lam):
        L[k, j] = l
    alpha, _ = _alpha_beta(y, active, pi, r)
    b_star = np.log(alpha / pi) / gamma - th
    A = float(pi @ (b_star - beta * np.log(om) / (gamma * (1 - beta)))) / (1 - beta)
    util = -zeta + beta * D * om
    off = ~np.eye(K, dtype=bool)
    res = {"promise_keeping": abs(float(pi @ util) - D),
           "IC": max(0.0, float(-slack[off].min())),
           "multiplier_sign": max(0.0, float(-L.min())),
           "complementary_slackness": float(np.max(np.abs(L * slack))),
           "martingale": abs(float(pi @ (1.0 / om)) - 1.0),
           "envelope": abs(mu - 1.0)}
    limit = max(tol, 64 * np.finfo(float).eps) * max(1.0, abs(D))
    if status == "optimal" and max(res.values()) > limit:
        status = "inaccurate"            # Newton stalled above the tolerance (rounding)
    return CARAContract(th, pi, beta, gamma, D, A, b_star, om, mu, L, res, status, total_iter, tol,
                        sorted(active))


# ---- the dual and its Newton iteration ---------------------------------------------------
def _matrices(active, pi, r):
    K, m = pi.size, len(active)
    Ma = np.zeros((K, 1 + m))
    Mb = np.zeros((K, 1 + m))
    Ma[:, 0] = Mb[:, 0] = pi
    for col, (k, j) in enumerate(active, start=1):
        Ma[k, col] += 1.0
        Ma[j, col] -= r[k, j]
        Mb[k, col] += 1.0
        Mb[j, col] -= 1.0
    return Ma, Mb


def _alpha_beta(y, active, pi, r):
    Ma, Mb = _matrices(active, pi, r)
    return Ma @ y, Mb @ y


def _primal(y, active, pi, r, gamma):
    a, b = _alpha_beta(y, active, pi, r)
    return pi / (gamma * a), pi / b


def _ic_slack(zeta, om, r, D, beta) -> np.ndarray:
    """slack[k, j] of 'income k claims j' (≥ 0 when satisfied)."""
    own = -zeta + beta * D * om
    dev = -r * zeta[None, :] + beta * D * om[None, :]
    return own[:, None] - dev


def _newton(active, pi, r, D, c, gamma, tol, max_iter):
    """:func:`_newton_steps` with floating-point warnings off: with extreme data (an income level of
    probability 1e-300) a step overflows, and the contract is reported ``inaccurate`` instead."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return _newton_steps(active, pi, r, D, c, gamma, tol, max_iter)


def _newton_steps(active, pi, r, D, c, gamma, tol, max_iter):
    """Maximise the dual over (μ, λ_active) from μ = 1, λ = 0 (inside the domain α, β > 0).

    Damped Newton: a step is taken when it raises g enough (Armijo) or, once g no longer
    changes at rounding level, when it shrinks the gradient (the constraint residuals);
    the iteration stops at ``tol`` or when neither holds (rounding level reached)."""
    Ma, Mb = _matrices(active, pi, r)
    y = np.zeros(1 + len(active))
    y[0] = 1.0

    def g(y):
        a, b = Ma @ y, Mb @ y
        if np.any(a <= 0) or np.any(b <= 0):
            return -np.inf
        return y[0] * D + pi @ np.log(a) / gamma + c * (pi @ np.log(b))

    def grad(y):
        a, b = Ma @ y, Mb @ y
        out = Ma.T @ (pi / (gamma * a)) + c * (Mb.T @ (pi / b))
        out[0] += D
        return out, a, b

    it = 0
    gr, a, b = grad(y)
    for it in range(1, max_iter + 1):
        if np.max(np.abs(gr)) <= tol * abs(D):
            break
        H = -(Ma.T * (pi / (gamma * a * a))) @ Ma - c * (Mb.T * (pi / (b * b))) @ Mb
        try:
            d = np.linalg.solve(H, -gr)
        except np.linalg.LinAlgError:
            d = np.linalg.lstsq(H, -gr, rcond=None)[0]
        dec = float(gr @ d)                            # Newton decrement² (> 0: ascent)
        g0, norm0 = g(y), np.max(np.abs(gr))
        t, moved = 1.0, False
        while t > 1e-12:
            yn = y + t * d
            gn = g(yn)
            if np.isfinite(gn):
                if gn >= g0 + 0.25 * t * dec and gn > g0:
                    moved = True
                    break
                grn = grad(yn)[0]
                if np.max(np.abs(grn)) < norm0:
                    moved = True
                    break
            t *= 0.5
        if not moved:
            break
        y = yn
        gr, a, b = grad(y)
    return y, it
