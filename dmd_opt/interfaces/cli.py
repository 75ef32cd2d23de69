"""Command-line interface: ``dmd-opt solve | verify | audit | check | compare | sweep …``.

Exit codes (``docs/cli.md``): 0 success (optimal and, for ``verify``/``check``,
passed); 1 a verification or certificate check failed, or the solver failed
(for ``sweep``: at least one point failed; the table still holds every point);
2 bad input — a model file, certificate, option or size limit refused, with one
line ``error: FIELD: problem`` naming the field; 3 the program is infeasible or
unbounded (a definite answer, but no mechanism; for ``compare``: one of the
revenue programs is); 70 an internal error (a bug: one line, the traceback only
with ``DMD_OPT_TRACEBACK=1``); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from dmd_opt.core.display import fmt
from dmd_opt.core.errors import DmdOptError
from dmd_opt.core.record import for_command, result_record

app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode="rich",
                  help="Dynamic mechanism design as optimisation: build, solve, verify, audit and certify "
                       "designer programs from model files (TOML).\n\n"
                       "Examples:\n\n"
                       "  dmd-opt solve models/courty_li_fosd.toml\n\n"
                       "  dmd-opt solve models/battaglini.toml --participation ex_ante --json\n\n"
                       "  dmd-opt verify models/static_monopoly.toml\n\n"
                       "  dmd-opt solve models/static_monopoly.toml --certificate cert.json && dmd-opt check cert.json\n\n"
                       "  dmd-opt compare models/battaglini.toml --plot plots/\n\n"
                       "  dmd-opt sweep models/battaglini.toml --param delta=0.5:0.99:10 --out sweep.parquet\n\n"
                       "Shell completion: dmd-opt --install-completion.  JSON output (--json): "
                       "docs/result.schema.json; theory: docs/theory.md.")


class Participation(str, Enum):
    """When an agent may walk away (docs/theory.md#participation)."""
    ex_ante = "ex_ante"
    interim = "interim"
    periodic = "periodic"
    expost = "expost"
    none = "none"


class IC(str, Enum):
    """Incentive compatibility (docs/theory.md#incentive-compatibility-and-participation)."""
    bayesian = "bayesian"
    expost = "expost"


class Disclosure(str, Enum):
    """What an agent sees of the others' reports (docs/theory.md#histories-and-disclosure)."""
    public = "public"
    private = "private"


class Backend(str, Enum):
    """The solver interface (docs/backends.md)."""
    highs = "highs"
    cvxpy = "cvxpy"
    pyomo = "pyomo"


#: every program's ``--method`` values (a kind accepts its own and names the others in its error)
METHODS = ("full", "cg", "auto", "reduced_form", "value_iteration", "closed_form", "vcg", "report")
OBJECTIVES = ("revenue", "welfare", "revenue=0.5,welfare=0.5")
EFFICIENT_MECHANISMS = ("pivot", "team", "balanced", "agv", "none")
SOLVERS = ("CLARABEL", "HIGHS", "SCS", "ECOS", "appsi_highs", "highs")


def _complete(choices):
    """Shell completion of a free-text option: the known values that start with the typed prefix
    (after the last comma for comma-separated lists)."""
    def complete(incomplete: str):
        head, _, last = incomplete.rpartition(",")
        return [f"{head},{c}" if head else c for c in choices if c.startswith(last)]
    return complete


def _value(x):
    return x.value if isinstance(x, Enum) else x


# options shared by the commands that solve a model (one definition, the same everywhere)
FILE = typer.Argument(..., help="model file (TOML; docs/model_format.md)", metavar="FILE")
PARTICIPATION = typer.Option(None, "--participation", help="participation constraint (default: the file's \\[solve] "
                                                           "table, else interim)", case_sensitive=False)
DISCLOSURE = typer.Option(None, "--disclosure", help="what agents see of the others' reports", case_sensitive=False)
IC_OPTION = typer.Option(None, "--ic", help="revenue models: bayesian, or expost (dominant-strategy / periodic "
                                            "ex-post incentive compatibility)", case_sensitive=False)
MONEY = typer.Option(None, "--money/--no-money", help="revenue models: --no-money fixes every payment at 0")
OBJECTIVE = typer.Option(None, "--objective", help="revenue | welfare | revenue=W1,welfare=W2",
                         autocompletion=_complete(OBJECTIVES))
BACKEND = typer.Option(None, "--backend", help="solver interface", case_sensitive=False)
SOLVER = typer.Option(None, "--solver", help="solver name for cvxpy/pyomo (e.g. CLARABEL, appsi_highs)",
                      autocompletion=_complete(SOLVERS))
METHOD = typer.Option(None, "--method", help="revenue models: auto | full | cg (constraint generation) | reduced_form (one-period auctions over interim rules); Thomas–Worrall: "
                                             "auto | value_iteration | closed_form; contingent: auto | vcg | report",
                      autocompletion=_complete(METHODS))
TIE_BREAK = typer.Option(None, "--tie-break", help="efficient and contingent models: how tied efficient decisions "
                         "are chosen: lowest | highest | uniform (a fair lottery) | a comma list of decision labels "
                         "(an explicit order, most preferred first)",
                         autocompletion=_complete(("lowest", "highest", "uniform")))
SELECTION = typer.Option(None, "--selection", help="revenue models: how the mechanism is chosen among the optimal "
                         "ones: default | none | min_square | min_abs | a comma list of "
                         "expost_ir|flow_ir, symmetric, min_square|min_abs",
                         autocompletion=_complete(("default", "none", "min_square", "min_abs",
                                                   "expost_ir,symmetric,min_square")))
JSON = typer.Option(False, "--json", help="print the JSON record (docs/result.schema.json) instead of tables")
OUTPUT = typer.Option(None, "--output", "-o", help="also write the JSON record here (atomically)")


def _version(value: bool):
    if value:
        from dmd_opt import __version__
        typer.echo(f"dmd-opt {__version__}")
        raise typer.Exit()


EXIT_FAILED, EXIT_INPUT, EXIT_NO_SOLUTION = 1, 2, 3
EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED = 70, 130, 143


def _fail(msg: str, code: int = EXIT_INPUT):
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _console():
    from rich.console import Console
    return Console(highlight=False)


def _parse_objective(objective: Optional[str]):
    """``revenue``, ``welfare`` or ``revenue=0.5,welfare=0.5``."""
    if objective is None or "=" not in objective:
        return objective
    out = {}
    for part in objective.split(","):
        k, _, v = part.partition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            _fail(f"objective: cannot read weight {v!r} in {objective!r}")
    return out


def _status_code(status: str) -> int:
    if status == "optimal":
        return 0
    if status in ("infeasible", "unbounded", "infeasible_or_unbounded"):
        return EXIT_NO_SOLUTION
    return EXIT_FAILED


def _solve(file: Path, **overrides):
    from dmd_opt.interfaces.models import load, solve_model
    model = load(file)
    return model, solve_model(model, **overrides)


def _record(res, file: Path) -> dict:
    """The result's record (``docs/result.schema.json``) with the model file named."""
    data = res.to_dict()
    data["model"] = {**data.get("model", {}), "file": str(file)}
    return data


def _guard(fn):
    """Run ``fn``; every failure becomes one line on stderr and its documented exit code.

    Package errors (bad model, certificate, option, size limit) exit 2; file-system
    errors on the user's own paths exit 2; Ctrl-C 130, SIGTERM 143; anything else is a
    bug and says so (exit 70) rather than passing for bad input.
    """
    import os
    from dmd_opt.core.errors import Terminated, one_line
    try:
        return fn()
    except typer.Exit:
        raise
    except DmdOptError as exc:
        _fail(one_line(str(exc)))
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _fail(one_line(f"{where}{exc.strerror or exc}"))
    except MemoryError:
        _fail("out of memory: the model is larger than this machine allows; lower its size, or the "
              "size limits (--limit memory=…) so that it is refused before it is built")
    except Terminated:
        _fail("terminated", EXIT_TERMINATED)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        if os.environ.get("DMD_OPT_TRACEBACK"):
            raise
        _fail(one_line(f"internal error: {type(exc).__name__}: {exc} (a bug in dmd_opt; "
                       "DMD_OPT_TRACEBACK=1 shows the traceback)"), EXIT_INTERNAL)


@app.callback()
def _options(limit: list[str] = typer.Option([], "--limit", metavar="NAME=VALUE",
                                             help="raise or lower a size limit, e.g. --limit tree_nodes=1e8 "
                                                  "--limit memory=16GiB (see docs/security.md)"),
             version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="print the version and exit")):
    """Dynamic mechanism design as optimisation."""
    def run():
        from dmd_opt.core.limits import limits_from_env, parse_limit, set_limits
        # every invocation starts from the defaults (DMD_OPT_LIMITS), then the flags
        set_limits(limits_from_env(), **dict(parse_limit(x) for x in limit))
    _guard(run)


