"""Figures of recursive contracts (conventions of :mod:`dmd_opt.analysis.figure`).

Thomas–Worrall: cost function with the first-best benchmark, transfers
:math:`b_k(v)` and continuations :math:`w_k(v)` by income, the convergence record
(sup-norm change per iteration on a log scale, slope ≈ log β) and simulated
promised-utility paths (immiseration).  Guo–Hörner: value function, allocation,
continuation promises and simulated paths (polarisation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dmd_opt.analysis.figure import finish, panels, plot_function, plot_paths, save, style, titled


def plot_convergence(record, beta: float, path=None, ax=None, model: str | None = None):
    """Sup-norm change of value iteration per iteration (log scale) against β^n."""
    d = np.array([r.sup_change for r in record])
    fig, (a,), created = panels(ax, 1)
    it = np.arange(1, d.size + 1)
    a.semilogy(it, d, label="sup-norm change", **style(0, d.size))
    if d.size:
        a.semilogy(it, d[0] * beta ** (it - 1), color="k", ls=":", label=f"β^n (β = {beta:g})")
    a.set_xlabel("iteration")
    a.set_ylabel("‖V_{n+1} − V_n‖∞")
    a.set_title("value iteration convergence")
    a.legend(fontsize=8)
    titled(fig, created, model)
    return finish(fig, path)


def plot_thomas_worrall(res, directory) -> list[Path]:
    """The figures of a Thomas–Worrall result, saved into ``directory``."""
    directory = Path(directory)
    m = res.model
    v = res.grid
    name = f"Thomas–Worrall insurance: {m.name}"
    out = [plot_function(v, {"C(v)": res.cost, "first best": m.first_best_cost(v)},
                         directory / "tw_cost.png", ylabel="expected discounted transfers",
                         title="cost function", model=name),
           plot_function(v, {f"b, income {m.income[k]:g}": res.transfers[k] for k in range(m.K)},
                         directory / "tw_transfers.png", ylabel="transfer b_k(v)", title="transfers by income",
                         model=name),
           plot_function(v, {**{f"w, income {m.income[k]:g}": res.continuations[k] for k in range(m.K)},
                             "45° line": v}, directory / "tw_continuations.png",
                         ylabel="continuation w_k(v)", title="continuation promises by income", model=name)]
    if getattr(res, "vi", None) is not None:          # the CARA closed form has no iterations
        out.append(plot_convergence(res.vi.record, m.beta, directory / "tw_convergence.png", model=name))
    paths = res.paths if res.paths is not None else res.simulate(T=200, n_paths=500)
    out.append(plot_paths(paths, directory / "tw_paths.png", bounds=(v[0], v[-1]),
                          title="promised utility (immiseration)", model=name))
    return out


def plot_guo_horner(res, directory) -> list[Path]:
    """The figures of a Guo–Hörner result, saved into ``directory``."""
    directory = Path(directory)
    m = res.model
    name = f"Guo–Hörner allocation without money: {m.name}"
    out = []
    if not m.markov:
        U = res.states
        out.append(plot_function(U, {"V(U)": res.values[0]}, directory / "gh_value.png",
                                 xlabel="promised utility U", ylabel="principal's value", title="value function",
                                 model=name))
        a = res.allocation()
        out.append(plot_function(U, {"a_L": a[:, 0], "a_H": a[:, 1]}, directory / "gh_allocation.png",
                                 xlabel="promised utility U", ylabel="allocation probability",
                                 title="allocation by report", model=name))
        W = res.continuations()
        out.append(plot_function(U, {"W after L": W[:, 0], "W after H": W[:, 1], "45° line": U},
                                 directory / "gh_continuations.png", xlabel="promised utility U",
                                 ylabel="continuation promise", title="continuation promises", model=name))
    else:
        fig, axes, _ = panels(None, 2)
        for r, label in enumerate(("after report L", "after report H")):
            a = axes[r]
            sc = a.scatter(res.states[:, 0], res.states[:, 1], c=res.values[r], s=25)
            fig.colorbar(sc, ax=a)
            a.set_xlabel("U_L")
            a.set_ylabel("U_H")
            a.set_title(f"principal's value {label}")
        titled(fig, True, name)
        out.append(save(fig, directory / "gh_value.png"))
    if res.vi is not None:
        out.append(plot_convergence(res.vi.record, m.beta, directory / "gh_convergence.png", model=name))
        paths = res.paths if res.paths is not None else res.simulate(T=300, n_paths=500)
        out.append(plot_paths(paths, directory / "gh_paths.png", title="promised utility (polarisation)",
                              model=name))
    return out
