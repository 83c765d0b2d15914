"""bo_hpo.translate: Ax parameter configs and constraint strings, and the encode/decode codec."""

from __future__ import annotations

import pytest

from bo_hpo import Choice, SearchSpace, SearchSpaceError
from bo_hpo.translate import POS_SUFFIX, translate

DIVISIBLE = "hidden_dim % num_heads == 0"


def _by_name(translation):
    return {p.name: p for p in translation.parameters}


def test_each_kind_maps_to_the_right_ax_config():
    from ax import ChoiceParameterConfig, RangeParameterConfig

    space = SearchSpace({
        "dropout": ("uniform", 0.0, 0.5),
        "lr": ("log_uniform", 1e-5, 1e-1),
        "layers": ("int", 2, 6),
        "width": ("log_int", 16, 1024),
        "optimizer": ("choice", ["SGD", "Adam"]),
        "batch_size": ("choice", [32, 64, 128]),
        "heads": ("ordered", [2, 4, 8]),
        "flag": ("choice", [True, False]),
        "epochs": ("fixed", 10),
        "act": "relu",
    })
    params = _by_name(translate(space))
    assert set(params) == {"dropout", "lr", "layers", "width", "optimizer", "batch_size",
                           "heads", "flag"}

    def check_range(name, ptype, scaling, bounds):
        p = params[name]
        assert isinstance(p, RangeParameterConfig)
        assert (p.parameter_type, p.scaling, tuple(p.bounds)) == (ptype, scaling, bounds)

    check_range("dropout", "float", "linear", (0.0, 0.5))
    check_range("lr", "float", "log", (1e-5, 1e-1))
    check_range("layers", "int", "linear", (2, 6))
    check_range("width", "int", "log", (16, 1024))

    def check_choice(name, ptype, ordered, values):
        p = params[name]
        assert isinstance(p, ChoiceParameterConfig)
        assert (p.parameter_type, p.is_ordered, list(p.values)) == (ptype, ordered, values)

    check_choice("optimizer", "str", False, ["SGD", "Adam"])
    check_choice("batch_size", "int", True, [32, 64, 128])  # numeric: ordered, as Ax infers
    check_choice("heads", "int", True, [2, 4, 8])
    check_choice("flag", "bool", False, [True, False])


def test_numeric_choice_forced_categorical():
    space = SearchSpace([Choice("seed", (0, 1, 2), ordered=False)])
    (p,) = translate(space).parameters
    assert p.is_ordered is False


def test_momentum_hangs_off_sgd_in_ax_tree(momentum_space):
    translation = translate(SearchSpace(momentum_space))
    optimizer = _by_name(translation)["optimizer"]
    assert optimizer.dependent_parameters == {"SGD": ["momentum"], "Adam": [], "AdamW": []}
    assert translation.flat_conditionals == ()


def test_multi_value_and_multi_parent_conditions_stay_flat():
    space = SearchSpace({
        "optimizer": ("choice", ["SGD", "Adam", "AdamW"]),
        "schedule": ("choice", ["cosine", "step"]),
        "beta": ("uniform", 0.8, 0.999, {"when": {"optimizer": ["Adam", "AdamW"]}}),
        "gamma": ("uniform", 0.1, 0.9,
                  {"when": {"optimizer": ["SGD"], "schedule": ["step"]}}),
    })
    translation = translate(space)
    assert set(translation.flat_conditionals) == {"beta", "gamma"}
    params = _by_name(translation)
    assert {"beta", "gamma"} <= set(params)
    assert params["optimizer"].dependent_parameters is None
    # decoding drops a flat conditional when inactive, keeps it when active
    ax = {"optimizer": "SGD", "schedule": "cosine", "beta": 0.9, "gamma": 0.5}
    assert translation.decode(ax) == {"optimizer": "SGD", "schedule": "cosine"}
    ax = {"optimizer": "SGD", "schedule": "step", "beta": 0.9, "gamma": 0.5}
    assert translation.decode(ax) == {"optimizer": "SGD", "schedule": "step", "gamma": 0.5}
    ax = {"optimizer": "AdamW", "schedule": "step", "beta": 0.95, "gamma": 0.5}
    assert translation.decode(ax) == {"optimizer": "AdamW", "schedule": "step", "beta": 0.95}


def test_divisibility_dividend_becomes_a_relative_position(transformer_space):
    translation = translate(SearchSpace(transformer_space, [DIVISIBLE]))
    params = _by_name(translation)
    assert "hidden_dim" not in params
    pos = params["hidden_dim" + POS_SUFFIX]
    assert (pos.parameter_type, tuple(pos.bounds)) == ("float", (0.0, 1.0))
    # decoding snaps to the nearest multiple of the divisor within the range
    assert translation.decode({"hidden_dim__pos": 0.0, "num_heads": 12}) == {
        "hidden_dim": 72, "num_heads": 12}
    assert translation.decode({"hidden_dim__pos": 1.0, "num_heads": 12}) == {
        "hidden_dim": 1020, "num_heads": 12}
    mid = translation.decode({"hidden_dim__pos": 0.5, "num_heads": 16})["hidden_dim"]
    assert mid % 16 == 0 and abs(mid - 544) <= 8


