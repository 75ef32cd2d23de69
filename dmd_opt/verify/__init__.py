"""Independent verifiers: best deviations by dynamic programming, no LP involved."""

from dmd_opt.verify.bayesian import VerificationReport, verify

__all__ = ["VerificationReport", "verify"]
