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
from pathlib import Path
from typing import Optional

import typer

from dmd_opt.core.errors import DmdOptError
from dmd_opt.core.record import for_command, result_record

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Dynamic mechanism design as optimisation.\n\n"
                       "Examples:\n\n  dmd-opt solve models/courty_li.toml\n\n"
                       "  dmd-opt solve models/battaglini.toml --participation ex_ante --json\n\n"
                       "  dmd-opt verify models/static_monopoly.toml\n\n"
                       "  dmd-opt solve models/static_monopoly.toml --certificate cert.json && dmd-opt check cert.json\n\n"
                       "  dmd-opt compare models/battaglini.toml --plot plots/\n\n"
                       "  dmd-opt sweep models/battaglini.toml --param delta=0.5:0.99:10 --out sweep.parquet")

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
                                                  "--limit memory=16GiB (see docs/security.md)")):
    """Dynamic mechanism design as optimisation."""
    def run():
        from dmd_opt.core.limits import limits_from_env, parse_limit, set_limits
        # every invocation starts from the defaults (DMD_OPT_LIMITS), then the flags
        set_limits(limits_from_env(), **dict(parse_limit(x) for x in limit))
    _guard(run)


@app.command()
def solve(file: Path = typer.Argument(..., help="model file (TOML)"),
          participation: Optional[str] = typer.Option(None, help="ex_ante | interim | periodic | expost | none"),
          disclosure: Optional[str] = typer.Option(None, help="public | private"),
          ic: Optional[str] = typer.Option(None, help="revenue models: bayesian | expost (dominant-strategy / "
                                                      "periodic ex-post incentive compatibility)"),
          money: Optional[bool] = typer.Option(None, "--money/--no-money",
                                               help="revenue models: --no-money fixes every payment at 0"),
          objective: Optional[str] = typer.Option(None, help="revenue | welfare | revenue=W1,welfare=W2"),
          backend: Optional[str] = typer.Option(None, help="highs | cvxpy | pyomo"),
          solver: Optional[str] = typer.Option(None, help="solver name for cvxpy/pyomo (e.g. CLARABEL, appsi_highs)"),
          method: Optional[str] = typer.Option(None, help="revenue models: full | cg (constraint generation); "
                                                          "other kinds: their own [solve] method"),
          json_out: bool = typer.Option(False, "--json", help="print a JSON object instead of a summary"),
          certificate: Optional[Path] = typer.Option(None, help="write a solver-independent certificate here"),
          plot: Optional[Path] = typer.Option(None, help="write plots into this folder"),
          output: Optional[Path] = typer.Option(None, help="also write the JSON result here (atomically)")):
    """Solve the model's program and print the result."""
    def run():
        from dmd_opt.core.serialise import dumps, atomic_write
        over = {"participation": participation, "disclosure": disclosure,
                "objective": _parse_objective(objective), "backend": backend, "solver": solver,
                "method": method, "ic": ic, "money": money}
        model, res = _solve(file, **over)
        data = _record(res, file)
        if certificate is not None:
            if not hasattr(res, "certificate"):
                _fail(f"models of kind {model.kind!r} have no LP certificate")
            res.certificate(certificate, model=model)
            data["certificate"] = str(certificate)
        if plot is not None:
            from dmd_opt.analysis.plots import plot_result
            data["plots"] = [str(p) for p in plot_result(res, plot)]
        if output is not None:
            atomic_write(output, dumps(data))
        if json_out:
            typer.echo(dumps(data))
        else:
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
def verify(file: Path = typer.Argument(..., help="model file (TOML)"),
           participation: Optional[str] = typer.Option(None),
           disclosure: Optional[str] = typer.Option(None),
           backend: Optional[str] = typer.Option(None),
           tol: float = typer.Option(1e-7, help="relative tolerance (× payoff scale)"),
           json_out: bool = typer.Option(False, "--json")):
    """Solve, then check the mechanism with the independent verifier (regret, IR, budget)."""
    def run():
        from dmd_opt.core.serialise import dumps
        model, res = _solve(file, participation=participation, disclosure=disclosure, backend=backend)
        ver = getattr(res, "verification", None)
        vrec = res.verification_dict(tol) if hasattr(res, "verification_dict") else None
        if ver is None or vrec is None:
            _fail(f"no mechanism to verify (status {res.status})", _status_code(res.status) or EXIT_FAILED)
        ok = bool(vrec["passed"])
        if json_out:
            typer.echo(dumps(for_command(_record(res, file), "verify", verification=vrec)))
        else:
            con = _console()
            for line in ver.summary_lines():
                con.print(line)
            con.print(("[green]PASSED[/green]" if ok else "[red]FAILED[/red]") + f" (tolerance {tol:g} × scale)")
        raise typer.Exit(0 if ok else EXIT_FAILED)
    _guard(run)


