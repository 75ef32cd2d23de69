"""Independent verifiers: best deviations by dynamic programming, no LP involved.

:func:`verify` is the single entry: ``verify(mechanism, notion="bayesian" | "expost" |
"periodic_expost")`` dispatches on the data a mechanism exposes (see
:mod:`dmd_opt.verify.notions`).
"""

from dmd_opt.verify.bayesian import VerificationReport
from dmd_opt.verify.notions import NOTIONS, verify

__all__ = ["NOTIONS", "VerificationReport", "verify"]
