"""The promised-utility engine on problems with known answers: a constant reward
(V = r/(1-β)), block stacking and labels, NaN (free) promise rows, progress bar."""

from __future__ import annotations

import numpy as np
import pytest

from dmd_opt.dp.bellman import TemplateBuilder, bellman_step, cross_section, stack, value_iteration


def _toy(beta=0.8, reward=1.0, grid=(0.0, 1.0, 2.0)):
    """States g on a grid; choose a continuation lottery over the grid with mean = g
    (promise keeping), earn reward - (continuation promise) * 0 + β V(next)."""
    G = len(grid)
    tb = TemplateBuilder([("choice", (1,)), ("continuation_lottery", (G,))])
    tb.bounds("choice", 0.0, 1.0)
    lam = tb.col("continuation_lottery")
    tb.row("lottery", lam, 1.0, 1.0, 1.0, report=0)
    pk = tb.row("promise_keeping", lam, np.asarray(grid), 0.0, 0.0)
    c0 = np.zeros(tb.n)
    c0[tb.col("choice", 0)] = reward
    return tb.finish([pk], np.asarray(grid)[:, None], c0, lam, np.zeros(G, int), np.arange(G),
                     np.full(G, beta), "max")


def test_constant_reward_fixed_point_and_rate():
    beta = 0.8
    t = _toy(beta)
    vi = value_iteration(t, tol=1e-10, progress=True)
    assert vi.status == "optimal"
    assert np.allclose(vi.V, 1.0 / (1 - beta), atol=1e-9)
    d = np.array([r.sup_change for r in vi.record])
    assert np.allclose(d[1:] / d[:-1], beta, atol=1e-9)     # exactly geometric from V0 = 0
    assert vi.sup_norm < 1e-10 and d[-2] >= 1e-10
    # V_n = (1 - β^n)/(1 - β): the change at iteration n is β^(n-1)
    assert np.allclose(d, beta ** np.arange(d.size), rtol=1e-9)


def test_stack_labels_and_free_rows():
    t = _toy()
    st = stack(t, period=3)
    prog = st.program
    assert prog.n_rows == 2 * 3 and prog.n_vars == 4 * 3
    lab = prog.row_labels()
    assert list(lab["history"][prog.family_rows("promise_keeping")]) == [0, 1, 2]
    assert set(lab["period"]) == {3} and set(lab["agent"]) == {0}
    assert np.allclose(prog.row_lower[prog.family_rows("promise_keeping")], [0, 1, 2])
    # a NaN promise leaves the row free: the best continuation is chosen, not a promised one
    t_free = _toy(grid=(0.0, 1.0, 2.0))
    t_free.state_rhs[:] = np.nan
    V, y, st2, sol = bellman_step(t_free, np.array([[0.0, 5.0, 1.0]]))
    assert sol.status == "optimal"
    assert np.allclose(V, 1.0 + 0.8 * 5.0)
    pk = st2.program.family_rows("promise_keeping")
    assert np.all(np.isinf(st2.program.row_lower[pk]))


def test_concave_interpolation_of_continuations():
    """Promise 1 between grid points 0 and 2 with V(0)=0, V(2)=2 (grid (0, 2)): the lottery
    delivers the concave interpolant β·1."""
    t = _toy(grid=(0.0, 2.0))
    t.state_rhs[:] = [[1.0], [1.0]]
    V, y, _, _ = bellman_step(t, np.array([[0.0, 2.0]]))
    assert V[0, 0] == pytest.approx(1.0 + 0.8 * 1.0)
    assert y[0, 0, 1:] == pytest.approx([0.5, 0.5])


def test_cross_section():
    paths = np.tile(np.arange(5.0), (4, 1))
    cs = cross_section(paths, dates=[0, 4])
    assert cs[0]["mean"] == 0 and cs[1]["q50"] == 4