def _parse_tie_break(text: Optional[str]):
    """``lowest`` | ``highest`` | ``uniform``, or a comma list of decision labels (an order)."""
    if text is None or text.strip() in ("lowest", "highest", "uniform"):
        return None if text is None else text.strip()
    return [s.strip() for s in text.split(",")]


def _overrides(participation, disclosure, ic, money, objective, backend, solver, method, tie_break=None) -> dict:
    return {"participation": _value(participation), "disclosure": _value(disclosure), "ic": _value(ic),
            "money": money, "objective": _parse_objective(objective), "backend": _value(backend), "solver": solver,
            "method": method, "tie_break": _parse_tie_break(tie_break)}


def _emit(data: dict, json_out: bool, output: Optional[Path]) -> None:
    """Write the record to ``output`` (atomically) and print it when ``--json``."""
    from dmd_opt.core.serialise import atomic_write, dumps
    if output is not None:
        atomic_write(output, dumps(data))
    if json_out:
        typer.echo(dumps(data))


@app.command()
def solve(file: Path = FILE,
          participation: Optional[Participation] = PARTICIPATION,
          disclosure: Optional[Disclosure] = DISCLOSURE,
          ic: Optional[IC] = IC_OPTION,
          money: Optional[bool] = MONEY,
          objective: Optional[str] = OBJECTIVE,
          backend: Optional[Backend] = BACKEND,
          solver: Optional[str] = SOLVER,
          method: Optional[str] = METHOD,
          tie_break: Optional[str] = TIE_BREAK,
          selection: Optional[str] = SELECTION,
          json_out: bool = JSON,
          certificate: Optional[Path] = typer.Option(None, help="write a solver-independent certificate here"),
          plot: Optional[Path] = typer.Option(None, help="write figures (PNG) into this folder"),
          output: Optional[Path] = OUTPUT):
    """Solve the model's program and print the result.

    Examples:

      dmd-opt solve models/static_monopoly.toml

      dmd-opt solve models/battaglini.toml --participation ex_ante --objective welfare --json

      dmd-opt solve models/battaglini.toml --method cg --certificate cert.json

      dmd-opt solve models/repeated_auction_markov.toml --tie-break uniform

      dmd-opt solve models/thomas_worrall.toml --plot figures/
    """
    def run():
        model, res = _solve(file, **_overrides(participation, disclosure, ic, money, objective, backend, solver, method, tie_break),
                            selection=selection)
        data = _record(res, file)
        if certificate is not None:
            if not hasattr(res, "certificate"):
                _fail(f"models of kind {model.kind!r} have no LP certificate")
            res.certificate(certificate, model=model)
            data["certificate"] = str(certificate)
        if plot is not None:
            from dmd_opt.analysis.plots import plot_result
            data["plots"] = [str(p) for p in plot_result(res, plot)]
        _emit(data, json_out, output)
        if not json_out:
            con = _console()
            for line in res.summary():
                con.print(line)
            if certificate is not None:
                con.print(f"certificate written to {certificate}")
            for p in data.get("plots", []):
                con.print(f"plot: {p}")
        raise typer.Exit(_status_code(res.status))
    _guard(run)


