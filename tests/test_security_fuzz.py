"""Property-based fuzz of the loader: mutated shipped models (dropped keys, type changes, extreme
numbers, nesting, odd keys) load or are refused with a ModelError that names a field — never
another exception.  (benchmarks/fuzz_loader.py runs the same at ≥ 10,000 examples.)"""

from __future__ import annotations

import copy
import math
import os
import random

from hypothesis import HealthCheck, given, settings, strategies as st

from dmd_opt.certificates import check_certificate
from dmd_opt.interfaces.models import load

from conftest import MODELS
from fuzz_mutations import classify, mutate, mutate_surfaces, shipped_models

SEEDS = shipped_models()
#: examples per property (DMD_FUZZ_EXAMPLES raises it for a longer local run)
N = int(os.environ.get("DMD_FUZZ_EXAMPLES", "150"))
NAMES = sorted(SEEDS)

scalars = st.one_of(
    st.booleans(), st.none(), st.text(max_size=8),
    st.integers(min_value=-2 ** 80, max_value=2 ** 80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e20, 1e26, 1e308, 5e-324, 2 ** 63, 10 ** 30]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=12)


def _paths(node, path=()):
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:4]):
            out += _paths(v, path + (i,))
    return out


def _ok(outcome: str) -> bool:
    return outcome in ("ok", "named")


@settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(NAMES), st.integers(0, 2 ** 32 - 1))
def test_mutated_models_load_or_name_a_field(name, seed):
    raw = mutate(SEEDS[name], random.Random(seed))
    outcome = classify(load, raw)
    assert _ok(outcome), (name, seed, outcome)


@settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(NAMES), st.data())
def test_any_value_anywhere_loads_or_names_a_field(name, data):
    raw = copy.deepcopy(SEEDS[name])
    paths = _paths(raw)
    path = data.draw(st.sampled_from(paths))
    value = data.draw(values)
    if path:
        node = raw
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    else:
        raw = value
    outcome = classify(load, raw)
    assert _ok(outcome), (name, path, outcome)


@settings(max_examples=max(20, N // 3), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_certificates_never_crash(data):
    """Random edits anywhere in a certificate: the checker returns a verdict (never raises), and
    any edit of a claimed number makes it fail."""
    import dmd_opt.interfaces.models as io
    global _CERT
    if "_CERT" not in globals():
        m = io.load(MODELS / "static_monopoly.toml")
        r = io.solve_model(m, verify=False)
        c = r.certificate(model=m)
        c["arrays"]["values"] = {k: v.tolist() for k, v in c["arrays"]["values"].items()}
        _CERT = c
    cert = copy.deepcopy(_CERT)
    path = data.draw(st.sampled_from(_paths(cert)[1:]))
    value = data.draw(values)
    node = cert
    for k in path[:-1]:
        node = node[k]
    before = copy.deepcopy(node[path[-1]])
    node[path[-1]] = value
    res = check_certificate(cert)
    assert "\n" not in res.verdict
    if res.error is not None:
        assert res.error.field.startswith("certificate"), res.error
    claimed = path[0] in ("objective", "bound", "status") or (path[0] == "arrays" and len(path) >= 3) \
        or path[:2] in (("model", "data"), ("model", "options")) \
        or (path[0] == "program" and len(path) >= 2 and path[1] not in ("name", "payoff_scale"))
    if claimed and not _same(before, value):
        assert not res.ok, (path, value, res.verdict)


def _same(a, b) -> bool:
    """Equal, or numbers within the checker's tolerance (such an edit does not change the claim)."""
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= 1e-6 * max(1.0, abs(a))
    return a == b and type(a) is type(b)


#: small models whose solve is fast: the newer surfaces are mostly checked when solving
SOLVABLE = ["static_monopoly.toml", "auction_reduced_form.toml", "dsic_auction.toml", "no_money_allocation.toml",
            "correlated_full_extraction.toml", "mussa_rosen_2.toml"]


@settings(max_examples=max(12, N // 8), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(SOLVABLE), st.integers(0, 2 ** 32 - 1))
def test_new_surfaces_solve_or_name_a_field(name, seed):
    """Own-history, persistent, i.i.d., label-only and correlated types, payment selection, ex-post IC,
    money, reduced-form and relational options set to odd or plausible values: the model solves or is
    refused naming a field (load and solve, within a 2 GiB memory budget)."""
    from dmd_opt.core.limits import using
    from dmd_opt.interfaces.models import solve_model
    raw = mutate_surfaces(SEEDS[name], random.Random(seed))
    with using(memory=2 * 2 ** 30):
        outcome = classify(lambda r: solve_model(load(r), verify=False), raw)
    assert _ok(outcome), (name, seed, outcome)
