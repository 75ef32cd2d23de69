"""Generate the family notebooks of ``notebooks/`` (``python notebooks/_build.py``).

Each notebook reproduces its source's result from the model files in ``models/``,
with text and plots, and asserts at least one number against an independent check
(a closed form or a brute-force computation written in the notebook itself, not the
package's LP).  ``tests/test_notebooks.py`` executes them all with nbclient.
``python notebooks/_build.py --execute [NAME ...]`` also runs them and stores the outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
%matplotlib inline
from pathlib import Path
import numpy as np
import pandas as pd
import dmd_opt
from dmd_opt import load, solve_model
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "models").is_dir())
MODELS = ROOT / "models"
pd.set_option("display.width", 160)"""


def nb(cells: list[tuple[str, str]]):
    out = [new_code_cell(SETUP) if k == "setup" else
           (new_markdown_cell(src) if k == "md" else new_code_cell(src)) for k, src in cells]
    book = new_notebook(cells=out)
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    return book


NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

# ---------------------------------------------------------------------------------------
NOTEBOOKS["01_static_screening_and_ironing"] = [
    ("md", """# Static screening, optimal auctions and ironing

With one period the revenue program (docs/theory.md) is the automated-mechanism-design LP
(Conitzer–Sandholm) for Bayesian IC + interim IR mechanisms. Three classics:

* **Monopoly pricing** (Myerson 1981; Riley–Zeckhauser 1983): one buyer — the optimal
  mechanism is a posted price.
* **Non-regular values and ironing** (Myerson 1981 §6): the discrete virtual values are not
  monotone; the LP finds the ironed solution by itself.
* **Nonlinear pricing** (Mussa–Rosen 1978): quantities with cost $q^2/2$; the low type is
  distorted downwards, the top type is not; a rare middle type is *bunched*."""),
    ("setup", ""),
    ("md", "## Monopoly: the LP against brute force over posted prices"),
    ("code", """\
m = load(MODELS / "static_monopoly.toml")
res = solve_model(m)
print("\\n".join(res.summary()[:6]))
v = np.array([1.0, 2.0, 3.0]); f = np.full(3, 1 / 3)
posted = {p: p * f[v >= p].sum() for p in v}          # revenue of each posted price
print("posted-price revenues:", posted)
assert abs(res.revenue - max(posted.values())) < 1e-9   # independent check: 4/3 at price 2"""),
    ("md", """## Ironing with two bidders

Values (1, 2, 3, 4) with probabilities (0.3, 0.05, 0.3, 0.35). The independent check below
computes Myerson's ironed virtual values from the concave hull of the revenue curve in quantile
space and the optimal revenue $E[\\max(0, \\max_i \\bar\\varphi(v_i))]$ by enumeration."""),
    ("code", """\
vals, probs = np.array([1.0, 2, 3, 4]), np.array([0.3, 0.05, 0.3, 0.35])
tail = np.r_[np.cumsum(probs[::-1])[::-1][1:], 0.0]
phi = vals - np.r_[np.diff(vals), 0] * tail / probs       # discrete virtual values
q = np.r_[np.cumsum(probs[::-1])[::-1], 0.0]               # q_k = P(v >= v_k)
pts = sorted(zip(q, np.r_[vals * q[:4], 0.0]))
hull = []
for p in pts:                                              # upper concave hull
    while len(hull) >= 2 and (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0]) <= (p[1] - hull[-2][1]) * (hull[-1][0] - hull[-2][0]):
        hull.pop()
    hull.append(p)
hx, hy = np.array(hull).T
curve = lambda x: np.interp(x, hx, hy)
ironed = (curve(q[:4]) - curve(q[1:])) / probs            # slope of the hull on each type's interval
print("virtual values", phi.round(4), " ironed", ironed.round(4))
G = np.meshgrid(range(4), range(4), indexing="ij")
expected = float((probs[G[0]] * probs[G[1]] * np.maximum(0, np.maximum(ironed[G[0]], ironed[G[1]]))).sum())
res2 = solve_model(load(MODELS / "ironing_2.toml"))
print("LP revenue", res2.revenue, " Myerson (ironed)", expected)
assert abs(res2.revenue - expected) < 1e-9"""),
    ("md", "Optimal vs efficient auctions: the pivot mechanism is Vickrey's auction here; the comparison table also has rents, deadweight loss and the binding constraints."),
    ("code", """\
df = dmd_opt.compare(MODELS / "ironing_2.toml", participation=("interim",), efficient=("pivot", "team", "balanced"))
second = float((probs[G[0]] * probs[G[1]] * np.minimum(vals[G[0]], vals[G[1]])).sum())   # E[second-highest value]
assert abs(df.set_index("mechanism").loc["pivot", "revenue"] - second) < 1e-9
df[["mechanism", "revenue", "welfare", "deadweight_loss", "rents_expected", "max_ic_regret", "budget_max_imbalance"]]"""),
    ("code", """\
from dmd_opt.analysis.frontier import frontier
fr = frontier(load(MODELS / "ironing_2.toml"), n=9)
fr.plot()"""),
    ("md", "## Nonlinear pricing: distortion at the bottom, bunching"),
    ("code", """\
r = solve_model(load(MODELS / "mussa_rosen_2.toml"))
qL, qH = r.mechanism.allocation[0][:, 0]
print(f"q_L = {qL:.6f}, q_H = {qH:.6f}")
# closed form: q_L = θ_L − (π_H/π_L)(θ_H − θ_L) = 1 − (0.4/0.6)·1, q_H = θ_H
assert abs(qL - (1 - 0.4 / 0.6)) < 1e-5 and abs(qH - 2.0) < 1e-5
rb = solve_model(load(MODELS / "mussa_rosen_3_bunching.toml"))
qb = rb.mechanism.allocation[0][:, 0]
print("bunching model quantities:", qb.round(6))
assert abs(qb[0] - qb[1]) < 1e-5 and qb[0] > 0           # L and M bunched at a positive quantity
from dmd_opt.analysis.plots import plot_allocation
plot_allocation(rb.mechanism)"""),
]