@app.command()
def verify(file: Path = FILE,
           participation: Optional[Participation] = PARTICIPATION,
           disclosure: Optional[Disclosure] = DISCLOSURE,
           ic: Optional[IC] = IC_OPTION,
           money: Optional[bool] = MONEY,
           objective: Optional[str] = OBJECTIVE,
           backend: Optional[Backend] = BACKEND,
           solver: Optional[str] = SOLVER,
           method: Optional[str] = METHOD,
           tie_break: Optional[str] = TIE_BREAK,
           tol: float = typer.Option(1e-7, help="relative tolerance (× payoff scale)", min=0.0),
           json_out: bool = JSON,
           output: Optional[Path] = OUTPUT):
    """Solve, then check the mechanism with the independent verifier (regret, participation, budget).

    Exit code 0 when every checked property holds within the tolerance, 1 otherwise.

    Examples:

      dmd-opt verify models/ironing_2.toml

      dmd-opt verify models/correlated_counterexample.toml --json

      dmd-opt verify models/battaglini.toml --participation periodic --tol 1e-9
    """
    def run():
        model, res = _solve(file, **_overrides(participation, disclosure, ic, money, objective, backend, solver, method, tie_break))
        ver = getattr(res, "verification", None)
        vrec = res.verification_dict(tol) if hasattr(res, "verification_dict") else None
        if ver is None or vrec is None:
            _fail(f"no mechanism to verify (status {res.status})", _status_code(res.status) or EXIT_FAILED)
        ok = bool(vrec["passed"])
        _emit(for_command(_record(res, file), "verify", verification=vrec), json_out, output)
        if not json_out:
            con = _console()
            for line in ver.summary_lines():
                con.print(line)
            con.print(("[green]PASSED[/green]" if ok else "[red]FAILED[/red]") + f" (tolerance {tol:g} × scale)")
        raise typer.Exit(0 if ok else EXIT_FAILED)
    _guard(run)