@app.command()
def audit(file: Path = typer.Argument(..., help="model file (TOML)"),
          participation: Optional[str] = typer.Option(None),
          disclosure: Optional[str] = typer.Option(None),
          backend: Optional[str] = typer.Option(None),
          json_out: bool = typer.Option(False, "--json")):
    """Solve and report which constraints bind (by pattern), with shadow prices."""
    def run():
        from dmd_opt.core.serialise import dumps
        model, res = _solve(file, participation=participation, disclosure=disclosure, backend=backend)
        if not hasattr(res, "audit"):
            _fail(f"models of kind {model.kind!r} have no constraint audit")
        # Infeasible programs are audited too: the audit then names the rows of the Farkas ray.
        if res.status not in ("optimal", "infeasible"):
            _fail(f"no solution to audit (status {res.status})", _status_code(res.status))
        a = res.audit()
        if json_out:
            typer.echo(dumps(for_command(_record(res, file), "audit", audit=a.to_dict())))
        else:
            con = _console()
            table = getattr(a, "rich_table", None)
            if table is not None:
                con.print(table())
            for line in a.summary_lines():
                con.print(line)
        raise typer.Exit(_status_code(res.status))
    _guard(run)


@app.command()
def check(cert: Path = typer.Argument(..., help="certificate file written by solve --certificate"),
          model: Optional[Path] = typer.Option(None, help="model file to rebuild the program from"),
          json_out: bool = typer.Option(False, "--json")):
    """Check a certificate without any solver (exact rational or rigorous bounds)."""
    def run():
        from dmd_opt.certificates import check_certificate
        from dmd_opt.core.serialise import dumps
        from dmd_opt.interfaces.models import load
        m = load(model) if model is not None else None
        res = check_certificate(cert, model=m)
        res.source = res.source or str(cert)
        if res.error is not None:          # not readable as a certificate: bad input, one line, exit 2
            if json_out:
                typer.echo(dumps(res.to_dict()))
            raise res.error
        if json_out:
            typer.echo(dumps(res.to_dict()))
        else:
            typer.echo(res.verdict)
        raise typer.Exit(0 if res.ok else EXIT_FAILED)
    _guard(run)