# ---------------------------------------------------------------------------------------
NOTEBOOKS["02_sequential_screening_and_handicap_auction"] = [
    ("md", """# Sequential screening and the handicap auction

Two periods: the buyer learns an ex-ante type τ in period 1 (no allocation), then the value
ϑ ~ f(·|τ) in period 2 (Courty–Li 2000). The contract is a menu of options
(an up-front fee and a strike price). The off-path one-shot IC rows of the program are exactly
the double-deviation constraints of sequential screening.

* No initial private information + ex-ante participation ⇒ **full surplus extraction**.
* With interim participation the high-τ type is served efficiently; the low-τ type faces
  a distorted strike price given by the *handicapped* virtual value.
* With two bidders and a sealed two-stage auction (private disclosure) this becomes the
  **handicap auction** of Esö–Szentes (2007): sell to the highest
  positive handicapped value."""),
    ("setup", ""),
    ("code", """\
full = solve_model(load(MODELS / "full_extraction.toml"))
delta = full.env.discount
ev = delta * (0.2 * 1 + 0.5 * 2 + 0.3 * 3)             # δ E[ϑ]: every unit is worth selling
print("revenue", full.revenue, " δE[v]", ev)
assert abs(full.revenue - ev) < 1e-9"""),
    ("md", "## Courty–Li with first-order dominance: the menu of options"),
    ("code", """\
m = load(MODELS / "courty_li_fosd.toml")
r = solve_model(m)
print("\\n".join(r.summary()[3:8]))
r.to_frame()"""),
    ("md", "Independent check: the discrete handicapped virtual value of the low type, $\\psi_L(\\vartheta_j) = \\vartheta_j - \\frac{f(H)}{f(L)}(\\vartheta_{j+1}-\\vartheta_j)\\frac{F(\\vartheta_j|L)-F(\\vartheta_j|H)}{f(\\vartheta_j|L)}$; the high type is undistorted."),
    ("code", """\
v = np.array([1.0, 2, 3]); fL, fH = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
psiL = v - 1.0 * np.r_[np.diff(v), 0] * (np.cumsum(fL) - np.cumsum(fH)) / fL
expected = 0.9 * (0.5 * fL @ np.maximum(psiL, 0) + 0.5 * fH @ np.maximum(v, 0))
print("psi_L =", psiL, " LP", r.revenue, " closed form", expected)
assert abs(r.revenue - expected) < 1e-9"""),
    ("code", """\
mps = solve_model(load(MODELS / "courty_li_mps.toml"))
print("\\n".join(mps.summary()[3:8]))
dmd_opt.compare(MODELS / "courty_li_mps.toml", efficient=())[["mechanism", "revenue", "welfare", "deadweight_loss", "rents_expected"]]"""),
    ("md", "## The handicap auction: private disclosure, two bidders"),
    ("code", """\
h = load(MODELS / "handicap_auction.toml")
priv = solve_model(h)                        # the file asks for private disclosure
pub = solve_model(h, disclosure="public")
psi = {0: psiL, 1: v}
f = {0: fL, 1: fH}
total = sum(0.25 * f[a][i] * f[b][j] * max(0.0, psi[a][i], psi[b][j])
            for a in (0, 1) for b in (0, 1) for i in range(3) for j in range(3))
print(f"private {priv.revenue:.6f}  public {pub.revenue:.6f}  Esö–Szentes closed form {0.9 * total:.6f}")
assert abs(priv.revenue - 0.9 * total) < 1e-9
assert priv.revenue >= pub.revenue - 1e-9     # withholding information weakens IC"""),
    ("code", """\
from dmd_opt.analysis.plots import plot_allocation
plot_allocation(priv.mechanism)"""),
]

