"""Model kinds: how a family reads a model file's table and solves it.

A family registers a *kind* with :func:`register_kind`: a ``parse`` function
(dict → model data, raising :class:`~dmd_opt.core.errors.ModelError` naming the
field), a ``solve`` function (model data, options → result object) and,
optionally, ``build`` (model data, options → Program) for certificate checks.
The loader (:mod:`dmd_opt.interfaces.models`) dispatches on the kind, so a new
family needs no CLI change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class ModelKind:
    name: str
    parse: Callable[[dict], Any]
    solve: Callable[..., Any]
    options: tuple[str, ...] = ()
    description: str = ""
    build: Callable[..., Any] | None = None  # (data, **options) -> Program, for certificate checks


KINDS: dict[str, ModelKind] = {}


def register_kind(name: str, parse: Callable[[dict], Any], solve: Callable[..., Any],
                  options: tuple[str, ...] = (), description: str = "",
                  build: Callable[..., Any] | None = None) -> None:
    """Register a model kind.

    ``parse(dict) -> data``; ``solve(data, **options) -> result``; optional
    ``build(data, **options) -> Program`` rebuilds the LP for certificate checks.
    """
    KINDS[name] = ModelKind(name, parse, solve, tuple(options), description, build)
