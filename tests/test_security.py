"""The trust boundary (docs/security.md): model files cannot run programs, write files or read
files; sweeps listen only on 127.0.0.1 and stop cleanly; writes are atomic and keep the umask;
unexpected errors are not passed off as bad input."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import dmd_opt.interfaces.models as io
from dmd_opt.core import limits as L
from dmd_opt.core.errors import LimitError, ModelError
from dmd_opt.core.serialise import atomic_write, read_regular_file

from malformed import MODELS, edited, toml_dumps

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "dmd_opt.interfaces.cli"]


def _cli(args, **kw):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=300, cwd=str(ROOT), **kw)


# ---------------------------------------------------------------------------------- no code execution
@pytest.fixture
def trap(tmp_path):
    """An executable that would leave a marker file if anything ran it."""
    marker = tmp_path / "RAN"
    exe = tmp_path / "bin" / "evilsolver"
    exe.parent.mkdir()
    exe.write_text(f"#!/bin/sh\ntouch {marker}\necho 'version 1.0'\n")
    exe.chmod(0o755)
    return exe, marker


def _run_main(args, capsys):
    from dmd_opt.interfaces.cli import main
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.mark.parametrize("backend", ["pyomo", "cvxpy", "highs", None])
def test_model_naming_an_executable_never_runs_it(tmp_path, trap, backend, monkeypatch, capsys):
    exe, marker = trap
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    for solver in (str(exe), "evilsolver", f"../{exe.parent.name}/evilsolver", "evilsolver -v", "asl:evilsolver"):
        ops = [("solve.solver", solver)] + ([("solve.backend", backend)] if backend else [])
        model = tmp_path / "m.toml"
        model.write_text(toml_dumps(edited("static_monopoly.toml", *ops)))
        code, out, err = _run_main(["solve", str(model)], capsys)
        assert code == 2, out + err
        assert err.startswith("error: solve.solver:") and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in out + err
        assert not marker.exists(), f"{solver!r} was run"


def test_executable_solver_refused_by_the_installed_command(tmp_path, trap):
    """The same through the real console entry point, in a fresh process with the script on PATH."""
    exe, marker = trap
    env = dict(os.environ, PATH=f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    model = tmp_path / "m.toml"
    model.write_text(toml_dumps(edited("static_monopoly.toml", ("solve.backend", "pyomo"),
                                       ("solve.solver", "evilsolver"))))
    p = _cli(["solve", str(model)], env=env)
    assert p.returncode == 2 and p.stderr.startswith("error: solve.solver:"), p.stderr
    assert "Traceback" not in p.stdout + p.stderr and not marker.exists()


def test_sweep_cannot_smuggle_an_executable(tmp_path, trap):
    exe, marker = trap
    from dmd_opt.interfaces.sweep import run_point
    raw = {"kind": "revenue", **io.read_toml(MODELS / "static_monopoly.toml")}
    row = run_point(raw, {"solve.backend": "pyomo", "solve.solver": str(exe)})
    assert not row["ok"] and "solve.solver" in row["error"] and not marker.exists()


def test_installed_solver_names_are_accepted():
    from dmd_opt.solvers.policy import solver_names
    names = solver_names("pyomo")
    assert "highs" in names and "appsi_highs" in names and "asl" not in names
    m = io.load(edited("static_monopoly.toml", ("solve.backend", "pyomo"), ("solve.solver", "appsi_highs")))
    assert m.options["solver"] == "appsi_highs"
    assert io.solve_model(m, verify=False).objective == pytest.approx(4 / 3)
    m = io.load(edited("static_monopoly.toml", ("solve.backend", "cvxpy"), ("solve.solver", "clarabel")))
    assert io.solve_model(m, verify=False).objective == pytest.approx(4 / 3, abs=1e-6)


FILE_OPTIONS = {"log_file": "{d}/highs.log", "write_model_file": "{d}/model.mps", "write_model_to_file": True,
                "solution_file": "{d}/sol.txt", "write_solution_to_file": True, "write_basis_file": "{d}/b.bas",
                "read_basis_file": "/etc/passwd", "read_solution_file": "/etc/passwd",
                "write_presolved_model_file": "{d}/p.mps", "write_presolved_model_to_file": True,
                "output_flag": True, "log_to_console": True, "write_data_filename": "{d}/scs.bin",
                "log_csv_filename": "{d}/scs.csv", "verbose": True, "threads": 64}


@pytest.mark.parametrize("name", sorted(FILE_OPTIONS))
def test_file_writing_solver_options_are_refused(tmp_path, name, capsys):
    value = FILE_OPTIONS[name]
    value = value.format(d=tmp_path) if isinstance(value, str) else value
    model = tmp_path / "m.toml"
    model.write_text(toml_dumps(edited("static_monopoly.toml", ("solve.options", {name: value}))))
    code, out, err = _run_main(["solve", str(model)], capsys)
    assert code == 2 and err.startswith(f"error: solve.options.{name}:"), err
    assert sorted(os.listdir(tmp_path)) == ["m.toml"]          # nothing written


def test_numeric_solver_options_are_allowed_and_typed():
    m = io.load(edited("static_monopoly.toml", ("solve.options", {"time_limit": 60, "presolve": "off",
                                                                 "primal_feasibility_tolerance": 1e-9})))
    assert io.solve_model(m, verify=False).objective == pytest.approx(4 / 3)
    # the Python API (the caller's own code) may still pass any HiGHS option
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"dmd-opt-log-{os.getpid()}.txt"
    try:
        io.solve_model(io.load(MODELS / "static_monopoly.toml"), verify=False, options={"log_file": str(log)})
        assert log.exists()
    finally:
        log.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------- files
def test_reading_refuses_non_regular_files_without_blocking(tmp_path):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    t0 = time.perf_counter()
    for p, words in ((fifo, "FIFO"), (Path("/dev/zero"), "character device"), (tmp_path, "directory")):
        with pytest.raises(ModelError, match=words) as e:
            read_regular_file(p)
        assert e.value.field == "file"
    assert time.perf_counter() - t0 < 2
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    with L.using(file_bytes=99):
        with pytest.raises(ModelError, match="limit file_bytes"):
            read_regular_file(big)
    assert read_regular_file(big) == b"x" * 100


def test_atomic_write_keeps_the_umask_and_the_existing_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.json", "{}")
        assert stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode) == 0o644
        os.umask(0o077)
        atomic_write(tmp_path / "b.json", b"{}")
        assert stat.S_IMODE(os.stat(tmp_path / "b.json").st_mode) == 0o600
        os.umask(0o002)
        os.chmod(tmp_path / "a.json", 0o640)
        atomic_write(tmp_path / "a.json", "[]")                 # replacing keeps the file's own mode
        assert stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode) == 0o640
        assert (tmp_path / "a.json").read_text() == "[]"
    finally:
        os.umask(old)


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_atomic_write_removes_its_temporary_file_on_failure(tmp_path, monkeypatch, where, exc):
    import dmd_opt.core.serialise as S
    target = tmp_path / "out.json"
    target.write_text("old")
    real = getattr(os, where)

    def boom(*a, **k):
        raise exc
    monkeypatch.setattr(S.os, where, boom)
    with pytest.raises(type(exc)):
        atomic_write(target, "new")
    monkeypatch.setattr(S.os, where, real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"] and target.read_text() == "old"


def test_atomic_write_removes_temporaries_of_killed_writers(tmp_path):
    """A writer killed outright (SIGKILL) leaves its temporary file; the next write removes it."""
    script = textwrap.dedent(f"""
        import os, signal
        import dmd_opt.core.serialise as S
        def stop(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        S.os.replace = stop
        S.atomic_write({str(tmp_path / 'x.json')!r}, 'data')
    """)
    p = subprocess.run([sys.executable, "-c", script], cwd=str(ROOT), timeout=120)
    assert p.returncode == -signal.SIGKILL
    assert any(n.endswith(".tmp") for n in os.listdir(tmp_path))
    atomic_write(tmp_path / "x.json", "fresh")
    assert sorted(os.listdir(tmp_path)) == ["x.json"]


def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path):
    """The command line turns SIGTERM into an exception: the temporary file is removed, exit 143."""
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        import dmd_opt.core.serialise as S
        from dmd_opt.interfaces import cli
        real = S.os.fsync
        def slow(fd):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            real(fd)
        S.os.fsync = slow
        cli.main(["solve", {str(MODELS / 'static_monopoly.toml')!r}, "--output", {str(tmp_path / 'r.json')!r}])
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=str(ROOT), timeout=300)
    assert p.returncode == 143, p.stderr
    assert p.stderr.strip() == "error: terminated" and "Traceback" not in p.stderr
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------- exit codes
def test_internal_errors_are_not_bad_input(monkeypatch, capsys):
    from dmd_opt.interfaces import cli
    import dmd_opt.interfaces.models as M

    def bug(*a, **k):
        raise TypeError("unsupported operand")
    monkeypatch.setattr(M, "solve_model", bug)
    with pytest.raises(SystemExit) as e:
        cli.main(["solve", str(MODELS / "static_monopoly.toml")])
    err = capsys.readouterr().err
    assert e.value.code == 70 and err.startswith("error: internal error: TypeError") and len(err.splitlines()) == 1
    monkeypatch.setenv("DMD_OPT_TRACEBACK", "1")
    with pytest.raises(TypeError):
        cli.main(["solve", str(MODELS / "static_monopoly.toml")])


def test_limits_api():
    assert L.current() == L.DEFAULT or os.environ.get("DMD_OPT_LIMITS")
    with L.using(tree_nodes=5):
        assert L.current().tree_nodes == 5
        with pytest.raises(LimitError) as e:
            io.solve_model(io.load(MODELS / "battaglini.toml"))
        assert e.value.field == "horizon" and e.value.name == "tree_nodes" and e.value.estimate > 5
        assert "nodes" in str(e.value) and "limit 5 tree_nodes" in str(e.value)
    assert L.parse_limit("memory=8GiB") == ("memory", 8 * 2 ** 30)
    assert L.parse_limit("rows=1e8") == ("rows", 10 ** 8)
    assert L.limits_from_env({"DMD_OPT_LIMITS": "periods=7, rows=1k"}).periods == 7
    with pytest.raises(ModelError, match="limit"):
        L.parse_limit("bogus=1")
    # the revenue program is refused on rows, with constraint generation as the way out
    with L.using(rows=20):
        with pytest.raises(LimitError, match='method = "cg"'):
            io.solve_model(io.load(MODELS / "battaglini.toml"))


def test_memory_budget_follows_the_address_space_limit():
    script = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
        from dmd_opt.core import limits as L
        print(L.memory_budget())
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    budget = int(p.stdout.strip())
    assert 0 < budget < 1.5 * 2 ** 30


# ---------------------------------------------------------------------------------- sweeps
def _listening(pids):
    import psutil
    out = []
    for pid in pids:
        try:
            for c in psutil.Process(pid).net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    out.append((pid, c.laddr.ip, c.laddr.port))
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.mark.parametrize("processes", [False, True])
def test_local_cluster_listens_only_on_localhost(processes):
    import psutil
    from dmd_opt.interfaces.sweep import _client
    me = psutil.Process()
    before = set(_listening([me.pid]))
    client, cluster = _client(None, 2, 1, processes)
    try:
        pids = [me.pid] + [p.pid for p in me.children(recursive=True)]
        new = [x for x in _listening(pids) if x not in before]
        assert new, "the cluster should listen somewhere"
        assert {ip for _, ip, _ in new} == {"127.0.0.1"}, new
        # the cluster's own view of its addresses
        addrs = [cluster.scheduler_address] + [w.get("address") if isinstance(w, dict) else w
                                               for w in client.scheduler_info()["workers"]]
        for a in addrs:
            assert a.startswith("inproc://") or a.startswith("tcp://127.0.0.1:"), a
    finally:
        client.close()
        cluster.close()


@pytest.mark.parametrize("address,words", [
    ("tls://127.0.0.1:8786", "TLS settings"), ("ucx://127.0.0.1:8786", "ucx"),
    ("inproc://x", "inproc://host/pid/n"), ("inproc://h/1/2", "this process"), ("http://h:1", "scheme"),
    ("tcp://host", "port"), ("tcp://h:0", "port"), ("tcp://h:99999", "port"), ("", "address"),
    ("tcp://127.0.0.1:1", "cannot connect")])
def test_scheduler_addresses_are_validated(models_dir, address, words):
    from dmd_opt.interfaces.sweep import sweep
    with pytest.raises(ModelError, match=words) as e:
        sweep(models_dir / "static_monopoly.toml", {"discount": [0.5]}, scheduler=address, progress=False,
              connect_timeout="1s")
    assert e.value.field == "scheduler" and "\n" not in str(e.value)


def test_bad_scheduler_on_the_command_line_is_one_line(capsys):
    for address in ("tls://127.0.0.1:1", "ucx://127.0.0.1:1", "inproc://x"):
        code, out, err = _run_main(["sweep", str(MODELS / "static_monopoly.toml"), "-p", "discount=0.5",
                                    "--scheduler", address, "--no-progress"], capsys)
        assert code == 2 and err.startswith("error: scheduler:"), err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err
    p = _cli(["sweep", str(MODELS / "static_monopoly.toml"), "-p", "discount=0.5", "--scheduler",
              "tls://127.0.0.1:1", "--no-progress"])
    assert p.returncode == 2 and p.stderr.startswith("error: scheduler:") and "Traceback" not in p.stderr


_SWEEP_SCRIPT = """
import functools, sys
sys.path.insert(0, {tests!r})
import dmd_opt.interfaces.sweep as S
import sweep_helpers
S.sweep = functools.partial(S.sweep, metrics=sweep_helpers.touch)   # what the command line calls
from dmd_opt.interfaces.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("sig,code,threads", [(signal.SIGTERM, 143, True), (signal.SIGINT, 130, False)])
def test_interrupted_sweep_keeps_finished_points(tmp_path, sig, code, threads):
    """SIGTERM is handled like Ctrl-C: finished points are written, unfinished ones are
    'pending', exit 143 (130 for Ctrl-C); worker processes print no traceback."""
    marker, out = tmp_path / "one-done", tmp_path / "sweep.parquet"
    args = ["sweep", str(MODELS / "battaglini.toml"), "-p", "discount=0.1:0.95:120", "-p", "horizon=5",
            "--out", str(out), "--no-progress", "--workers", "2"] + (["--threads"] if threads else [])
    env = dict(os.environ, DMD_TEST_MARKER=str(marker))
    p = subprocess.Popen([sys.executable, "-c", _SWEEP_SCRIPT.format(tests=str(ROOT / "tests")), *args],
                         cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        t0 = time.monotonic()
        while not marker.exists() and p.poll() is None and time.monotonic() - t0 < 240:
            time.sleep(0.2)
        assert marker.exists(), p.communicate(timeout=60)
        time.sleep(0.5)
        if sig == signal.SIGINT:
            os.killpg(p.pid, sig)                 # Ctrl-C reaches the whole process group
        else:
            p.send_signal(sig)
        stdout, stderr = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == code, stderr
    assert "Traceback" not in stdout + stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"error: {'terminated' if code == 143 else 'interrupted'}")
    import pandas as pd
    df = pd.read_parquet(out)
    assert len(df) == 120 and df["ok"].sum() >= 1 and (df["status"] == "pending").sum() >= 1
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_persistent_type_over_a_long_horizon(tmp_path, capsys):
    """A persistent type keeps one profile per later period: 100 periods are a 200-node tree whose
    histories have more than numpy's 64 axes.  solve (JSON record), verify and audit run; the
    revenue is the static monopoly price every period: sell at 2 to the high type (probability ½)."""
    import json
    from malformed import toml_dumps
    T, delta = 100, 0.9
    path = tmp_path / "persistent.toml"
    path.write_text(toml_dumps({"horizon": T, "discount": delta, "decisions": {"kind": "allocate"},
                                "agents": [{"types": [1.0, 2.0], "initial": [0.5, 0.5], "persistent": True}]}))
    code, out, err = _run_main(["solve", str(path), "--json"], capsys)
    assert code == 0, err
    rec = json.loads(out)
    assert abs(rec["objective"] - 1.0 * (1 - delta ** T) / (1 - delta)) < 1e-7
    for command in ("verify", "audit"):
        code, out, err = _run_main([command, str(path)], capsys)
        assert code == 0 and "Traceback" not in out + err, err