# ---------------------------------------------------------------------------------------
NOTEBOOKS["03_battaglini"] = [
    ("md", """# Battaglini (2005): long-term contracts with Markov types

A consumer with two persistent Markov values $\\theta_L < \\theta_H$ buys $q_t$ each period
($u = \\theta q$, cost $q^2/2$). Battaglini's results, reproduced by the revenue LP:

* the high type is served efficiently after every history;
* the low type's distortion shrinks over time along the all-low path and **vanishes after
  any high report**;
* with discrete types, the quantity along the all-low path is
  $q_t = \\theta_L - \\frac{\\pi_H}{\\pi_L}\\Delta\\theta\\Big(\\frac{P_{HH}-P_{LH}}{P_{LL}}\\Big)^{t-1}$
  (floored at 0) — the impulse response of the current type to the initial one
  (Pavan–Segal–Toikka 2014), so distortions decay faster as persistence falls."""),
    ("setup", ""),
    ("code", """\
m = load(MODELS / "battaglini.toml")
raw = {**m.raw, "horizon": 5}
env = load(raw).data
res = dmd_opt.solve_model(load(raw))
print("\\n".join(res.summary()[:8]))"""),
    ("code", """\
from dmd_opt.analysis.compare import path_distortion, distortion_frame, distortion_by_history
P = env.transition(0, 0); pi = env.agents[0].initial
rho = (P[1, 1] - P[0, 1]) / P[0, 0]
closed = np.minimum(1.0, pi[1] / pi[0] * 1.0 * rho ** np.arange(5))
gap = path_distortion(res.mechanism, [0] * 5)
print("gap along L,L,L,...:", gap.round(6), " closed form:", closed.round(6))
assert np.allclose(gap, closed, atol=1e-6)
fr = distortion_frame(res.mechanism)
assert fr.loc[fr["history"].str.contains("H"), "gap"].abs().max() < 1e-6   # efficient after a high report
distortion_by_history(res.mechanism).query("probability > 0").head(12)"""),
    ("code", """\
cmp = dmd_opt.compare(load(raw), efficient=())
cmp[["mechanism", "revenue", "welfare", "deadweight_loss", "rents_expected"] + [c for c in cmp.columns if c.startswith("distortion")]]"""),
    ("code", """\
from dmd_opt.analysis.plots import plot_allocation, plot_distortion
plot_allocation(res.mechanism)"""),
    ("code", "plot_distortion({'optimal (interim)': res.mechanism})"),
    ("md", """## Distortion decay as persistence falls — a sweep on dask.distributed

`dmd_opt.interfaces.sweep` solves the model over a grid of transition matrices on a LocalCluster
(threads here, to keep the notebook quick); each row carries the solve's numbers."""),
    ("code", """\
grid = {"agents[0].transition": [[[0.8, 0.2], [1 - p, p]] for p in (0.9, 0.7, 0.5, 0.3)], "horizon": [5]}
sw = dmd_opt.sweep(load(raw), grid, n_workers=2, processes=False, progress=False)
assert sw["ok"].all()
sw[["agents[0].transition", "status", "revenue", "welfare", "max_regret"]]"""),
    ("code", """\
from dmd_opt.analysis.plots import plot_distortion_decay
curves = {}
for p in (0.9, 0.7, 0.5, 0.3):
    e = load({**raw, "agents": [{**raw["agents"][0], "transition": [[0.8, 0.2], [1 - p, p]]}]}).data
    curves[f"P_HH = {p}"] = path_distortion(dmd_opt.families.revenue.solve.solve_revenue(e).mechanism, [0] * 5)
assert curves["P_HH = 0.3"][2] < curves["P_HH = 0.9"][2]
plot_distortion_decay(curves, title="gap along the all-low path")"""),
    ("code", """\
from dmd_opt.analysis.frontier import frontier
frontier(env, n=8).plot()"""),
]

