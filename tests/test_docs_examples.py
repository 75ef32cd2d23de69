"""The ``# example:`` blocks of docs/model_format.md that document this module's options show
what the text claims (tests/test_model_format_examples.py solves every block)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dmd_opt.interfaces.models import load, solve_model

try:  # Python ≥ 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

DOC = Path(__file__).resolve().parents[1] / "docs" / "model_format.md"
BLOCKS = [b for b in re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
          if b.startswith("# example:")]
EXAMPLES = {b.splitlines()[0][len("# example:"):].split("(")[0].strip(): b for b in BLOCKS}


def check_selection(res):
    sel = res.selection
    assert sel.status == "optimal" and sel.rules == ("expost_ir", "symmetric", "min_square")
    u = np.stack([res.mechanism.truthful_utility(i, 0) for i in range(2)], axis=1)
    assert np.all(u - res.mechanism.payments[0] >= -1e-9)             # no loser pays
    rents = [a.root_values for a in res.verification.agents]
    np.testing.assert_allclose(rents[0], rents[1], atol=1e-9)         # symmetric rents


CHECKS = {"payment selection": check_selection}


def test_examples_are_found():
    assert set(CHECKS) <= set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_documented_example_loads_and_solves(name):
    model = load(tomllib.loads(EXAMPLES[name]))
    res = solve_model(model)
    assert res.status == "optimal"
    CHECKS[name](res)
