r"""Model kind ``"contingent"``: Liu's contingent transfers for interdependent values (docs/theory.md#contingent-transfers-with-interdependent-values).

Pipeline: :func:`dmd_opt.families.contingent.from_dict` (environment) → efficient policy (finite MDP)
→ last-period static transfers (Assumption 4) → diagnostics (spanning, convex independence)
→ transfers — ``method = "vcg"`` (pseudo-inverse, Theorem 3.2), ``"report"`` (the LP of
Theorem 3.1 on a :class:`~dmd_opt.optim.program.Program`) or ``"auto"`` (VCG-type when every used
block admits it, else the LP) → :class:`~dmd_opt.families.contingent.ContingentMechanism` → periodic
ex-post verification, with the naive team benchmark; ``auction = true`` adds the winner-pay
auction analysis.  ``build`` rebuilds the report LP so certificates can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dmd_opt.core.display import fmt, result_html, result_repr
from dmd_opt.core.errors import ModelError
from dmd_opt.core.record import result_record
from dmd_opt.core import validation as V
from dmd_opt.audit.binding import audit as audit_program
from dmd_opt.core.kinds import register_kind
from dmd_opt.verify import verify as verify_mechanism
from dmd_opt.families.contingent.auction import winner_pay_auction
from dmd_opt.families.contingent.diagnostics import diagnose
from dmd_opt.families.contingent.environment import from_dict
from dmd_opt.families.contingent.last_period import last_period_transfers
from dmd_opt.families.contingent.lottery import lottery_environment, to_lotteries
from dmd_opt.families.contingent.mechanism import naive_team_mechanism, report_mechanism, vcg_mechanism
from dmd_opt.families.contingent.policy import efficient_policy
from dmd_opt.families.contingent.report_lp import report_program, solve_report
from dmd_opt.families.contingent.transfers import vcg_transfers

OPTIONS = ("method", "backend", "solver", "blocks", "auction", "verify", "options", "tie_break")
METHODS = ("auto", "vcg", "report")


@dataclass
class ContingentResult:

    __repr__ = result_repr
    _repr_html_ = result_html
    status: str
    objective: float | None
    env: Any
    method: str
    policy: Any
    diagnostics: Any
    last: Any
    vcg: Any = None
    report: Any = None
    mechanism: Any = None
    verification: Any = None
    naive_verification: Any = None
    auction: Any = None
    options: dict = field(default_factory=dict)
    message: str = ""

    @property
    def program(self):
        return None if self.report is None else self.report.program

    @property
    def solution(self):
        return None if self.report is None else self.report.solution

    def audit(self, **kw):
        """Constraint audit of the report-dependent LP (binding IC rows by pattern, duals)."""
        if self.report is None:
            raise ModelError("solve.method", "no LP was solved; use method = \"report\" for an audit")
        return audit_program(self.program, self.solution, **kw)

    def certificate(self, path=None, model=None):
        """Certificate of the report-dependent transfer LP (method ``report``/``auto`` fallback)."""
        from dmd_opt import certificates
        if self.report is None:
            raise ModelError("solve.method", "no LP was solved (VCG-type transfers are a pseudo-inverse); "
                                             "use method = \"report\" for a certificate")
        opts = {"method": "report", "blocks": self.options.get("blocks", "used")}
        if self.policy.tie_break.rule != "lowest":
            opts["tie_break"] = self.policy.tie_break.spec
        if path is not None:
            return certificates.write_certificate(path, self.program, self.solution, model=model, options=opts)
        return certificates.make_certificate(self.program, self.solution, model=model, options=opts)

    def verification_dict(self, tol: float = 1e-7) -> dict | None:
        """The record's ``verification``: periodic ex-post regret, verdict at ``tol`` × scale."""
        ver = self.verification
        if ver is None:
            return None
        return ver.record(tol=tol)

    def to_dict(self) -> dict:
        """The result record (``docs/result.schema.json``) of kind ``contingent``."""
        out = {"method": self.method, "environment": self.env.to_dict(),
               "expected_welfare": self.policy.expected_welfare(),
               "tie_break": {**self.policy.tie_break.to_dict(), "tied_profiles": self.policy.tied_profiles},
               "diagnostics": self.diagnostics.to_dict(),
               "last_period": None if self.last is None else self.last.to_dict()}
        if self.vcg is not None:
            out["vcg_transfers"] = self.vcg.to_dict()
        if self.report is not None:
            out["report_lp"] = {"status": self.report.status, "solver_status": self.report.solution.solver_status,
                                "objective": self.report.solution.objective,
                                "program": self.report.program.summary(),
                                "max_abs_transfer": self.report.max_abs if self.report.ok else None,
                                "farkas_ray_nonzeros": None if self.report.solution.dual_ray is None else
                                int((abs(self.report.solution.dual_ray) > 1e-12).sum())}
        if self.naive_verification is not None:
            out["naive_team_verification"] = self.naive_verification.to_dict()
        if self.auction is not None:
            out["auction"] = self.auction.to_dict()
        return result_record("contingent", self.status, self.objective, verification=self.verification_dict(),
                             mechanism=None if self.mechanism is None else self.mechanism.to_dict(),
                             options=self.options, model={"name": self.env.name}, message=self.message, **out)

    def summary(self) -> list[str]:
        e = self.env
        lines = [f"{e.name}: {e.N} agents, signals {'x'.join(map(str, e.shape))}, {e.n_decisions(0)} decisions, "
                 f"horizon {'infinite' if e.stationary else e.horizon}, δ = {e.discount:g}",
                 f"status: {self.status} (method {self.method})" + (f" — {self.message}" if self.message else ""),
                 f"efficient expected welfare: {self.policy.expected_welfare():.6g}"]
        if self.policy.tied_profiles:
            lines.append(f"{self.policy.tied_profiles} profile(s) with tied efficient decisions; "
                         + self.policy.tie_break.describe())
        lines += self.diagnostics.summary()
        if self.last is not None:
            lines.append(f"last period: {self.last.rule}" + ("" if self.last.ok else " — NOT ex-post implementable"))
        if self.vcg is not None:
            lines.append(f"VCG-type transfers: {self.vcg.status}, max residual {fmt(self.vcg.max_residual, 3)}, "
                         f"failing blocks {len(self.vcg.failures)} "
                         f"(used by a*: {sum(f['used_by_policy'] for f in self.vcg.failures)})")
            for f in self.vcg.failures[:5]:
                lines.append(f"  step {f['step']}, {f['agent']}, decision {f['decision']}, others {f['others_signals']}: "
                             f"rank {f['rank']}, residual {f['residual']:.4g}")
        if self.report is not None:
            lines.append(f"report-dependent LP: {self.report.status} ({self.report.solution.solver_status}); "
                         f"objective {self.report.solution.objective}")
        if self.mechanism is not None:
            m = self.mechanism
            lines.append(f"mechanism: welfare {m.welfare():.6g}, revenue {m.revenue():.6g}, "
                         f"max |payment| {m.max_abs_payment():.4g}")
        if self.verification is not None:
            lines += self.verification.summary()
        if self.naive_verification is not None:
            lines.append("naive team transfers at reports: max regret "
                         f"{self.naive_verification.max_regret:.4g}")
        if self.auction is not None:
            lines += self.auction.summary()
        return lines