@app.command()
def compare(file: Path = typer.Argument(..., help="model file (TOML) describing an environment"),
            participation: str = typer.Option("ex_ante,interim,periodic",
                                              help="participation notions of the revenue-optimal mechanisms"),
            efficient: str = typer.Option("pivot,team,balanced", help="efficient mechanisms (pivot, team, balanced, agv); "
                                          "'none' for none"),
            disclosure: Optional[str] = typer.Option(None, help="public | private"),
            backend: Optional[str] = typer.Option(None, help="highs | cvxpy | pyomo"),
            solver: Optional[str] = typer.Option(None),
            json_out: bool = typer.Option(False, "--json", help="print a JSON object instead of tables"),
            plot: Optional[Path] = typer.Option(None, help="write comparison plots into this folder"),
            frontier: int = typer.Option(0, help="also trace the revenue–welfare frontier with this many points"),
            horizon: Optional[int] = typer.Option(None, help="use this many periods (truncates a stationary model)"),
            output: Optional[Path] = typer.Option(None, help="also write the JSON here (atomically)")):
    """Revenue-optimal (each participation notion) vs efficient mechanisms: revenue, welfare, rents, deadweight loss, distortion, binding rows, budget.

    Example: dmd-opt compare models/battaglini.toml --efficient none --plot plots/
    """
    def run():
        from dmd_opt.analysis.compare import as_environment, comparison
        from dmd_opt.core.serialise import atomic_write, dumps
        from dmd_opt.interfaces.models import load
        model = load(file)
        if model.kind == "relational":          # commitment vs self-enforcing promises
            return _compare_relational(model, file, json_out, plot, output)
        env = as_environment(model)
        opts = model.options
        parts = _csv(participation, "participation")
        effs = [] if efficient.strip().lower() == "none" else _csv(efficient, "efficient")
        cmp = comparison(env, parts, effs, disclosure=disclosure or opts.get("disclosure", "public"),
                         backend=backend or opts.get("backend", "highs"), solver=solver or opts.get("solver"),
                         horizon=horizon)
        env = cmp.env
        data = cmp.to_dict(kind=model.kind)
        data["model"]["file"] = str(file)
        fr = None
        if frontier > 0:
            from dmd_opt.analysis.frontier import frontier as trace
            part = "interim" if "interim" in parts else parts[0]
            fr = trace(env, participation=part, disclosure=disclosure or opts.get("disclosure", "public"),
                       n=frontier, efficient=(), backend=backend or opts.get("backend", "highs"))
            for e in cmp.entries:
                if e.family == "efficient" and e.mechanism is not None:
                    fr.points.setdefault(e.name, (e.mechanism.revenue(), e.mechanism.welfare()))
            data["frontier"] = fr.to_dict()
        if plot is not None:
            data["plots"] = [str(p) for p in cmp.plot(plot)]
            if fr is not None:
                data["plots"].append(str(fr.plot(Path(plot) / "frontier.png")))
        if output is not None:
            atomic_write(output, dumps(data))
        if json_out:
            typer.echo(dumps(data))
        else:
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


def _print_comparison(cmp, data) -> None:
    from rich.table import Table
    con = _console()
    env = cmp.env
    con.print(f"[bold]{env.name}[/bold]  (N={env.n_agents}, T={env.horizon}, δ={env.discount:g}); "
              f"first-best surplus {cmp.first_best:.6g}")
    for title, cols in (("revenue, welfare and rents",
                         ["mechanism", "revenue", "welfare", "deadweight_loss", "rents_expected"]),
                        ("checks (verifier) and binding rows",
                         ["mechanism", "status", "max_ic_regret", "budget_max_imbalance", "binding_IC", "binding_IR"])):
        tab = Table(title=title)
        for c in cols:
            tab.add_column(c.replace("_", " "), justify="left" if c in ("mechanism", "status") else "right")
        for rec in data["mechanisms"]:
            tab.add_row(*[_fmt(rec.get(c)) for c in cols])
        con.print(tab)
    for rec in data["mechanisms"]:
        if rec.get("message"):
            con.print(f"{rec['mechanism']}: {rec['message']}")
    dist = data["distortion_by_period"]
    if dist:
        periods = sorted({d["period"] for d in dist})
        tab = Table(title="expected allocation distortion by period (efficient − actual)")
        tab.add_column("mechanism")
        for t in periods:
            tab.add_column(f"t={t}", justify="right")
        for name in dict.fromkeys(d["mechanism"] for d in dist):
            vals = {d["period"]: d["expected_gap"] for d in dist if d["mechanism"] == name}
            tab.add_row(name, *[_fmt(vals.get(t)) for t in periods])
        con.print(tab)
    if "frontier" in data:
        tab = Table(title=f"revenue–welfare frontier ({data['frontier']['method']}, "
                          f"{data['frontier']['participation']} participation)")
        for c in ("revenue", "welfare", "rents_expected", "status"):
            tab.add_column(c.replace("_", " "), justify="right")
        for rec in data["frontier"]["frontier"]:
            tab.add_row(*[_fmt(rec.get(c)) for c in ("revenue", "welfare", "rents_expected", "status")])
        con.print(tab)
    for p in data.get("plots", []):
        con.print(f"plot: {p}")


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


