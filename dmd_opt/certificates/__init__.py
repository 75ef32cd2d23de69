"""Solver-independent certificates for labelled programs (docs/theory.md#audit-verification-and-certificates).

* :func:`make_certificate` / :func:`write_certificate` — the versioned file
  format of ``docs/certificates.md`` (JSON, plus ``.npz`` for large programs):
  fingerprints of the model data and of the program, status, primal and dual
  solutions, reduced costs, the optimal basis, objective and dual bound, and
  for infeasible programs a Farkas ray with its labelled rows.
* :func:`check_certificate` — rebuilds the program from the model and checks
  the claim without any solver: exact rational arithmetic (:mod:`.exact`) where
  the size allows, rigorous floating bounds (:mod:`.rigorous`) otherwise.
"""

from dmd_opt.certificates.check import EXACT_LIMIT, CheckResult, check_certificate
from dmd_opt.certificates.format import FORMAT, VERSION, farkas_rows, make_certificate, read_certificate, write_certificate

__all__ = ["make_certificate", "write_certificate", "read_certificate", "check_certificate", "CheckResult",
           "farkas_rows", "FORMAT", "VERSION", "EXACT_LIMIT"]