@app.command()
def audit(file: Path = FILE,
          participation: Optional[Participation] = PARTICIPATION,
          disclosure: Optional[Disclosure] = DISCLOSURE,
          ic: Optional[IC] = IC_OPTION,
          money: Optional[bool] = MONEY,
          objective: Optional[str] = OBJECTIVE,
          backend: Optional[Backend] = BACKEND,
          solver: Optional[str] = SOLVER,
          method: Optional[str] = METHOD,
          tie_break: Optional[str] = TIE_BREAK,
          json_out: bool = JSON,
          output: Optional[Path] = OUTPUT):
    """Solve and report which constraints bind (by pattern) with shadow prices, or the rows of a Farkas ray.

    For an infeasible program the audit names the rows the Farkas ray combines. Agents, periods, histories and types are counted from 1.

    Examples:

      dmd-opt audit models/handicap_auction.toml

      dmd-opt audit models/bilateral_trade_impossible.toml

      dmd-opt audit models/thomas_worrall.toml --json --output audit.json
    """
    def run():
        model, res = _solve(file, **_overrides(participation, disclosure, ic, money, objective, backend, solver, method, tie_break))
        if not hasattr(res, "audit"):
            _fail(f"models of kind {model.kind!r} have no constraint audit")
        # Infeasible programs are audited too: the audit then names the rows of the Farkas ray.
        if res.status not in ("optimal", "infeasible"):
            _fail(f"no solution to audit (status {res.status})", _status_code(res.status))
        a = res.audit()
        _emit(for_command(_record(res, file), "audit", audit=a.to_dict()), json_out, output)
        if not json_out:
            con = _console()
            table = getattr(a, "rich_table", None)
            if table is not None:
                con.print(table())
            for line in a.summary_lines():
                con.print(line)
        raise typer.Exit(_status_code(res.status))
    _guard(run)


