r"""Concave period utilities for recursive contracts (Thomas & Worrall 1990, §2).

* ``cara``: :math:`u(c) = -e^{-\gamma c}/\gamma` (no subsistence level; defined on ℝ);
* ``crra``: :math:`u(c) = ((c-s)^{1-\sigma}-1)/(1-\sigma)`, :math:`\log(c-s)` for
  :math:`\sigma = 1`, with subsistence level :math:`s`: :math:`u \to -\infty` as
  :math:`c \downarrow s` (Thomas–Worrall's assumption);
* ``tabular``: piecewise-linear through given (consumption, utility) points,
  which must be strictly increasing and concave; consumption below the first
  point is not allowed (the first point is the subsistence level).

Each has ``u(c)``, its inverse ``inverse(x)`` and ``lowest`` (the infimum of
admissible consumption; ``-inf`` for CARA).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.core.validation import array, choice, mapping, real


@dataclass(frozen=True)
class Utility:
    kind: str
    gamma: float = 1.0          # CARA absolute risk aversion
    sigma: float = 1.0          # CRRA relative risk aversion
    subsistence: float = 0.0    # CRRA subsistence level s
    points: tuple = ()          # tabular: ((c0, u0), (c1, u1), ...)

    @property
    def lowest(self) -> float:
        if self.kind == "cara":
            return -np.inf
        if self.kind == "crra":
            return self.subsistence
        return float(self.points[0][0])

    def __call__(self, c) -> np.ndarray:
        c = np.asarray(c, float)
        if self.kind == "cara":
            return -np.exp(-self.gamma * c) / self.gamma
        if self.kind == "crra":
            with np.errstate(divide="ignore", invalid="ignore"):
                x = c - self.subsistence
                out = np.log(x) if self.sigma == 1.0 else (x ** (1 - self.sigma) - 1) / (1 - self.sigma)
            return np.where(x > 0, out, -np.inf)
        cs, us = np.array(self.points, float).T
        slope_last = (us[-1] - us[-2]) / (cs[-1] - cs[-2])
        out = np.interp(c, cs, us)
        out = np.where(c > cs[-1], us[-1] + slope_last * (c - cs[-1]), out)
        return np.where(c >= cs[0], out, -np.inf)

    def inverse(self, x) -> np.ndarray:
        x = np.asarray(x, float)
        if self.kind == "cara":
            return -np.log(-self.gamma * x) / self.gamma
        if self.kind == "crra":
            if self.sigma == 1.0:
                return self.subsistence + np.exp(x)
            return self.subsistence + (1 + (1 - self.sigma) * x) ** (1 / (1 - self.sigma))
        cs, us = np.array(self.points, float).T
        slope_last = (us[-1] - us[-2]) / (cs[-1] - cs[-2])
        return np.where(x > us[-1], cs[-1] + (x - us[-1]) / slope_last, np.interp(x, us, cs))

    def to_dict(self) -> dict:
        d = {"kind": self.kind}
        if self.kind == "cara":
            d["gamma"] = self.gamma
        elif self.kind == "crra":
            d.update(sigma=self.sigma, subsistence=self.subsistence)
        else:
            d["points"] = [list(p) for p in self.points]
        return d

    @classmethod
    def parse(cls, raw, field: str = "utility") -> "Utility":
        raw = mapping(raw, field, required=("kind",), optional=("gamma", "sigma", "subsistence", "points"))
        kind = choice(raw["kind"], f"{field}.kind", ("cara", "crra", "log", "tabular"))
        if kind == "cara":
            return cls("cara", gamma=real(raw.get("gamma", 1.0), f"{field}.gamma", lo=0, lo_open=True))
        if kind in ("crra", "log"):
            sigma = 1.0 if kind == "log" else real(raw.get("sigma", 1.0), f"{field}.sigma", lo=0, lo_open=True)
            return cls("crra", sigma=sigma, subsistence=real(raw.get("subsistence", 0.0), f"{field}.subsistence"))
        if "points" not in raw:
            raise ModelError(f"{field}.points", "a tabular utility needs points = [[c, u], ...]")
        pts = array(raw["points"], f"{field}.points", ndim=2)
        if pts.shape[1] != 2 or pts.shape[0] < 3:
            raise ModelError(f"{field}.points", "expected at least 3 pairs [consumption, utility]")
        dc, du = np.diff(pts[:, 0]), np.diff(pts[:, 1])
        if np.any(dc <= 0):
            raise ModelError(f"{field}.points", "consumption levels must be strictly increasing")
        if np.any(du <= 0):
            raise ModelError(f"{field}.points", "utility must be strictly increasing in consumption")
        s = du / dc
        if np.any(np.diff(s) > 1e-12 * max(1.0, float(np.max(np.abs(s))))):
            raise ModelError(f"{field}.points", "utility must be concave (slopes non-increasing)")
        return cls("tabular", points=tuple(tuple(map(float, p)) for p in pts))