def test_divisors_without_a_feasible_dividend_are_pruned():
    space = SearchSpace(
        {"hidden_dim": ("int", 64, 100), "num_heads": ("choice", [1, 3, 7, 128, 256])},
        [DIVISIBLE],
    )
    params = _by_name(translate(space))
    assert list(params["num_heads"].values) == [1, 3, 7]
    assert params["num_heads"].is_ordered


def test_single_feasible_divisor_is_pinned_but_decoded():
    space = SearchSpace(
        {"hidden_dim": ("int", 64, 100), "num_heads": ("choice", [7, 128]),
         "lr": ("uniform", 0.0, 1.0)},
        [DIVISIBLE],
    )
    translation = translate(space)
    assert "num_heads" not in _by_name(translation)
    config = translation.decode({"hidden_dim__pos": 0.5, "lr": 0.3})
    assert config["num_heads"] == 7 and config["hidden_dim"] % 7 == 0


def test_every_fixed_space_is_rejected():
    with pytest.raises(SearchSpaceError, match="nothing to tune"):
        translate(SearchSpace({"epochs": 10, "act": ("choice", ["relu"])}))


def test_linear_constraint_strings_are_accepted_by_ax():
    from ax import Client

    space = SearchSpace(
        {"warmup_frac": ("uniform", 0.0, 0.6), "decay_frac": ("uniform", 0.0, 0.6),
         "a": ("uniform", 0.0, 1.0), "b": ("int", 0, 10)},
        ["warmup_frac + decay_frac <= 0.9", "2*a - b >= -5", "a/2 <= decay_frac + 0.4"],
    )
    translation = translate(space)
    assert len(translation.constraints) == 3
    client = Client()
    client.configure_experiment(
        parameters=translation.parameters, parameter_constraints=translation.constraints
    )
    ax_constraints = client._experiment.search_space.parameter_constraints
    assert len(ax_constraints) == 3
    # Ax's parsed constraints agree with ours on a point that breaks only the first
    point = {"warmup_frac": 0.5, "decay_frac": 0.5, "a": 0.5, "b": 3}
    ours = [c.holds(point) for c in space.linear()]
    theirs = [c.check(point) for c in ax_constraints]
    assert ours == theirs == [False, True, True]


def test_seed_baseline_round_trips(mlp_space, mlp_baseline):
    translation = translate(SearchSpace(mlp_space))
    encoded = translation.encode(mlp_baseline)
    assert set(encoded) == set(mlp_baseline)
    decoded = translation.decode(encoded)
    assert decoded == pytest.approx(mlp_baseline)
    assert type(decoded["batch_size"]) is int and decoded["optimizer"] == "AdamW"


HEADS = [1, 2, 3, 4, 6, 8, 12, 16]


@pytest.mark.parametrize(
    ("spec", "constraint", "config"),
    [
        ({"hidden_dim": ("int", 64, 1024), "num_heads": ("choice", HEADS)}, DIVISIBLE,
         {"hidden_dim": 768, "num_heads": 12}),
        ({"hidden_dim": ("log_int", 64, 1024), "num_heads": ("choice", [3, 8])}, DIVISIBLE,
         {"hidden_dim": 999, "num_heads": 3}),
        ({"hidden_dim": ("ordered", [96, 128, 192, 256]), "num_heads": ("choice", [3, 4])},
         DIVISIBLE, {"hidden_dim": 192, "num_heads": 3}),
        ({"hidden_dim": ("int", 64, 1024), "lr": ("uniform", 0.0, 1.0)}, "hidden_dim % 5 == 0",
         {"hidden_dim": 65, "lr": 0.25}),
    ],
    ids=["int", "log_int", "ordered", "constant-divisor"],
)
def test_divisible_baseline_round_trips(spec, constraint, config):
    translation = translate(SearchSpace(spec, [constraint]))
    assert translation.decode(translation.encode(config)) == config


def test_fixed_params_are_not_sent_but_come_back(momentum_space):
    space = SearchSpace({**momentum_space, "epochs": 10, "act": ("fixed", "relu")})
    translation = translate(space)
    assert not {"epochs", "act"} & {p.name for p in translation.parameters}
    config = {"learning_rate": 1e-3, "optimizer": "SGD", "momentum": 0.9}
    encoded = translation.encode({**config, "epochs": 10})
    assert "epochs" not in encoded and "act" not in encoded
    assert translation.decode(encoded) == {**config, "epochs": 10, "act": "relu"}


