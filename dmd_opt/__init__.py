"""dmd_opt — dynamic mechanism design as optimisation.

The everyday names are available at the top level and imported on first use, so
``import dmd_opt`` stays cheap (no numpy, no solver):

* models: :func:`load` (a TOML file or dict → validated :class:`Model`), :func:`solve`
  (a file, dict, model or :class:`Environment` → result), :class:`Environment`;
* results: :class:`RevenueResult`, :class:`EfficientResult`, :class:`ContingentResult`,
  :class:`ThomasWorrallResult`, :class:`GuoHornerResult`, :class:`ReducedFormResult`,
  :class:`RelationalResult`; every result has ``status``,
  ``objective``, ``to_dict()`` (the JSON record of ``docs/result.schema.json``) and
  ``summary()``;
* mechanisms: the :class:`Mechanism` protocol (``at(history)``, ``revenue()``, ``welfare()``,
  ``to_frame()``, ``to_dict()``, ``verify(notion=…)``) and its implementations
  :class:`TreeMechanism` (history tree), :class:`MarkovMechanism`, :class:`ContingentMechanism`,
  :class:`PromiseMechanism` (recursive contracts), :class:`RelationalMechanism`;
* checks: ``mechanism.verify(notion)`` (one entry, :func:`dmd_opt.verify.verify`) and
  :func:`check_certificate` (solver-free proof of a written certificate);
* analysis: :func:`compare`, :func:`comparison`, :func:`frontier`, :func:`sweep`
  (dask.distributed);
* economics: :func:`economics` (``RevenueResult.economics()``), :func:`virtual_values`,
  :func:`ironing`, :func:`dynamic_virtual_surplus`, :func:`reduced_forms`, :func:`regrets`,
  :func:`revenue_equivalence`;
* errors: :class:`ModelError` (names the offending field), :class:`SolverError`,
  :class:`DmdOptError`.

The subpackages hold the layers, lowest first: ``core``, ``optim``, ``solvers``, ``audit``,
``certificates``, ``dp``, ``verify``, ``mechanisms``, ``families``, ``analysis``, ``interfaces``.
The theory behind every program is in ``docs/theory.md``.
"""
from importlib import import_module as _import_module

__version__ = "0.1.0"

#: name → (module, attribute), imported on first access.
_LAZY = {
    "load": ("dmd_opt.interfaces.models", "load"),
    "Model": ("dmd_opt.interfaces.models", "Model"),
    "solve": ("dmd_opt.interfaces.api", "solve"),
    "solve_model": ("dmd_opt.interfaces.models", "solve_model"),
    "compare": ("dmd_opt.interfaces.api", "compare"),
    "comparison": ("dmd_opt.interfaces.api", "comparison"),
    "frontier": ("dmd_opt.interfaces.api", "frontier"),
    "sweep": ("dmd_opt.interfaces.sweep", "sweep"),
    "economics": ("dmd_opt.interfaces.api", "economics"),
    "reduced_forms": ("dmd_opt.interfaces.api", "reduced_forms"),
    "regrets": ("dmd_opt.interfaces.api", "regrets"),
    "virtual_values": ("dmd_opt.analysis.economics", "virtual_values"),
    "ironing": ("dmd_opt.analysis.economics", "ironing"),
    "dynamic_virtual_surplus": ("dmd_opt.analysis.economics", "dynamic_virtual_surplus"),
    "revenue_equivalence": ("dmd_opt.analysis.economics", "revenue_equivalence"),
    "Environment": ("dmd_opt.core.environment", "Environment"),
    "Program": ("dmd_opt.optim.program", "Program"),
    "Solution": ("dmd_opt.optim.solution", "Solution"),
    "RevenueResult": ("dmd_opt.families.revenue.program", "RevenueResult"),
    "EfficientResult": ("dmd_opt.families.efficient.kind", "EfficientResult"),
    "ContingentResult": ("dmd_opt.families.contingent.kind", "ContingentResult"),
    "ThomasWorrallResult": ("dmd_opt.families.recursive.thomas_worrall", "TWResult"),
    "GuoHornerResult": ("dmd_opt.families.recursive.guo_horner", "GHResult"),
    "ReducedFormResult": ("dmd_opt.families.revenue.reduced_form", "ReducedFormResult"),
    "RelationalResult": ("dmd_opt.families.relational.contract", "RelationalResult"),
    "check_certificate": ("dmd_opt.certificates", "check_certificate"),
    "Mechanism": ("dmd_opt.mechanisms.base", "Mechanism"),
    "TreeMechanism": ("dmd_opt.mechanisms.tree", "TreeMechanism"),
    "MarkovMechanism": ("dmd_opt.mechanisms.markov", "MarkovMechanism"),
    "ContingentMechanism": ("dmd_opt.families.contingent.mechanism", "ContingentMechanism"),
    "PromiseMechanism": ("dmd_opt.mechanisms.recursive", "PromiseMechanism"),
    "RelationalMechanism": ("dmd_opt.families.relational.mechanism", "RelationalMechanism"),
    "ModelError": ("dmd_opt.core.errors", "ModelError"),
    "SolverError": ("dmd_opt.core.errors", "SolverError"),
    "DmdOptError": ("dmd_opt.core.errors", "DmdOptError"),
}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(_import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dmd_opt' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["__version__", *_LAZY]
