"""dmd_opt — dynamic mechanism design as optimisation.

Top-level conveniences (imported lazily, so ``import dmd_opt`` stays cheap):
``load``, ``solve_model`` (model files), ``compare`` (optimal vs efficient
mechanisms), ``frontier`` (revenue–welfare frontier) and ``sweep`` (parameter
sweeps on dask.distributed).
"""
__version__ = "0.1.0"

_LAZY = {
    "load": ("dmd_opt.interfaces.models", "load"),
    "solve_model": ("dmd_opt.interfaces.models", "solve_model"),
    "compare": ("dmd_opt.analysis.compare", "compare"),
    "frontier": ("dmd_opt.analysis.frontier", "frontier"),
    "sweep": ("dmd_opt.interfaces.sweep", "sweep"),
}


def __getattr__(name):
    # Note: ``dmd_opt.analysis.compare`` is both a submodule and a function; after the
    # submodule is imported Python binds the module here, so we rebind the function.
    if name in _LAZY:
        import importlib
        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dmd_opt' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