@app.command()
def check(cert: Path = typer.Argument(..., help="certificate file written by solve --certificate", metavar="CERT"),
          model: Optional[Path] = typer.Option(None, help="model file to rebuild the program from (default: the "
                                                          "model data embedded in the certificate)"),
          json_out: bool = JSON,
          output: Optional[Path] = OUTPUT):
    """Check a certificate without any solver (exact rational arithmetic or rigorous bounds).

    Exit code 0 when the certificate proves its claim, 1 when it does not.

    Examples:

      dmd-opt solve models/static_monopoly.toml --certificate cert.json && dmd-opt check cert.json

      dmd-opt check cert.json --model models/static_monopoly.toml --json
    """
    def run():
        from dmd_opt.certificates import check_certificate
        from dmd_opt.interfaces.models import load
        m = load(model) if model is not None else None
        res = check_certificate(cert, model=m)
        res.source = res.source or str(cert)
        if res.error is not None:          # not readable as a certificate: bad input, one line, exit 2
            _emit(res.to_dict(), json_out, output)
            raise res.error
        _emit(res.to_dict(), json_out, output)
        if not json_out:
            typer.echo(res.verdict)
        raise typer.Exit(0 if res.ok else EXIT_FAILED)
    _guard(run)


@app.command()
def compare(file: Path = FILE,
            participation: str = typer.Option("ex_ante,interim,periodic",
                                              help="participation notions of the revenue-optimal mechanisms "
                                                   "(comma-separated: ex_ante, interim, periodic, none)",
                                              autocompletion=_complete([p.value for p in Participation])),
            efficient: str = typer.Option("pivot,team,balanced", help="efficient mechanisms (comma-separated: pivot, "
                                          "team, balanced, agv); 'none' for none",
                                          autocompletion=_complete(EFFICIENT_MECHANISMS)),
            disclosure: Optional[Disclosure] = DISCLOSURE,
            backend: Optional[Backend] = BACKEND,
            solver: Optional[str] = SOLVER,
            json_out: bool = JSON,
            plot: Optional[Path] = typer.Option(None, help="write comparison figures (PNG) into this folder"),
            frontier: int = typer.Option(0, help="also trace the revenue–welfare frontier with this many points",
                                         min=0),
            horizon: Optional[int] = typer.Option(None, help="use this many periods (truncates a stationary model)",
                                                  min=1),
            output: Optional[Path] = OUTPUT):
    """Revenue-optimal (each participation notion) vs efficient mechanisms, side by side.

    Tables of revenue, welfare, rents, deadweight loss, allocation distortion by period, binding
    rows and budget, each mechanism checked by the independent verifier.

    Examples:

      dmd-opt compare models/battaglini.toml --efficient none --plot plots/

      dmd-opt compare models/handicap_auction.toml --efficient pivot,team,balanced,agv --frontier 9 --json

      dmd-opt compare models/repeated_auction_markov.toml --horizon 3 --participation interim
    """
    def run():
        from dmd_opt.analysis.compare import as_environment, comparison
        from dmd_opt.interfaces.models import load
        model = load(file)
        if model.kind == "relational":          # commitment vs self-enforcing promises
            return _compare_relational(model, file, json_out, plot, output)
        env = as_environment(model)
        opts = model.options
        parts = _csv(participation, "participation")
        effs = [] if efficient.strip().lower() == "none" else _csv(efficient, "efficient")
        disc = _value(disclosure) or opts.get("disclosure", "public")
        back = _value(backend) or opts.get("backend", "highs")
        cmp = comparison(env, parts, effs, disclosure=disc, backend=back, solver=solver or opts.get("solver"),
                         horizon=horizon)
        env = cmp.env
        data = cmp.to_dict(kind=model.kind)
        data["model"]["file"] = str(file)
        fr = None
        if frontier > 0:
            from dmd_opt.analysis.frontier import frontier as trace
            part = "interim" if "interim" in parts else parts[0]
            fr = trace(env, participation=part, disclosure=disc, n=frontier, efficient=(), backend=back)
            for e in cmp.entries:
                if e.family == "efficient" and e.mechanism is not None:
                    fr.points.setdefault(e.name, (e.mechanism.revenue(), e.mechanism.welfare()))
            data["frontier"] = fr.to_dict()
        if plot is not None:
            data["plots"] = [str(p) for p in cmp.plot(plot)]
            if fr is not None:
                data["plots"].append(str(fr.plot(Path(plot) / "frontier.png")))
        _emit(data, json_out, output)
        if not json_out:
            _print_comparison(cmp, data)
        statuses = [e.status for e in cmp.entries if e.result is not None]
        code = max([_status_code(s) for s in statuses] or [0], key=lambda c: (c == EXIT_NO_SOLUTION, c))
        raise typer.Exit(code)
    _guard(run)