def test_inactive_hierarchical_child_is_not_encoded(momentum_space):
    translation = translate(SearchSpace(momentum_space))
    encoded = translation.encode({"learning_rate": 1e-3, "optimizer": "Adam"})
    assert encoded == {"learning_rate": 1e-3, "optimizer": "Adam"}


def test_decode_returns_user_types():
    space = SearchSpace({"n": ("int", 1, 10), "bs": ("choice", [32, 64]),
                         "mix": ("choice", [1, "two", 3.5])})
    translation = translate(space)
    labels = list(_by_name(translation)["mix"].values)
    assert len(set(labels)) == 3 and all(isinstance(v, str) for v in labels)
    config = translation.decode({"n": 3.7, "bs": 64.0, "mix": labels[1]})
    assert config == {"n": 4, "bs": 64, "mix": "two"}
    assert type(config["n"]) is int and type(config["bs"]) is int
    assert translation.decode(translation.encode({"n": 2, "bs": 32, "mix": 3.5}))["mix"] == 3.5


def test_a_narrow_range_under_a_condition_hangs_off_its_parent_by_its_ax_name():
    # the child is sent to Ax as eps__unit, and the tree must name that parameter
    # (Ax refused the experiment before: "Parameter 'eps' is not part of the search space")
    from ax.api.client import Client

    space = SearchSpace({"opt": ("choice", ["a", "b"]),
                         "eps": ("log_uniform", 1e-10, 1e-9, {"when": {"opt": ["a"]}})})
    translation = translate(space)
    assert _by_name(translation)["opt"].dependent_parameters == {"a": ["eps__unit"], "b": []}
    Client().configure_experiment(parameters=translation.parameters, name="narrow")
    assert translation.decode({"opt": "a", "eps__unit": 1.0}) == {"opt": "a", "eps": 1e-9}


ADAM = {
    "optimizer": ("choice", ["SGD", "Adam"]),
    "momentum": ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}),
    "beta2": ("uniform", 0.9, 0.9999, {"when": {"optimizer": ["Adam"]}}),
    "dropout": ("uniform", 0.0, 0.5),
}


def test_a_range_up_to_near_one_goes_to_ax_on_the_scale_of_log_one_minus_x():
    from ax import RangeParameterConfig

    translation = translate(SearchSpace(ADAM), tail_decades=3)
    params = _by_name(translation)
    # beta2's 1 - x spans 3 decades (0.1 to 1e-4); momentum's 2 (1 to 0.01): left linear
    assert translation.tail == {"beta2"}
    assert set(params) == {"optimizer", "momentum", "beta2__tail", "dropout"}
    assert isinstance(params["beta2__tail"], RangeParameterConfig)
    assert tuple(params["beta2__tail"].bounds) == (0.0, 1.0)
    assert tuple(params["momentum"].bounds) == (0.0, 0.99)
    assert params["optimizer"].dependent_parameters == {"SGD": ["momentum"],
                                                        "Adam": ["beta2__tail"]}
    # 0.99, 0.999 and 0.9999 evenly spaced
    for beta2, position in ((0.9, 0.0), (0.99, 1 / 3), (0.999, 2 / 3), (0.9999, 1.0)):
        ax_params = translation.encode({"optimizer": "Adam", "beta2": beta2, "dropout": 0.1})
        assert ax_params["beta2__tail"] == pytest.approx(position)
        assert translation.decode(ax_params)["beta2"] == pytest.approx(beta2, rel=1e-12)
    assert translation.decode({"optimizer": "Adam", "beta2__tail": 0.5, "dropout": 0.1}
                              )["beta2"] == pytest.approx(1 - 10**-2.5)
    assert "beta2" not in translation.decode({"optimizer": "SGD", "momentum": 0.9,
                                              "beta2__tail": 0.5, "dropout": 0.1})
    two = translate(SearchSpace(ADAM), tail_decades=2)
    assert two.tail == {"beta2", "momentum"}
    assert translate(SearchSpace(ADAM)).tail == frozenset()  # off unless asked


def test_a_range_up_to_near_one_in_a_linear_constraint_stays_linear():
    space = SearchSpace({"momentum": ("uniform", 0.0, 0.99), "beta2": ("uniform", 0.9, 0.9999),
                         "dampening": ("uniform", 0.0, 0.5)},
                        constraints=["momentum + dampening <= 1.2"])
    translation = translate(space, tail_decades=2)
    assert translation.tail == {"beta2"}  # a linear constraint is linear on the user's scale
    assert translation.constraints == ["1.0*momentum + 1.0*dampening <= 1.2"]
    assert set(_by_name(translation)) == {"momentum", "beta2__tail", "dampening"}
