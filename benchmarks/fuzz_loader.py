"""Fuzz the model loader with mutated shipped models (the trust boundary of docs/security.md).

Every shipped model in ``models/`` is mutated at random — keys dropped, unknown and odd keys
added, values replaced by other types, extreme numbers (1e20, 1e308, 2**70, NaN, ±inf,
denormals), values nested in lists, lists shortened/extended/emptied, size-like fields made
huge, ``kind``/``[solve]`` tables replaced, arbitrary JSON-like values put anywhere — and
loaded with :func:`dmd_opt.interfaces.models.load`.  Each example must either load or raise a
:class:`~dmd_opt.core.errors.ModelError` that names a field.

*crash*: any exception other than the package's error type (a timeout of 30 s counts too);
*unnamed*: a ModelError with an empty field or a message of more than one line.  The run is
under a 4 GiB address-space limit, so a size check that is missing shows up as a crash
(MemoryError) rather than as a swapping machine.

Prints a table per model and ends with

    RESULT examples=<n> crashes=<k> unnamed=<m>

Usage: ``python benchmarks/fuzz_loader.py [--examples 10000] [--seed 0]`` (``--show 5`` prints
the first failing examples).
"""

from __future__ import annotations

import argparse
import collections
import copy
import random
import resource
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fuzz_mutations import mutate, shipped_models  # noqa: E402

from dmd_opt.core.errors import DmdOptError, ModelError  # noqa: E402
from dmd_opt.interfaces.models import load  # noqa: E402

ODD = [None, True, False, "", "x", "1e3", [], {}, [[]], {"": 1}, 0, -1, 1e20, -1e308, 2 ** 70,
       float("nan"), float("inf"), 5e-324, [1, "a"], [[1, 2], [3]], {"kind": "x"}]


def _paths(node, path=()):
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:6]):
            out += _paths(v, path + (i,))
    return out


def anywhere(raw: dict, rng: random.Random):
    """One odd value put at a random place of the model."""
    out = copy.deepcopy(raw)
    path = rng.choice(_paths(out)[1:])
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = copy.deepcopy(rng.choice(ODD))
    return out


class _Timeout(BaseException):
    pass


def _alarm(*_):
    raise _Timeout()


def run_one(raw) -> str:
    signal.alarm(30)
    try:
        load(raw)
        return "ok"
    except ModelError as exc:
        return "unnamed" if not exc.field or "\n" in str(exc) else "named"
    except DmdOptError:
        return "named"
    except _Timeout:
        return "crash:timeout"
    except Exception as exc:  # noqa: BLE001 - counted
        return f"crash:{type(exc).__name__}: {str(exc)[:120]}"
    finally:
        signal.alarm(0)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=5)
    args = ap.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2 ** 30, 4 * 2 ** 30))
    signal.signal(signal.SIGALRM, _alarm)
    seeds = shipped_models()
    names = sorted(seeds)
    rng = random.Random(args.seed)
    stats = {n: collections.Counter() for n in names}
    failures = []
    slowest = (0.0, "")
    t_all = time.perf_counter()
    for k in range(args.examples):
        name = names[k % len(names)]
        raw = mutate(seeds[name], rng) if rng.random() < 0.7 else anywhere(seeds[name], rng)
        t0 = time.perf_counter()
        out = run_one(raw)
        dt = time.perf_counter() - t0
        if dt > slowest[0]:
            slowest = (dt, name)
        key = out.split(":")[0]
        stats[name][key] += 1
        if key in ("crash", "unnamed"):
            failures.append((k, name, out))
    total = time.perf_counter() - t_all
    print(f"{'model':38s} {'examples':>8s} {'loaded':>7s} {'named':>7s} {'crash':>6s} {'unnamed':>8s}")
    for n in names:
        s = stats[n]
        print(f"{n:38s} {sum(s.values()):8d} {s['ok']:7d} {s['named']:7d} {s['crash']:6d} {s['unnamed']:8d}")
    crashes = sum(s["crash"] for s in stats.values())
    unnamed = sum(s["unnamed"] for s in stats.values())
    for k, name, out in failures[: args.show]:
        print(f"example {k} ({name}): {out}")
    print(f"{args.examples} examples in {total:.1f} s; slowest {slowest[0]:.3f} s ({slowest[1]})")
    print(f"RESULT examples={args.examples} crashes={crashes} unnamed={unnamed}")


if __name__ == "__main__":
    main()