def _compare_relational(model, file: Path, json_out: bool, plot: Optional[Path], output: Optional[Path]):
    from dmd_opt.analysis.relational_compare import compare_relational
    from dmd_opt.core.serialise import atomic_write, dumps
    cmp = compare_relational(model.data, **model.options)
    data = cmp.to_dict()
    data["model"]["file"] = str(file)
    if plot is not None:
        data["plots"] = [str(p) for p in cmp.plot(plot)]
    if output is not None:
        atomic_write(output, dumps(data))
    if json_out:
        typer.echo(dumps(data))
    else:
        con = _console()
        for line in cmp.summary():
            con.print(line)
        for p in data.get("plots", []):
            con.print(f"plot: {p}")
    raise typer.Exit(max(_status_code(cmp.relational.status), _status_code(cmp.commitment.status)))


def _csv(text: str, field: str) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        _fail(f"{field}: give at least one value")
    return items


def _table(title: str, columns: list[str]):
    from rich.table import Table
    tab = Table(title=title)
    for c in columns:
        tab.add_column(c.replace("_", " "), justify="left" if c in ("mechanism", "status", "message") else "right",
                       overflow="fold")
    return tab


def _print_comparison(cmp, data) -> None:
    con = _console()
    env = cmp.env
    scale = env.payoff_scale
    con.print(f"[bold]{env.name}[/bold]  ({env.n_agents} agent{'s' * (env.n_agents != 1)}, {env.horizon} "
              f"period{'s' * (env.horizon != 1)}, δ = {fmt(env.discount)}); first-best surplus "
              f"{fmt(cmp.first_best, scale=scale)}")
    for title, cols in (("revenue, welfare and rents",
                         ["mechanism", "revenue", "welfare", "deadweight_loss", "rents_expected"]),
                        ("checks (verifier) and binding rows",
                         ["mechanism", "status", "max_ic_regret", "budget_max_imbalance", "binding_IC", "binding_IR"])):
        tab = _table(title, cols)
        for rec in data["mechanisms"]:
            tab.add_row(*[fmt(rec.get(c), scale=scale) for c in cols])
        con.print(tab)
    for rec in data["mechanisms"]:
        if rec.get("message"):
            con.print(f"{rec['mechanism']}: {rec['message']}")
    dist = data["distortion_by_period"]
    if dist:
        periods = sorted({d["period"] for d in dist})
        tab = _table("expected allocation distortion by period (efficient − actual)",
                     ["mechanism", *[f"t={t}" for t in periods]])
        for name in dict.fromkeys(d["mechanism"] for d in dist):
            vals = {d["period"]: d["expected_gap"] for d in dist if d["mechanism"] == name}
            tab.add_row(name, *[fmt(vals.get(t), scale=scale) for t in periods])
        con.print(tab)
    if "frontier" in data:
        cols = ["revenue", "welfare", "rents_expected", "status"]
        tab = _table(f"revenue–welfare frontier ({data['frontier']['method']}, "
                     f"{data['frontier']['participation']} participation)", cols)
        for rec in data["frontier"]["frontier"]:
            tab.add_row(*[fmt(rec.get(c), scale=scale) for c in cols])
        con.print(tab)
    for p in data.get("plots", []):
        con.print(f"plot: {p}")


