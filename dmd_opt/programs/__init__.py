"""Designer programs.  Each module builds :class:`~dmd_opt.program.Program` objects
and decodes Solutions into mechanisms / results, and registers its model kind.

Registration is lazy (:func:`register_all`) so that importing one family does not
import all the others.
"""

from __future__ import annotations

import importlib

# module name -> function registering its kinds (called once).
_FAMILIES = (
    "dmd_opt.programs.revenue",
    "dmd_opt.programs.efficient",
    "dmd_opt.programs.contingent",
    "dmd_opt.programs.recursive",
)
_done = False


def register_all() -> None:
    global _done
    if _done:
        return
    for mod in _FAMILIES:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name == mod:  # family not written yet
                continue
            raise
        reg = getattr(m, "register_kinds", None)
        if reg is not None:
            reg()
    _done = True