@app.command()
def sweep(file: Path = typer.Argument(..., help="model file (TOML)"),
          param: list[str] = typer.Option(..., "--param", "-p",
                                          help="NAME=lo:hi:n (n evenly spaced points), NAME=v1,v2,… or NAME=\\[json list]; "
                                               "NAME is a dotted path (discount or delta, agents[0].transition, "
                                               "solve.participation); repeat for a product grid"),
          scheduler: Optional[str] = typer.Option(None, help="dask scheduler address (tcp://host:8786); "
                                                  "default: a LocalCluster on this machine"),
          workers: int = typer.Option(2, help="LocalCluster worker processes"),
          threads: bool = typer.Option(False, "--threads", help="LocalCluster with threads instead of processes"),
          out: Optional[Path] = typer.Option(None, help="write the results table as Parquet (atomically)"),
          json_out: bool = typer.Option(False, "--json", help="print the rows as JSON"),
          progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr")):
    """Solve the model over a parameter grid on dask.distributed; failed points are kept as rows.

    Example: dmd-opt sweep models/battaglini.toml --param delta=0.5:0.99:10 --param solve.participation=interim,periodic
    """
    def run():
        from dmd_opt.core.serialise import dumps
        from dmd_opt.interfaces.models import load
        from dmd_opt.interfaces.sweep import parse_param, sweep as run_sweep
        grid = dict(parse_param(p) for p in param)
        kind = load(file).kind
        from dmd_opt.core.errors import Terminated
        try:
            df = run_sweep(file, grid, scheduler=scheduler, n_workers=workers, processes=not threads,
                           progress=progress and not json_out, out=out)
        except KeyboardInterrupt as exc:
            what, code = ("terminated", EXIT_TERMINATED) if isinstance(exc, Terminated) else \
                ("interrupted", EXIT_INTERRUPTED)
            _fail(what + (f"; the finished points are in {out}" if out is not None else ""), code)
        records = df.to_dict(orient="records")
        failed = int((~df["ok"]).sum())
        if json_out:
            typer.echo(dumps(result_record(
                kind, "optimal" if failed == 0 else "failed", None, command="sweep",
                options={"grid": grid, "scheduler": scheduler, "workers": workers, "threads": threads},
                model={"name": Path(file).stem, "file": str(file)},
                message="" if failed == 0 else f"{failed} of {len(records)} points failed",
                parameters=list(grid), points=records, failed=failed, out=str(out) if out else None)))
        else:
            _print_sweep(df, list(grid), out)
        raise typer.Exit(0 if bool(df["ok"].all()) else EXIT_FAILED)
    _guard(run)


def _print_sweep(df, params, out) -> None:
    from rich.table import Table
    con = _console()
    cols = params + [c for c in ("ok", "status", "objective", "revenue", "welfare", "max_regret", "error")
                     if c in df.columns]
    tab = Table(title=f"sweep: {len(df)} points, {int((~df['ok']).sum())} failed")
    for c in cols:
        tab.add_column(c)
    for rec in df[cols].to_dict(orient="records"):
        tab.add_row(*[_fmt(None if isinstance(v, float) and v != v else v) for v in rec.values()])
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
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.exit(code)
    except Terminated:
        typer.echo("error: terminated", err=True)
        sys.exit(EXIT_TERMINATED)
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    main()