def parse(data: dict):
    return from_dict(data)


def _prepare(env, tie_break=None):
    """The efficient policy and, when it randomises over tied decisions, the environment whose
    decisions include its lotteries (:mod:`dmd_opt.families.contingent.lottery`): the transfers
    are computed there.  Returns ``(policy, work_env, work_policy, L, last)``."""
    pol = efficient_policy(env, tie_break)
    work_env, work_pol, L = (env, pol, None)
    if pol.randomised:
        work_env, work_pol, L = lottery_environment(env, pol)
    last = None if env.stationary else last_period_transfers(work_env, work_pol.at(env.horizon - 1))
    return pol, work_env, work_pol, L, last


def build(env, blocks: str = "used", tie_break=None, **_ignored):
    """The report-dependent transfer LP (for certificate checks)."""
    _, work_env, work_pol, _, last = _prepare(env, tie_break)
    return report_program(work_env, work_pol, last, V.choice(blocks, "solve.blocks", ("used", "all")))


def solve(env, method: str = "auto", backend: str = "highs", solver: str | None = None,
          blocks: str = "used", auction: bool = False, verify: bool = True, options: dict | None = None,
          tie_break=None, **_ignored) -> ContingentResult:
    method = V.choice(method, "solve.method", METHODS)
    blocks = V.choice(blocks, "solve.blocks", ("used", "all"))
    pol, work_env, work_pol, L, last = _prepare(env, tie_break)

    def original(mech):            # a mechanism of the lottery environment on env's decisions
        return mech if L is None else to_lotteries(mech, env, pol, L)

    diag = diagnose(work_env, work_pol, backend="highs")
    res = ContingentResult("optimal", None, env, method, pol, diag, last,
                           options={"method": method, "blocks": blocks, "tie_break": pol.tie_break.spec})
    if last is not None and not last.ok:
        res.status = "last_period_not_ex_post"
        res.message = (f"Assumption 4 fails: the efficient last-period decision is not ex-post implementable "
                       f"({len(last.cycles)} violating cycles); use last_period = \"constant\" (Corollary 3.3)")
        return res
    mech = None
    if method in ("vcg", "auto"):
        res.vcg = vcg_transfers(work_env, work_pol, last)
        if res.vcg.ok:
            mech = original(vcg_mechanism(work_env, work_pol, res.vcg, last))
            res.objective = res.vcg.max_abs
            res.method = "vcg"
        elif method == "vcg":
            res.status = "spanning_fails"
            res.message = "the VCG-type transfer does not exist for some block used by the efficient policy"
    if mech is None and (method == "report" or (method == "auto" and not res.vcg.ok)):
        res.report = solve_report(work_env, work_pol, last, backend=backend, solver=solver, blocks=blocks,
                                  options=options)
        res.method = "report"
        res.status = res.report.status
        res.objective = res.report.solution.objective
        if res.report.ok:
            mech = original(report_mechanism(work_env, work_pol, res.report, last))
        else:
            res.message = "no report-dependent transfers satisfy Lemma A.3 (see the Farkas ray)"
    res.mechanism = mech
    if verify:
        if mech is not None:
            res.verification = verify_mechanism(mech, "periodic_expost")
            if not res.verification.passed(tol=1e-7):
                res.status = "verification_failed"
        res.naive_verification = verify_mechanism(original(naive_team_mechanism(work_env, work_pol)),
                                                  "periodic_expost")
    if auction:
        res.auction = winner_pay_auction(env, backend=backend)
    return res


def register_kinds() -> None:
    register_kind("contingent", parse, solve, options=OPTIONS,
                  description="Liu: contingent transfers with interdependent values", build=build)