# ---------------------------------------------------------------------------------------
NOTEBOOKS["04_efficient_mechanisms"] = [
    ("md", """# Efficient dynamic mechanisms: pivot, team, balanced, the AGV failure, self-enforcement

* **Dynamic pivot** (Bergemann–Välimäki 2010): each agent pays its flow externality
  $W_{-i,t} - \\sum_{j\\ne i}u_j - \\delta E[W_{-i,t+1}]$; when allocations do not move types,
  this is the static VCG (second-price) payment period by period.
* **Team** (Athey–Segal §4): each agent receives the others' utilities.
* **Balanced team** (Athey–Segal (5.1)–(5.2), Markov form (6.1)): budget balanced at every
  history and Bayesian IC with independent types.
* **Static AGV applied dynamically** (Athey–Segal Example 1): budget balanced but *not* IC once
  reports are public between periods — the verifier finds the regret.
* **Self-enforcement** (Athey–Segal Prop. 3): thresholds on δ for running the balanced
  mechanism without a third party."""),
    ("setup", ""),
    ("code", """\
rep = solve_model(load(MODELS / "repeated_auction_markov.toml"))
print("\\n".join(rep.summary()))"""),
    ("md", "Independent check: with allocation not moving types, pivot revenue is $E\\sum_t\\delta^t(\\max(v_{(2)},c)-c)\\,1\\{v_{(1)}>c\\}$, computed here on the product chain by one linear solve."),
    ("code", """\
env = rep.model.env if hasattr(rep, "model") else load(MODELS / "repeated_auction_markov.toml").data.env
a1, a2 = env.agents
v = a1.type_values[0]; c = 0.5; d = env.discount
P = np.kron(a1.transitions[0], a2.transitions[0]); init = np.kron(a1.initial, a2.initial)
V1, V2 = np.meshgrid(v, v, indexing="ij"); V1, V2 = V1.ravel(), V2.ravel()
flow = np.where(np.maximum(V1, V2) > c, np.maximum(np.minimum(V1, V2), c) - c, 0.0)
pivot_rev = float(init @ np.linalg.solve(np.eye(9) - d * P, flow))
got = rep.mechanisms["pivot"].revenue()
print("pivot revenue", got, " second-price closed form", pivot_rev)
assert abs(got - pivot_rev) < 1e-8"""),
    ("md", "## The Athey–Segal trading example: balanced works, AGV fails"),
    ("code", """\
trade = load(MODELS / "athey_segal_trade.toml")
cmp = dmd_opt.compare(trade, participation=("interim",), efficient=("pivot", "team", "balanced", "agv"))
t = cmp.set_index("mechanism")
assert t.loc["agv", "max_ic_regret"] > 1e-3 and t.loc["balanced", "max_ic_regret"] < 1e-9
assert t.loc["balanced", "budget_max_imbalance"] < 1e-12 and t.loc["agv", "budget_max_imbalance"] < 1e-12
cmp[["mechanism", "revenue", "welfare", "deadweight_loss", "max_ic_regret", "budget_max_imbalance", "ir_violation_interim"]]"""),
    ("md", "## Self-enforcement of the balanced mechanism (stationary repeated auction)"),
    ("code", """\
se = rep.self_enforcement
print("\\n".join(se.summary_lines()))"""),
]

# ---------------------------------------------------------------------------------------
NOTEBOOKS["05_contingent_transfers"] = [
    ("md", r"""# Contingent transfers with interdependent values (Heng Liu)

Signals follow a joint Markov chain $\mu(\theta_{t+1}\mid a_t,\theta_t)$ and utilities depend on
everybody's signals, so the efficient decision cannot be implemented with transfers that
depend on current reports alone. Liu's idea: make agent $i$'s transfer at $t+1$ depend on the
*others' next signals*, which are correlated with $i$'s current signal through
$M^{-i}(a,\theta^{-i})$ — the $|\Theta^{-i}_{t+1}|\times|\Theta^i_t|$ matrix of
$\mu^{-i}(\theta^{-i}_{t+1}\mid a,\theta^i,\theta^{-i})$.

* **Spanning** (full column rank of every block) ⇒ VCG-type transfers solving
  $\delta (M^{-i})^\top p = -u^{-i}$ (Lemma A.4, Theorem 3.2; minimum-norm solutions).
* **Convex independence** only ⇒ report-dependent transfers from an LP (Theorem 3.1).
* Either way the mechanism is **periodic ex-post IC**; naive team transfers evaluated at the
  reports are not."""),
    ("setup", ""),
    ("code", """\
m = load(MODELS / "liu_spanning.toml")
res = solve_model(m)
print("\\n".join(res.summary()))"""),
    ("md", "Independent check: rebuild one block $M^{-1}(a,\\theta^2)$ by hand from the joint kernel (profiles in C order, agent 2 fastest) and compare its rank and singular values with numpy's SVD."),
    ("code", """\
env = res.env
n1, n2 = env.shape
K = env.kernel(0)                                   # (decision, profile, next profile)
blocks = {(b.step, b.agent, b.decision, b.others): b for b in res.diagnostics.blocks}
for a in range(env.n_decisions(0)):
    for th2 in range(n2):
        M = np.zeros((n2, n1))
        for th1 in range(n1):
            row = K[a, th1 * n2 + th2].reshape(n1, n2)   # joint law of (θ1', θ2')
            M[:, th1] = row.sum(axis=0)                   # marginal of the other's next signal
        b = blocks[(0, 0, a, th2)]
        assert np.allclose(M, b.M) and np.allclose(np.linalg.svd(M, compute_uv=False), b.singular_values)
        assert np.linalg.matrix_rank(M) == n1 == b.rank       # spanning holds
print("periodic ex-post regret:", res.verification.max_regret, " naive team transfers:", res.naive_verification.max_regret)
assert res.verification.max_regret < 1e-9 and res.naive_verification.max_regret > 1e-3
res.diagnostics.frame().head(8)"""),
    ("md", "## When spanning fails — and convex independence rescues"),
    ("code", """\
bad = solve_model(load(MODELS / "liu_spanning_fails.toml"))
print("\\n".join(bad.summary()[:12]))
M = bad.diagnostics.blocks[0].M
assert M.shape[0] < M.shape[1] and np.linalg.matrix_rank(M) < M.shape[1]   # non-square: cannot span
ci = solve_model(load(MODELS / "liu_convex_independence.toml"))
print("\\n".join(ci.summary()))
assert ci.status == "optimal" and ci.verification.max_regret < 1e-9"""),
    ("md", "## The dynamic winner-pay auction (γ = 2): the repeated second-price auction is inefficient"),
    ("code", """\
auc = solve_model(load(MODELS / "liu_winner_pay_auction.toml"))
print("\\n".join(auc.summary()[-8:]))
gamma, N = 2.0, 2
assert abs((1 + gamma * (N - 1)) - 3.0) < 1e-12      # equilibrium bid slope β = 1 + γ(N−1)
assert auc.verification.max_regret < 1e-9"""),
    ("code", """\
from dmd_opt.analysis.plots import plot_function
df = res.diagnostics.frame()
plot_function(np.arange(len(df)), {"smallest singular value": df["sigma_min"],
                                   "convex-independence margin": df["ci_margin"]},
              xlabel="block", ylabel="diagnostic", title="spanning and convex independence, block by block")"""),
]

