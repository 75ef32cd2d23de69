"""Figures of relational contracts (Agg-safe, atomic saves through :mod:`dmd_opt.analysis.plots`).

* the equilibrium payoff set: the Pareto frontier :math:`\\bar V(U)` and the lower boundary,
  the stationary modes' payoffs, the optimal first promise and the policy's transitions
  (arrows from a promise to its continuation promise after each private state);
* mode shares by period over the simulated paths (stacked areas);
* the time until absorption and the shares of the absorbing modes;
* promise paths;
* commitment against relational contracts on one environment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dmd_opt.analysis.figure import finish, new_figure, plot_paths

_COLOURS = ["tab:green", "tab:orange", "tab:red", "tab:blue", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
            "tab:olive", "tab:cyan"]


def plot_payoff_set(res, path=None, arrows: int = 7, title: str | None = None):
    """The PPE payoff set with the frontier, stationary modes and the policy's transitions."""
    fig, ax = new_figure(size=(7.0, 5.0))
    a = ax[0, 0]
    U, V, L = res.grid, res.frontier, res.lower
    a.fill_between(U, L, V, color="0.9", label="equilibrium payoffs")
    a.plot(U, V, "k-", lw=1.6, label="frontier V̄(U)")
    a.plot(U, L, "k:", lw=1.0, label="lowest principal payoff")
    for i, (name, pt) in enumerate(res.model.anchors().items()):
        if isinstance(pt, tuple):
            a.plot(*pt, "o", ms=6, color=_COLOURS[i % len(_COLOURS)], label=name)
    j0 = res.initial_index
    a.plot(U[j0], V[j0], "k*", ms=12, label="optimal start")
    rho, wA, wP = res.policy()
    g = res.model.game
    P = res.plans
    kinks = np.nonzero(res.kinks())[0]
    show = kinks[np.unique(np.linspace(0, kinks.size - 1, min(arrows, kinks.size)).round().astype(int))]
    for j in show:
        q = int(np.argmax(rho[j]))
        for s in range(g.n_states):
            o = P.outcome[q, s]
            w, v = wA[j, o], wP[j, o]
            if np.isfinite(w) and abs(w - U[j]) > 1e-9:
                a.annotate("", xy=(w, np.interp(w, U, V)), xytext=(U[j], V[j]),
                           arrowprops=dict(arrowstyle="->", color=_COLOURS[(4 + s) % len(_COLOURS)], lw=0.9))
    for s in range(g.n_states):
        a.plot([], [], color=_COLOURS[(4 + s) % len(_COLOURS)], label=f"next promise if {g.states[s]}")
    a.set_xlabel("agent's promised utility U")
    a.set_ylabel("principal's payoff V")
    kind = "relational contract" if res.model.enforcement == "relational" else "commitment"
    a.set_title(title or f"{res.model.name}: equilibrium payoffs ({kind}, δ = {res.model.delta:g})")
    a.legend(fontsize=7, loc="best")
    return finish(fig, path)


def plot_mode_shares(sim, path=None, title: str = "mode by period"):
    """Stacked shares of the modes over the simulated paths, period by period."""
    sh = sim.mode_shares()
    keep = sh.max(axis=0) > 0
    fig, ax = new_figure(size=(7.0, 4.2))
    a = ax[0, 0]
    t = np.arange(sim.T)
    names = [n for n, k in zip(sim.mode_names, keep) if k]
    a.stackplot(t, sh[:, keep].T, labels=names, colors=[_COLOURS[i % len(_COLOURS)] for i in np.nonzero(keep)[0]])
    a.set_xlim(0, max(sim.T - 1, 1))
    a.set_ylim(0, 1)
    a.set_xlabel("period")
    a.set_ylabel(f"share of {sim.n} paths")
    a.set_title(title)
    a.legend(fontsize=7, loc="center right")
    return finish(fig, path)


def plot_absorption(sim, path=None):
    """Histogram of the time until absorption and the shares of the absorbing modes."""
    fig, ax = new_figure(2, size=(5.0, 4.0))
    a = ax[0, 0]
    t = sim.absorbed_at[sim.absorbed_at >= 0]
    if t.size:
        a.hist(t, bins=min(60, max(5, int(t.max()) + 1)), color="tab:blue")
    a.set_xlabel("period of absorption")
    a.set_ylabel("paths")
    a.set_title(f"time until absorption ({t.size / sim.n:.1%} absorbed in {sim.T} periods)")
    b = ax[0, 1]
    shares = sim.absorbing_shares()
    names = list(shares)
    b.bar(range(len(names)), [shares[n] for n in names], color=[_COLOURS[i % len(_COLOURS)] for i in range(len(names))])
    b.set_xticks(range(len(names)))
    b.set_xticklabels(names, rotation=20, ha="right", fontsize=7)
    b.set_ylabel("share of paths")
    b.set_title("absorbing mode")
    return finish(fig, path)


def plot_commitment_vs_relational(rel, com, path=None):
    """The two frontiers on one environment; the gap at the optimum is the cost of non-commitment."""
    fig, ax = new_figure(size=(7.0, 4.6))
    a = ax[0, 0]
    a.plot(com.grid, com.frontier, "b-", label=f"commitment (max {com.objective:.4g})")
    a.plot(rel.grid, rel.frontier, "r-", label=f"relational (max {rel.objective:.4g})")
    a.plot(rel.initial_promise, rel.objective, "r*", ms=11)
    a.plot(com.initial_promise, com.objective, "b*", ms=11)
    a.set_xlabel("agent's promised utility U")
    a.set_ylabel("principal's payoff V")
    a.set_title(f"cost of non-commitment: {com.objective - rel.objective:.4g}")
    a.legend(fontsize=8)
    return finish(fig, path)


def plot_relational(res, directory) -> list[Path]:
    """Every figure of a relational result into ``directory``."""
    directory = Path(directory)
    base = "".join(c if c.isalnum() or c in "-_" else "_" for c in res.model.name) or "relational"
    out = [plot_payoff_set(res, directory / f"{base}_frontier.png")]
    sim = res.simulation
    if sim is None and res.model.horizon is None:
        sim = res.simulate(T=200, n_paths=1000)
    if sim is not None:
        out.append(plot_mode_shares(sim, directory / f"{base}_modes.png"))
        out.append(plot_absorption(sim, directory / f"{base}_absorption.png"))
        out.append(plot_paths(sim.promises, directory / f"{base}_paths.png", bounds=(res.grid[0], res.grid[-1]),
                              title="promised utility"))
    return out
