"""Every ``# example:`` TOML block of docs/model_format.md loads and solves (the documented numbers hold)."""

import re

import pytest

from dmd_opt.interfaces.models import load, solve_model

from conftest import ROOT

DOC = (ROOT / "docs" / "model_format.md").read_text(encoding="utf-8")
BLOCKS = [b for b in re.findall(r"```toml\n(.*?)```", DOC, flags=re.S) if b.startswith("# example:")]
EXPECTED = {"quantity without a cap": 5 / 6, "a dominant-strategy auction": 0.51 * 3 + 0.40 * (2 - 0.3 / 0.4),
            "correlated values and full surplus extraction": 0.4 * 1 + 0.6 * 2,
            "sequential screening as written": 1.7, "i.i.d. values": 4 / 3 + 0.9 * 2,
            "a value that is a function of an ex-ante type and a shock": 1.35,
            "a persistent value": 1.05 * (1 + 0.9 + 0.81),
            "a fair lottery at equal bids": 0.25 * 1 + 0.75 * 2,
            "a value read from the whole own type history": 1.35,
            "correlated values over two periods": 1.6 * (1 + 0.9),
            # H served today, L promised service tomorrow (y_L = 1, y_H = 5/9 keeps L truthful):
            # 0.5·1 + 0.9·0.25·(0.5·1 + 0.5·5/9)
            "allocation without money": 0.5 + 0.9 * 0.25 * (0.5 + 0.5 * 5 / 9)}


def _title(block: str) -> str:
    return block.splitlines()[0][len("# example:"):].split("(")[0].strip()


def test_examples_exist():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("block", BLOCKS, ids=_title)
def test_example_loads_and_solves(block):
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover
        import tomli as tomllib
    raw = tomllib.loads(block)
    model = load(raw)
    res = solve_model(model)
    assert res.status == "optimal"
    want = EXPECTED.get(_title(block))
    if want is not None:
        assert res.objective == pytest.approx(want, abs=1e-7)