# ---------------------------------------------------------------------------------------
NOTEBOOKS["06_recursive_contracts"] = [
    ("md", r"""# Recursive contracts with promised utility

The state is the utility promised to the agent; each Bellman step is an LP (Phelan–Townsend
lotteries over transfer/continuation grids), iterated to a sup-norm tolerance.

* **Thomas–Worrall (1990)**: a risk-averse agent with i.i.d. income and a risk-neutral lender
  who cannot observe income. The cost $C(v)$ of delivering promised utility $v$ is convex
  and increasing; transfers fall and continuation promises rise with reported income; the
  high-income IC binds; promised utility drifts down — **immiseration**.
* **Guo–Hörner (2018)**: allocation without money. A principal who earns $a(v-c)$ promises
  future allocations instead of payments; promised utility is absorbed at 0 or at the upper
  bound — **polarisation**."""),
    ("setup", ""),
    ("code", """\
tw = solve_model(load(MODELS / "thomas_worrall.toml"))
print("\\n".join(tw.summary()))"""),
    ("code", """\
v, b, w = tw.grid, tw.transfers, tw.continuations        # b[k], w[k]: policy after reporting income k
inner = slice(len(v) // 10, -len(v) // 10)
assert np.all(b[0, inner] > b[1, inner])                 # transfers decrease in income
assert np.all(w[1, inner] > w[0, inner])                 # continuation promises increase in income
slopes = np.diff(tw.cost) / np.diff(v)                   # (the grid is not evenly spaced)
assert np.all(slopes > 0) and np.all(np.diff(slopes) > -1e-6)   # C increasing and convex
from dmd_opt.analysis.plots import plot_function
plot_function(v, {"C(v)": tw.cost, "first best": tw.model.first_best_cost(v)}, ylabel="cost to the lender",
              title="Thomas–Worrall cost function")"""),
    ("code", """\
from dmd_opt.analysis.plots import plot_paths
paths = tw.paths if tw.paths is not None else tw.simulate(T=300, n_paths=500)
assert np.median(paths[:, -1]) < np.median(paths[:, 0])          # immiseration: promises drift down
plot_paths(paths, bounds=(v[0],), title="promised utility (Thomas–Worrall): immiseration")"""),
    ("md", r"""## CARA: the closed form as an independent check

With $u(c) = -e^{-\gamma c}$ the cost is $C(v) = A - \ln(v/v^*)/(\gamma(1-\beta))$, so *differences*
$C(v) - C(v_0) = -\ln(v/v_0)/(\gamma(1-\beta))$ need no constant. On the interior of the grid the
value iteration matches them up to grid error."""),
    ("code", """\
cara = solve_model(load(MODELS / "thomas_worrall_cara.toml"))
v, C = cara.grid, cara.cost
gamma, beta = 1.0, cara.model.beta
i0 = len(v) // 2
err = (C - C[i0]) + np.log(v / v[i0]) / (gamma * (1 - beta))
print("largest interior deviation from the closed form:", np.abs(err[8:-8]).max())
assert np.abs(err[8:-8]).max() < 0.02"""),
    ("md", "## Guo–Hörner: polarisation"),
    ("code", """\
gh = solve_model(load(MODELS / "guo_horner_iid.toml"))
print("\\n".join(gh.summary()))
U, V = gh.states, gh.values[0]
# independent bound: each unit of the agent's utility earns the principal at most (1 - c/H)
# (allocating to H), so V(U) <= U (1 - c/H), with equality while promises are small
H, c = 2.0, 1.0
assert np.all(V <= U * (1 - c / H) + 1e-7)
assert np.allclose(V[U <= 0.5], U[U <= 0.5] * (1 - c / H), atol=1e-6)
assert abs(V[-1] - (0.5 * 0.5 + 0.5 * 2.0 - c)) < 1e-6     # at the top: always allocate, E[v] - c
assert gh.absorbed["interior"] < 0.01                       # polarisation
plot_function(U, {"V(U)": V, "U (1 - c/H)": U * (1 - c / H)}, ylabel="principal's value",
              title="Guo–Hörner value function (i.i.d.)")"""),
    ("code", """\
gp = solve_model(load(MODELS / "guo_horner.toml"))          # persistent types
print({k: gp.absorbed[k] for k in ("at_zero", "at_upper", "interior")})
assert gp.absorbed["interior"] < 0.01
plot_paths(gp.paths[:, :] if gp.paths.ndim == 2 else gp.paths[..., 0], bounds=(0.0, gp.absorbed["upper"]),
           title="promised utility (Guo–Hörner): polarisation")"""),
]