@app.command()
def sweep(file: Path = FILE,
          param: list[str] = typer.Option(..., "--param", "-p",
                                          help="NAME=lo:hi:n (n evenly spaced points), NAME=v1,v2,… or NAME=\\[json list]; "
                                               "NAME is a dotted path (discount or delta, agents[0].transition, "
                                               "solve.participation); repeat for a product grid"),
          scheduler: Optional[str] = typer.Option(None, help="dask scheduler address (tcp://host:8786); "
                                                  "default: a LocalCluster on this machine"),
          workers: int = typer.Option(2, help="LocalCluster worker processes", min=1),
          threads: bool = typer.Option(False, "--threads", help="LocalCluster with threads instead of processes"),
          out: Optional[Path] = typer.Option(None, help="write the results table as Parquet (atomically)"),
          json_out: bool = typer.Option(False, "--json", help="print the JSON record with every point"),
          output: Optional[Path] = OUTPUT,
          progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr")):
    """Solve the model over a parameter grid on dask.distributed; failed points are kept as rows.

    Examples:

      dmd-opt sweep models/battaglini.toml --param delta=0.5:0.99:10 --out sweep.parquet

      dmd-opt sweep models/battaglini.toml --param delta=0.5,0.9 --param solve.participation=interim,periodic --json

      dmd-opt sweep models/handicap_auction.toml --param delta=0.5:0.95:40 --scheduler tcp://10.0.0.5:8786
    """
    def run():
        from dmd_opt.core.errors import Terminated
        from dmd_opt.interfaces.models import load
        from dmd_opt.interfaces.sweep import parse_param, sweep as run_sweep
        grid = dict(parse_param(p) for p in param)
        kind = load(file).kind
        try:
            df = run_sweep(file, grid, scheduler=scheduler, n_workers=workers, processes=not threads,
                           progress=progress and not json_out, out=out)
        except KeyboardInterrupt as exc:
            what, code = ("terminated", EXIT_TERMINATED) if isinstance(exc, Terminated) else \
                ("interrupted", EXIT_INTERRUPTED)
            _fail(what + (f"; the finished points are in {out}" if out is not None else ""), code)
        records = df.to_dict(orient="records")
        failed = int((~df["ok"]).sum())
        data = result_record(
            kind, "optimal" if failed == 0 else "failed", None, command="sweep",
            options={"grid": grid, "scheduler": scheduler, "workers": workers, "threads": threads},
            model={"name": Path(file).stem, "file": str(file)},
            message="" if failed == 0 else f"{failed} of {len(records)} points failed",
            parameters=list(grid), points=records, failed=failed, out=str(out) if out else None)
        _emit(data, json_out, output)
        if not json_out:
            _print_sweep(df, list(grid), out)
        raise typer.Exit(0 if bool(df["ok"].all()) else EXIT_FAILED)
    _guard(run)


def _print_sweep(df, params, out) -> None:
    con = _console()
    cols = params + [c for c in ("ok", "status", "objective", "revenue", "welfare", "max_regret", "error")
                     if c in df.columns]
    tab = _table(f"sweep: {len(df)} points, {int((~df['ok']).sum())} failed", cols)
    for rec in df[cols].to_dict(orient="records"):
        tab.add_row(*[fmt(v) for v in rec.values()])
    con.print(tab)
    if out is not None:
        con.print(f"results written to {out}")


def main(argv=None):  # console-script entry point
    """Run the CLI; SIGTERM is turned into :class:`~dmd_opt.core.errors.Terminated` (like Ctrl-C, so
    atomic writes clean up and sweeps checkpoint), exit code 143."""
    import signal
    from dmd_opt.core.errors import Terminated

    def _term(signum, frame):
        raise Terminated()

    try:
        signal.signal(signal.SIGTERM, _term)
    except ValueError:  # pragma: no cover - not the main thread
        pass
    # typer ≥ 0.29 carries its own click; its UsageError is a base of the public BadParameter
    usage_error = typer.BadParameter.__mro__[1]
    try:
        code = app(args=argv, standalone_mode=False)
    except usage_error as exc:     # a bad flag or value: one line naming it, exit 2
        typer.echo(f"error: {' '.join(exc.format_message().split())} (dmd-opt "
                   f"{exc.ctx.info_name + ' ' if exc.ctx is not None and exc.ctx.parent is not None else ''}"
                   f"--help lists the options)", err=True)
        sys.exit(EXIT_INPUT)
    except typer.Abort:
        typer.echo("error: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.exit(code)
    except Terminated:
        typer.echo("error: terminated", err=True)
        sys.exit(EXIT_TERMINATED)
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
