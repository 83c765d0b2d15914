"""bo_hpo.space: parameter kinds, loading forms, sampling, size() and the spec errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bo_hpo import BoHpoError, Choice, Fixed, Float, Int, SearchSpace, SearchSpaceError
from bo_hpo.space import param_from_entry

# ------------------------------------------------------------------ every kind, both forms

KIND_CASES = [
    ("uniform", ("uniform", 0.0, 0.5), Float, {"low": 0.0, "high": 0.5, "log": False}),
    ("log_uniform", ("log_uniform", 1e-5, 1e-1), Float, {"low": 1e-5, "high": 1e-1, "log": True}),
    ("int", ("int", 2, 6), Int, {"low": 2, "high": 6, "log": False}),
    ("log_int", ("log_int", 1, 4096), Int, {"low": 1, "high": 4096, "log": True}),
    ("choice", ("choice", ["SGD", "Adam"]), Choice, {"values": ("SGD", "Adam")}),
    ("ordered", ("ordered", [32, 64, 128]), Choice, {"values": (32, 64, 128), "ordered": True}),
    ("fixed", ("fixed", 10), Fixed, {"value": 10}),
]

KIND_IDS = [c[0] for c in KIND_CASES]


@pytest.mark.parametrize(("kind", "entry", "cls", "attrs"), KIND_CASES, ids=KIND_IDS)
def test_tuple_form_builds_each_kind(kind, entry, cls, attrs):
    p = param_from_entry("x", entry)
    assert isinstance(p, cls)
    assert p.kind == kind
    for attr, value in attrs.items():
        assert getattr(p, attr) == value


@pytest.mark.parametrize(("kind", "entry", "cls", "attrs"), KIND_CASES, ids=KIND_IDS)
def test_table_form_matches_tuple_form(kind, entry, cls, attrs):
    table = {"kind": kind}
    if kind in ("uniform", "log_uniform", "int", "log_int"):
        table |= {"low": entry[1], "high": entry[2]}
    elif kind in ("choice", "ordered"):
        table["values"] = entry[1]
    else:
        table["value"] = entry[1]
    assert param_from_entry("x", table) == param_from_entry("x", entry)


@pytest.mark.parametrize("constant", [10, 0.5, "relu", True])
def test_bare_constant_is_fixed(constant):
    space = SearchSpace({"lr": ("uniform", 0.1, 1.0), "c": constant})
    p = space.params["c"]
    assert isinstance(p, Fixed) and p.value == constant and type(p.value) is type(constant)
    assert space.sample(0)["c"] == constant


def test_when_option_in_tuple_and_table_form():
    tup = param_from_entry("m", ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}))
    table = param_from_entry(
        "m", {"kind": "uniform", "low": 0.0, "high": 0.99, "when": {"optimizer": ["SGD"]}}
    )
    assert tup.when == table.when == {"optimizer": ("SGD",)}


def test_seed_space_loads_as_written(mlp_space):
    space = SearchSpace(mlp_space)
    kinds = {n: p.kind for n, p in space.params.items()}
    assert kinds == {
        "learning_rate": "log_uniform", "batch_size": "choice", "hidden_dim": "choice",
        "num_layers": "choice", "dropout": "uniform", "optimizer": "choice",
        "weight_decay": "log_uniform",
    }
    # numeric "choice" lists are modelled as ordered (as Ax infers); labels are categorical
    assert space.params["batch_size"].modelled_as_ordered
    assert not space.params["optimizer"].modelled_as_ordered


def test_baseline_is_inside_seed_space(mlp_space, mlp_baseline, is_valid):
    checked = SearchSpace(mlp_space).check_config(mlp_baseline)
    assert checked == mlp_baseline
    assert is_valid(checked)


# ------------------------------------------------------------------ sampling

def test_samples_are_within_bounds_and_typed(mlp_space):
    space = SearchSpace({**mlp_space, "depth": ("int", 2, 6), "width": ("log_int", 8, 512)})
    rng = np.random.default_rng(0)
    for _ in range(300):
        c = space.sample(rng)
        assert set(c) == set(space.params)
        for name, p in space.params.items():
            assert p.contains(c[name]), (name, c[name])
        assert type(c["depth"]) is int and type(c["width"]) is int
        assert type(c["learning_rate"]) is float and type(c["dropout"]) is float
        assert type(c["batch_size"]) is int and c["optimizer"] in ("SGD", "Adam", "AdamW")


def test_int_sampling_covers_both_ends():
    p = Int("n", 2, 6)
    draws = {p.sample(np.random.default_rng(i)) for i in range(200)}
    assert draws == {2, 3, 4, 5, 6}


@pytest.mark.parametrize(
    "param", [Float("lr", 1e-5, 1e-1, log=True), Int("n", 1, 10_000, log=True)]
)
def test_log_draws_spread_evenly_over_decades(param):
    rng = np.random.default_rng(0)
    draws = np.array([param.sample(rng) for _ in range(4000)])
    decades = np.floor(np.log10(draws) - math.log10(param.low)).clip(0, 3)
    share = np.bincount(decades.astype(int), minlength=4) / len(draws)
    # log-uniform: a quarter per decade; a linear draw would put ~90% in the top decade
    assert np.all(np.abs(share - 0.25) < 0.1), share


def test_sample_is_reproducible_with_seed(mlp_space):
    space = SearchSpace(mlp_space)
    assert space.sample(7) == space.sample(7)
    assert space.sample(7) != space.sample(8)


def test_sample_respects_is_valid(mlp_space, is_valid):
    space = SearchSpace(mlp_space)
    rng = np.random.default_rng(0)
    assert all(is_valid(space.sample(rng, is_valid=is_valid)) for _ in range(200))


def test_sample_drops_inactive_conditionals(momentum_space):
    space = SearchSpace(momentum_space)
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(200)]
    assert all(("momentum" in c) == (c["optimizer"] == "SGD") for c in configs)
    assert any(c["optimizer"] == "SGD" for c in configs)


# ------------------------------------------------------------------ size()

def test_size_is_product_of_cardinalities_as_in_the_seed():
    # the seed's count: 3 * 3 * 3 values, times 3 optimizers and 5 dropout values = 405
    space = SearchSpace({
        "lr": ("choice", [1e-4, 1e-3, 1e-2]),
        "batch_size": ("choice", [32, 64, 128]),
        "num_layers": ("int", 2, 4),
        "optimizer": ("choice", ["SGD", "Adam", "AdamW"]),
        "dropout": ("ordered", [0.0, 0.1, 0.2, 0.3, 0.4]),
        "epochs": 10,
    })
    assert space.size() == 405


def test_size_is_infinite_with_a_continuous_parameter(mlp_space):
    assert SearchSpace(mlp_space).size() == math.inf


def test_size_counts_a_conditional_only_where_active():
    space = SearchSpace({
        "optimizer": ("choice", ["SGD", "Adam", "AdamW"]),
        "momentum": ("choice", [0.0, 0.9], {"when": {"optimizer": ["SGD"]}}),
        "batch_size": ("choice", [32, 64]),
    })
    # SGD: 2 momenta; Adam, AdamW: 1 each -> 4, times 2 batch sizes
    assert space.size() == 8


def test_size_with_multi_value_condition():
    space = SearchSpace({
        "optimizer": ("choice", ["SGD", "Adam", "AdamW"]),
        "beta": ("choice", [0.9, 0.99], {"when": {"optimizer": ["Adam", "AdamW"]}}),
    })
    assert space.size() == 1 + 2 + 2


def test_size_with_nested_conditions():
    # optimizer -> nesterov (SGD only) -> schedule (nesterov True only) -> gamma (schedule "a")
    space = SearchSpace({
        "optimizer": ("choice", ["SGD", "Adam"]),
        "nesterov": ("choice", [True, False], {"when": {"optimizer": ["SGD"]}}),
        "schedule": ("choice", ["a", "b"], {"when": {"nesterov": [True]}}),
        "gamma": ("choice", [1, 2], {"when": {"schedule": ["a"]}}),
    })
    # SGD/True/a/{1,2}, SGD/True/b, SGD/False, Adam -> 5 distinct configurations
    rng = np.random.default_rng(0)
    distinct = {tuple(sorted(space.sample(rng).items())) for _ in range(2000)}
    assert len(distinct) == 5
    assert space.size() == 5


def test_size_with_divisibility_constraint():
    space = SearchSpace(
        {"hidden_dim": ("choice", [64, 96, 128]), "num_heads": ("choice", [1, 2, 3, 4, 6, 8])},
        constraints=["hidden_dim % num_heads == 0"],
    )
    # 64: 1,2,4,8; 96: 1,2,3,4,6,8; 128: 1,2,4,8
    assert space.size() == 4 + 6 + 4


def test_size_with_int_divisibility_and_linear_constraints():
    divisible = SearchSpace(
        {"n": ("int", 1, 12), "k": ("choice", [2, 3])}, constraints=["n % k == 0"]
    )
    assert divisible.size() == 6 + 4
    linear = SearchSpace(
        {"a": ("int", 0, 3), "b": ("int", 0, 3), "c": ("choice", ["x", "y"])},
        constraints=["a + b <= 3"],
    )
    assert linear.size() == (1 + 2 + 3 + 4) * 2


# ------------------------------------------------------------------ spec errors

def test_search_space_error_is_a_bo_hpo_error():
    assert issubclass(SearchSpaceError, BoHpoError)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"lr": ("uniform", 0.1, 0.01)}, r"lr: .*low=0\.1, high=0\.01"),
        ({"lr": ("uniform", 0.5, 0.5)}, r"lr: .*low=0\.5, high=0\.5"),
        ({"n": ("int", 8, 2)}, r"n: .*low=8, high=2"),
        ({"lr": ("log_uniform", 0.0, 0.1)}, r"lr: a log-scaled range needs low > 0, got low=0\.0"),
        ({"n": ("log_int", -4, 16)}, r"n: a log-scaled range needs low > 0, got low=-4"),
        ({"opt": ("choice", [])}, r"opt: a choice needs at least one value, got \[\]"),
        ({"bs": ("ordered", [])}, r"bs: an ordered choice needs at least one value, got \[\]"),
        ({"opt": ("choice", ["SGD", "Adam", "SGD"])}, r"opt: .*distinct, got 'SGD' twice"),
        ({"bs": ("ordered", [32, 64, 32.0])}, r"bs: .*distinct, got 32\.0 twice"),
        ({"act": ("gaussian", 0.0, 1.0)}, r"act: unknown kind 'gaussian'"),
        ({"act": {"kind": "gaussian", "low": 0}}, r"act: `kind` must be one of .*kind='gaussian'"),
        ({"x": ("fixed", [1, 2])}, r"x: a fixed value must be .*got \[1, 2\] of type list"),
        ({"x": {"kind": "fixed", "value": {"a": 1}}}, r"x: a fixed .*\{'a': 1\} of type dict"),
        ({"x": ("uniform", 0.0)}, r"x: uniform takes \(low, high\), got 1 value"),
        ({"lr": ("uniform", 0.0, float("nan"))}, r"lr: `high` must be a finite .*high=nan"),
    ],
)
def test_bad_parameter_spec_names_parameter_and_value(spec, match):
    with pytest.raises(SearchSpaceError, match=match):
        SearchSpace(spec)


def test_fixed_of_wrong_type_fails_when_built_directly():
    with pytest.raises(SearchSpaceError, match=r"x: a fixed value .*\[1\] of type list"):
        Fixed("x", [1])


def test_condition_on_a_non_choice_parameter():
    with pytest.raises(SearchSpaceError, match=r"momentum: .*'learning_rate' is log_uniform"):
        SearchSpace({
            "learning_rate": ("log_uniform", 1e-5, 1e-1),
            "momentum": ("uniform", 0.0, 0.99, {"when": {"learning_rate": [1e-3]}}),
        })


def test_condition_on_a_value_the_choice_does_not_have(momentum_space):
    momentum_space["momentum"] = ("uniform", 0.0, 0.99, {"when": {"optimizer": ["RMSprop"]}})
    with pytest.raises(
        SearchSpaceError, match=r"momentum: condition value 'RMSprop' is not one of optimizer"
    ):
        SearchSpace(momentum_space)


def test_condition_on_an_unknown_parent():
    match = r"momentum: condition names unknown parameter 'opt'"
    with pytest.raises(SearchSpaceError, match=match):
        SearchSpace({"momentum": ("uniform", 0.0, 0.99, {"when": {"opt": ["SGD"]}})})


def test_check_config_names_the_offending_parameter(mlp_space, mlp_baseline):
    space = SearchSpace(mlp_space)
    with pytest.raises(SearchSpaceError, match=r"batch_size=100 is outside the space"):
        space.check_config({**mlp_baseline, "batch_size": 100})
    with pytest.raises(SearchSpaceError, match=r"learning_rate=0\.5 is outside"):
        space.check_config({**mlp_baseline, "learning_rate": 0.5})
    with pytest.raises(SearchSpaceError, match=r"unknown parameter 'momentum'"):
        space.check_config({**mlp_baseline, "momentum": 0.9})
    missing = dict(mlp_baseline)
    del missing["dropout"]
    with pytest.raises(SearchSpaceError, match=r"missing a value for 'dropout'"):
        space.check_config(missing)


def test_check_config_fills_fixed_and_drops_inactive(momentum_space):
    space = SearchSpace({**momentum_space, "epochs": 10})
    checked = space.check_config(
        {"learning_rate": 1e-3, "optimizer": "Adam", "momentum": 0.9}
    )
    assert checked == {"learning_rate": 1e-3, "optimizer": "Adam", "epochs": 10}