# ---------------------------------------------------------------------------------------
NOTEBOOKS["07_certificates_and_audit"] = [
    ("md", """# Audit and solver-independent certificates

Every row of a program carries a label (family, agent, period, history, true type, report).
The **audit** reads slacks and duals and summarises which constraints bind, by pattern. A
**certificate** stores primal, dual, basis and a fingerprint of the model; the checker
rebuilds the program from the model file and verifies optimality — or, for an infeasible
program, a Farkas ray — in exact rational arithmetic, without any solver."""),
    ("setup", ""),
    ("code", """\
m = load(MODELS / "static_monopoly.toml")
r = solve_model(m)
a = r.audit()
print("\\n".join(a.summary_lines()))
s = a.summary()
assert s["IC"]["by_pattern"].get("downward adjacent", 0) >= 2   # Myerson: downward adjacent IC bind"""),
    ("code", """\
import tempfile, json, os
from dmd_opt.certificates import check_certificate
tmp = Path(tempfile.mkdtemp())
r.certificate(tmp / "monopoly.json", model=m)
chk = check_certificate(tmp / "monopoly.json", model=m)
print(chk.verdict)
assert chk.ok"""),
    ("md", "Tampering with one number of the certificate makes the check fail:"),
    ("code", """\
cert = json.loads((tmp / "monopoly.json").read_text())
cert["objective"] = cert["objective"] + 1e-3
(tmp / "tampered.json").write_text(json.dumps(cert))
bad = check_certificate(tmp / "tampered.json", model=m)
print(bad.verdict)
assert not bad.ok"""),
    ("md", """## Myerson–Satterthwaite on a grid: an infeasibility proof

Efficient trade, Bayesian IC, interim IR and ex-post budget balance are incompatible on an
8-point grid. The solver's Farkas ray, checked exactly, is the proof; the audit names its rows.
Independent check: the best efficient, IC, IR mechanism *without* budget balance runs a
deficit — the expected subsidy is positive (Myerson–Satterthwaite 1983)."""),
    ("code", """\
bt = load(MODELS / "bilateral_trade_impossible.toml")
rb = solve_model(bt)
assert rb.status == "infeasible"
rb.certificate(tmp / "trade.json", model=bt)
chk = check_certificate(tmp / "trade.json", model=bt)
print(chk.verdict)
assert chk.ok
print("\\n".join(rb.audit().summary_lines()[:6]))
deficit = solve_model(bt, budget_balance=False)
print("revenue of the best efficient IC/IR mechanism without budget balance:", deficit.revenue)
assert deficit.revenue < 0"""),
]


