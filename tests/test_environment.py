"""Environment validation: good models load; each malformed one is rejected naming the field."""

import copy
import math

import numpy as np
import pytest

from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.interfaces.models import load
from conftest import MODELS

BASE = {
    "name": "base", "horizon": 2, "discount": 0.9,
    "agents": [{"name": "a", "types": [1.0, 2.0], "labels": ["L", "H"], "initial": [0.4, 0.6],
                "transition": [[0.7, 0.3], [0.2, 0.8]]}],
    "decisions": {"kind": "allocate"},
}


def mutate(path_value):
    d = copy.deepcopy(BASE)
    for path, value in path_value:
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        if value is KeyError:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value
    return d


# (mutation, substring the error must contain: the field path)
BAD = [
    ([(("agents", 0, "initial"), [0.5, 0.6])], "agents[0].initial"),
    ([(("agents", 0, "initial"), [1.2, -0.2])], "agents[0].initial"),
    ([(("agents", 0, "initial"), [0.5])], "agents[0].initial"),
    ([(("agents", 0, "initial"), [float("nan"), 1.0])], "agents[0].initial"),
    ([(("agents", 0, "initial"), "half")], "agents[0].initial"),
    ([(("agents", 0, "initial"), KeyError)], "agents[0].initial"),
    ([(("agents", 0, "transition"), [[0.7, 0.2], [0.2, 0.8]])], "agents[0].transition"),
    ([(("agents", 0, "transition"), [[0.7, 0.3, 0.0], [0.2, 0.8, 0.0]])], "agents[0].transition"),
    ([(("agents", 0, "transition"), [[1.5, -0.5], [0.2, 0.8]])], "agents[0].transition"),
    ([(("agents", 0, "transition"), [[0.7, 0.3], [math.inf, 0.8]])], "agents[0].transition"),
    ([(("agents", 0, "transition"), KeyError)], "agents[0].transition"),
    ([(("agents", 0, "transition"), [[[0.7, 0.3], [0.2, 0.8]]] * 3)], "agents[0].transition"),
    ([(("agents", 0, "types"), [])], "agents[0].types"),
    ([(("agents", 0, "types"), [1.0, "two"])], "agents[0].types"),
    ([(("agents", 0, "types"), [[1.0, 2.0]] * 3)], "agents[0].types"),
    ([(("agents", 0, "labels"), ["L"])], "agents[0].labels"),
    ([(("agents", 0, "labels"), ["L", "L"])], "agents[0].labels"),
    ([(("agents", 0, "colour"), "red")], "agents[0].colour"),
    ([(("agents",), [])], "agents"),
    ([(("agents",), "one")], "agents"),
    ([(("discount",), 1.5)], "discount"),
    ([(("discount",), 0.0)], "discount"),
    ([(("discount",), -0.5)], "discount"),
    ([(("discount",), "high")], "discount"),
    ([(("discount",), float("nan"))], "discount"),
    ([(("horizon",), 0)], "horizon"),
    ([(("horizon",), 2.5)], "horizon"),
    ([(("horizon",), "forever")], "horizon"),
    ([(("decisions",), {"kind": "auction"})], "decisions.kind"),
    ([(("decisions",), {"kind": "allocate", "periods": [3]})], "decisions.periods[0]"),
    ([(("decisions",), {"kind": "allocate", "colour": 1})], "decisions.colour"),
    ([(("decisions",), {"kind": "quantity"})], "decisions.qmax"),
    ([(("decisions",), {"kind": "quantity", "qmax": -1})], "decisions.qmax"),
    ([(("decisions",), {"kind": "quantity", "qmax": 1, "cost_quadratic": -1})], "decisions.cost_quadratic"),
    ([(("decisions",), {"kind": "table", "labels": ["a", "b"], "utilities": [[[0, 1]]]})], "decisions.utilities[0]"),
    ([(("decisions",), {"kind": "table", "labels": ["a", "b"], "utilities": [[[0, 1], [1, 2]], [[0, 1], [1, 2]]]})],
     "decisions.utilities"),
    ([(("decisions",), {"kind": "table", "labels": ["a", "b"], "utilities": [[[0, 1], [1, 2]]], "cost": [1, 2, 3]})],
     "decisions.cost"),
    ([(("decisions",), KeyError)], "decisions"),
    ([(("extra",), 1)], "extra"),
    ([(("name",), 3)], "name"),
    ([(("renormalize",), "yes")], "renormalize"),
]


def test_corpus_is_large_enough():
    assert len(BAD) >= 30


@pytest.mark.parametrize("mutation,field", BAD, ids=[b[1] + f"#{k}" for k, b in enumerate(BAD)])
def test_bad_model_rejected_naming_field(mutation, field):
    with pytest.raises(ModelError) as ei:
        Environment.from_dict(mutate(mutation))
    assert field in str(ei.value)
    assert ei.value.field.startswith(field.split(".")[0].split("[")[0])


def test_base_model_is_valid():
    env = Environment.from_dict(BASE)
    assert env.n_types(0, 1) == 2 and env.transition(0, 0)[1, 1] == 0.8


def test_renormalise_only_when_asked():
    d = mutate([(("agents", 0, "initial"), [2.0, 3.0])])
    with pytest.raises(ModelError):
        Environment.from_dict(d)
    d["renormalize"] = True
    env = Environment.from_dict(d)
    np.testing.assert_allclose(env.agents[0].initial, [0.4, 0.6])


def test_environment_is_immutable():
    env = Environment.from_dict(BASE)
    with pytest.raises(ValueError):
        env.agents[0].initial[0] = 1.0
    with pytest.raises(Exception):
        env.discount = 0.5


def test_tolerance_1e9_on_sums():
    d = mutate([(("agents", 0, "initial"), [0.4 + 5e-10, 0.6])])
    Environment.from_dict(d)
    d = mutate([(("agents", 0, "initial"), [0.4 + 5e-8, 0.6])])
    with pytest.raises(ModelError, match="sums to"):
        Environment.from_dict(d)


BAD_FILES = {
    "not_toml.toml": "this is = = not toml",
    "unknown_kind.toml": 'kind = "lottery"\n',
    "bad_solve.toml": '[solve]\ncolour = "red"\n' + open(MODELS / "static_monopoly.toml").read().split("[solve]")[0],
    "bad_prob.toml": open(MODELS / "static_monopoly.toml").read().replace("0.3333333333333334", "0.5"),
}


@pytest.mark.parametrize("fname", sorted(BAD_FILES))
def test_bad_files_rejected(tmp_path, fname):
    p = tmp_path / fname
    p.write_text(BAD_FILES[fname])
    with pytest.raises(ModelError):
        load(p)


def test_missing_file():
    with pytest.raises(ModelError, match="does not exist"):
        load("no/such/file.toml")