# ---------------------------------------------------------------------------------------
NOTEBOOKS["08_relational_contracts"] = [
    ("md", r"""# Relational contracts: power dynamics without commitment

A principal and an agent meet every period.  The agent privately learns whether a project the
principal likes is available (probability $p$).  The principal can **centralise** (the default
project, payoffs $(0,0)$) or **empower** the agent, who then picks any available project: hers,
worth $(B, b)$ to (principal, agent), his own, worth $(x, B)$, or the default.  Nothing is
enforced by a court: every promise — "choose my project today and I will let you choose yours
later" — must be self-enforcing.  The contract is a perfect public equilibrium, and its payoffs
are computed by **self-generation** (Abreu–Pearce–Stacchetti): the set of equilibrium payoffs is
the largest fixed point of an operator on sets, stored here by its Pareto frontier $\bar V(U)$
on a grid of promises $U$ to the agent.  The principal's punishment (her worst equilibrium
payoff) is part of the fixed point, not assumed.

Li, Matouschek & Powell (2017, *Power Dynamics in Organizations*) show that the optimal contract
starts in **cooperative empowerment** (her project when available, his otherwise) and, after a
random time, settles for good in **unrestricted empowerment** (his project always — the agent
has earned power), **restricted empowerment** (hers when available, the default otherwise) or
**centralisation** (the principal has lost trust).  Early luck decides which.

We use the trust game with $x = 0$ (delegation pays the principal only when the agent honours
her trust; `docs/relational.md` explains why all three endings need $x=0$), $B=2$, $b=1$."""),
    ("setup", ""),
    ("code", """\
from dmd_opt.analysis.relational_plots import plot_payoff_set, plot_mode_shares, plot_absorption
from dmd_opt.families.relational import RelationalModel

def lmp(delta, p, exposure=None, variant="trust", n=41, enforcement=None):
    raw = {"delta": delta, "grid": {"n": n}, "lmp": {"variant": variant, "B": 2.0, "b": 1.0, "p": p}}
    if exposure is not None:            # the principal's payoff from the agent's project (trust: 0, lecture: b)
        raw["lmp"]["exposure"] = exposure
    if enforcement:
        raw["enforcement"] = enforcement
    return RelationalModel.from_dict(raw)

B, b = 2.0, 1.0
res = solve_model(load(MODELS / "lmp_power_dynamics.toml"), simulate_paths=4000, simulate_periods=100)
print("\\n".join(res.summary()))"""),
    ("md", r"""## The equilibrium payoff set and the optimal contract

The frontier runs from centralisation $(0,0)$ to unrestricted empowerment $(B, x) = (2, 0)$:
both are equilibria of the stage game (the agent takes his project when empowered; the principal
is indifferent), so they are the lowest and highest promises.  Arrows: where the contract moves
the agent's promise after the project turns out available / unavailable."""),
    ("code", """\
W = res.W
assert abs(W.U_lo) < 1e-9 and abs(W.upper[0]) < 1e-9            # centralisation (0, 0)
assert abs(W.U_hi - B) < 1e-9 and abs(W.upper[-1]) < 1e-9       # unrestricted empowerment (B, x = 0)
assert abs(res.principal_worst()) < 1e-9                        # her punishment: 0, computed
assert list(res.modes_at(res.initial_index)) == ["cooperative empowerment"]
plot_payoff_set(res)"""),
    ("md", r"""**When is cooperation possible at all?**  Choosing her project costs the agent $B-b$ today;
the reward is a higher promise, at most $B - 0$ (from centralisation to unrestricted
empowerment).  So cooperation needs $\delta B \ge (1-\delta)(B-b)$, i.e.
$\delta \ge (B-b)/(2B-b) = 1/3$; below it the contract starts absorbed and the principal gets 0."""),
    ("code", """\
thr = (B - b) / (2 * B - b)
low, high = lmp(thr - 0.02, 0.3, n=21).solve(), lmp(thr + 0.02, 0.3, n=21).solve()
print(f"threshold {thr:.4f}: V* = {low.objective:.2e} just below, {high.objective:.4f} just above")
assert abs(low.objective) < 1e-8 and high.objective > 0.01"""),
    ("md", r"""## Three parameter sets, three endings

**1. Centralisation or unrestricted empowerment** (δ = 0.5, p = 0.3).  Restricted empowerment is
not self-enforcing here ($\delta p b < (1-\delta)B$: the agent would take his project rather than
the default).  Cooperation ends within a few periods; which way depends on luck."""),
    ("code", """\
sim = res.simulation
shares = sim.absorbing_shares()
print("absorbing modes:", shares, "| time until absorption:", sim.absorption_times())
assert (sim.absorbed_at >= 0).all() and set(shares) == {"centralisation", "unrestricted empowerment"}
coop = sim.mode_names.index("cooperative empowerment")
after = np.arange(sim.T)[None, :] >= sim.absorbed_at[:, None]
assert not np.any((sim.modes == coop) & after)                  # cooperation never comes back
print("largest violation of any enforcement constraint along the paths:", res.check_paths())
assert res.check_paths() <= 1e-9
plot_mode_shares(sim, title="δ = 0.5, p = 0.3: mode by period")"""),
    ("md", r"""**2. Restricted empowerment** (δ = 0.8, p = 0.6, the model `lmp_restricted`).  Now
$\delta p b \ge (1-\delta) B$: the threat of centralisation keeps the agent from taking his own
project when hers is missing, so restricted empowerment is self-enforcing — and it gives the
principal her first best $pB$.  Every path settles there."""),
    ("code", """\
r2 = solve_model(load(MODELS / "lmp_restricted.toml"), simulate_paths=2000, simulate_periods=100)
p = 0.6
print("\\n".join(r2.summary()[3:]))
assert abs(r2.objective - p * B) < 1e-8                          # closed form: first best p B
assert abs(float(r2.W.upper_at(p * b)) - p * B) < 1e-8           # (p b, p B) is on the frontier
assert r2.simulation.absorbing_shares() == {"restricted empowerment": 1.0}
plot_mode_shares(r2.simulation, title="δ = 0.8, p = 0.6: mode by period")"""),
    ("md", r"""**3. Unrestricted empowerment** (δ = 0.6, p = 0.4, and the agent's project pays the principal
$x = 0.5$).  Centralisation is no longer an equilibrium (empowering pays her at least $x > 0$),
and restricted empowerment is not self-enforcing: the agent ends up with unlimited power."""),
    ("code", """\
r3 = lmp(0.6, 0.4, exposure=0.5).solve()
s3 = r3.simulate(T=150, n_paths=2000)
print("\\n".join(r3.summary()[3:]))
assert r3.principal_worst() > 0.01                               # centralisation (0, 0) is out
assert not r3.W.contains(0.0, 0.0)
assert s3.absorbing_shares() == {"unrestricted empowerment": 1.0}
plot_mode_shares(s3, title="x = 0.5: mode by period")"""),
    ("md", r"""## Why the textbook summary cannot end in centralisation

The common summary lets the principal pick the project herself after the agent's recommendation,
with the agent's project worth $b>0$ to her, and adds "total annihilation" (payoffs $-\infty$) as
a threat.  She would never carry that threat out, so it is not an equilibrium action; and since
she can always take the agent's project herself ($b$) or hers blindly ($pB$), her worst equilibrium
payoff is $\max(b, pB) > 0$ — centralisation (0 to her) cannot be an equilibrium, let alone an
absorbing one.  The computed set shows it."""),
    ("code", """\
lec = lmp(0.6, 0.4, variant="lecture", n=21).solve()
ls = lec.simulate(T=150, n_paths=2000)
p = 0.4
print("\\n".join(lec.summary()[3:]))
assert abs(lec.principal_worst() - max(b, p * B)) < 1e-7          # closed form
assert not lec.W.contains(0.0, 0.0)
assert "centralisation" not in ls.absorbing_shares()
plot_payoff_set(lec)"""),
    ("md", r"""## The cost of non-commitment

Under commitment the principal's empowerment decisions are written into a contract a court
enforces; only the agent's incentives bind.  In the trust game with $x=0$ her obedience never
binds (every outcome pays her at least her punishment, 0), so commitment is worth nothing there;
with the lecture payoffs it is worth something: she would like to promise to restrict the agent
after a bad report, but cannot credibly give up the agent's project worth $b$ to her."""),
    ("code", """\
from dmd_opt.analysis.relational_compare import RelationalComparison
for m in (lmp(0.5, 0.3, n=21), lmp(0.6, 0.4, variant="lecture", n=21)):
    cmp = RelationalComparison(m.solve(), m.with_enforcement("commitment").solve())
    print("\\n".join(cmp.summary()))
    assert cmp.cost_of_non_commitment >= -1e-9
assert cmp.cost_of_non_commitment > 1e-3"""),
    ("md", r"""## An independent check: the one-period game

With one period left the equilibria are the stage game's: enumerate every pure plan (message
cells, actions) and keep those no player wants to leave.  Their payoffs' convex hull must be
the set the operator produces from $\{(0,0)\}$."""),
    ("code", """\
import itertools
from dmd_opt.families.relational import enumerate_plans, fixed_point, lmp_game
g, delta = lmp_game("trust", 2.0, 1.0, 0.3), 0.5
pts = []
for a in range(2):                      # centralise / empower
    for es in itertools.product(*[np.nonzero(g.feasible[s, a])[0] for s in range(2)]):
        agent_ok = all(g.u_agent[s, a, e] >= g.u_agent[s, a][g.feasible[s, a]].max() for s, e in enumerate(es))
        mine = sum(g.prob[s] * g.u_principal[s, a, e] for s, e in enumerate(es))
        other = sum(g.prob[s] * min(g.u_principal[s, 1 - a, e2] for e2 in np.nonzero(g.feasible[s, 1 - a])[0]
                                    if g.u_agent[s, 1 - a, e2] >= g.u_agent[s, 1 - a][g.feasible[s, 1 - a]].max())
                    for s in range(2))
        if agent_ok and mine >= other:
            pts.append(((1 - delta) * sum(g.prob[s] * g.u_agent[s, a, e] for s, e in enumerate(es)), (1 - delta) * mine))
pts = np.array(pts)
W1 = fixed_point(enumerate_plans(g), delta, 21, horizon=1).W
print("stage equilibria (U, V):", pts.tolist())
assert abs(W1.U_lo - pts[:, 0].min()) < 1e-9 and abs(W1.U_hi - pts[:, 0].max()) < 1e-9
assert abs(W1.upper.max() - pts[:, 1].max()) < 1e-9"""),
]

def build(names=None, execute: bool = False) -> list[Path]:
    """Write the notebooks (``execute=True``: run them first so the files carry outputs)."""
    out = []
    for name, cells in NOTEBOOKS.items():
        if names and name not in names:
            continue
        path = HERE / f"{name}.ipynb"
        book = nb(cells)
        if execute:
            from nbclient import NotebookClient
            NotebookClient(book, timeout=300, kernel_name="python3",
                           resources={"metadata": {"path": str(HERE)}}).execute()
        nbformat.write(book, path)
        out.append(path)
    return out


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--execute"]
    for p in build(args, execute="--execute" in sys.argv):
        print(p)
