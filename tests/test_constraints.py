"""bo_hpo.space.constraints: parsing, the constraint errors, and feasibility of proposals
(divisibility and linear) over hundreds of Sobol draws and a GP-driven run."""

from __future__ import annotations

import pytest

from bo_hpo import SearchSpace, SearchSpaceError, tune
from bo_hpo.space import Divisible, Linear, Rule, parse_constraint

HEADS = [1, 2, 3, 4, 6, 8, 12, 16]
DIVISIBLE = "hidden_dim % num_heads == 0"
LINEAR = "warmup_frac + decay_frac <= 0.9"

# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("text", "coefficients", "bound"),
    [
        ("warmup_frac + decay_frac <= 0.9", {"warmup_frac": 1.0, "decay_frac": 1.0}, 0.9),
        ("2*a - b >= 0.1", {"a": -2.0, "b": 1.0}, -0.1),
        ("a <= b", {"a": 1.0, "b": -1.0}, 0.0),
        ("a/2 + 3*b < 2", {"a": 0.5, "b": 3.0}, 2.0),
    ],
)
def test_linear_constraints_parse_to_le_form(text, coefficients, bound):
    c = parse_constraint(text)
    assert isinstance(c, Linear)
    assert dict(c.coefficients) == pytest.approx(coefficients)
    assert c.bound == pytest.approx(bound)


def test_divisibility_parses_names_and_constant_divisors():
    assert parse_constraint(DIVISIBLE) == Divisible(DIVISIBLE, "hidden_dim", "num_heads")
    assert parse_constraint("hidden_dim % 8 == 0").divisor == 8


def test_linear_holds_with_tolerance():
    c = parse_constraint(LINEAR)
    assert c.holds({"warmup_frac": 0.45, "decay_frac": 0.45})
    assert not c.holds({"warmup_frac": 0.5, "decay_frac": 0.41})
    assert c.holds({"warmup_frac": 0.45, "decay_frac": 0.45 + 1e-8})  # Ax's own tolerance
    assert not c.holds({"warmup_frac": 0.45, "decay_frac": 0.45 + 1e-5})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a * b <= 1", r"'a \* b' is not linear"),
        ("a + b == 1", r"equalities are not supported"),
        ("a % b == 1", r"must read 'a % b == 0'"),
        ("a % -2 == 0", r"positive integer, got '-2'"),
        ("a +", r"'a \+' is not a valid expression"),
    ],
)
def test_malformed_constraints_are_rejected(text, match):
    with pytest.raises(SearchSpaceError, match=match):
        parse_constraint(text)


def test_rule_treats_inactive_names_as_false():
    rule = Rule.parse("optimizer == 'SGD' and momentum < 0.5")
    assert rule({"optimizer": "SGD", "momentum": 0.1})
    assert not rule({"optimizer": "Adam"})
    with pytest.raises(SearchSpaceError, match=r"Call is not allowed"):
        Rule.parse("__import__('os')")


# ------------------------------------------------------------------ constraint errors


def test_constraint_naming_an_unknown_parameter():
    with pytest.raises(SearchSpaceError, match=r"'a \+ c <= 1' names unknown parameter 'c'"):
        SearchSpace({"a": ("uniform", 0, 1), "b": ("uniform", 0, 1)}, ["a + c <= 1"])


def test_constraint_on_a_non_numeric_parameter():
    with pytest.raises(SearchSpaceError, match=r"'optimizer' must be numeric, but it is choice"):
        SearchSpace(
            {"lr": ("uniform", 0, 1), "optimizer": ("choice", ["SGD", "Adam"])},
            ["lr + optimizer <= 1"],
        )


def test_divisibility_without_a_feasible_pair_shows_both_ranges():
    with pytest.raises(
        SearchSpaceError,
        match=r"no feasible pair: no value of hidden_dim \(int \[65, 70\]\) .*choice \[64, 128\]",
    ):
        SearchSpace(
            {"hidden_dim": ("int", 65, 70), "num_heads": ("choice", [64, 128])}, [DIVISIBLE]
        )


def test_divisibility_on_a_float_parameter():
    with pytest.raises(SearchSpaceError, match=r"'hidden_dim' must take integer values"):
        SearchSpace(
            {"hidden_dim": ("uniform", 64, 1024), "num_heads": ("choice", HEADS)}, [DIVISIBLE]
        )


def test_linear_constraint_that_cannot_hold():
    match = r"cannot hold .*smallest left-hand side is 1 > 0\.9"
    with pytest.raises(SearchSpaceError, match=match):
        SearchSpace({"warmup_frac": ("uniform", 0.5, 1), "decay_frac": ("uniform", 0.5, 1)},
                    [LINEAR])


def test_linear_constraint_on_a_log_scaled_parameter_is_a_search_space_error():
    # Ax refuses parameter constraints on log-scaled parameters; the user must hear it as a
    # SearchSpaceError naming the parameter, before any trial runs, not as Ax's ValueError.
    def objective(config):
        raise AssertionError("no trial should run")

    with pytest.raises(SearchSpaceError, match=r"'lr'.*log"):
        tune(objective, {"lr": ("log_uniform", 1e-4, 1e-1), "wd": ("uniform", 0.0, 0.1)},
             constraints=["lr + wd <= 0.1"], budget=2, method="random", seed=0)


# ------------------------------------------------------------------ feasibility of proposals


def _sobol_configs(space: SearchSpace, n: int, seed: int = 0):
    """``n`` configurations from Ax's Sobol over the translated space, decoded."""
    from bo_hpo.propose import AxProposer

    proposer = AxProposer(space, method="random", seed=seed)
    trials = proposer.client.get_next_trials(max_trials=n)
    assert len(trials) == n
    return [proposer.translation.decode(p) for p in trials.values()]


def test_divisibility_holds_for_200_sobol_proposals_with_coverage(transformer_space):
    space = SearchSpace(transformer_space, [DIVISIBLE])
    configs = _sobol_configs(space, 200)
    assert all(c["hidden_dim"] % c["num_heads"] == 0 for c in configs)
    assert all(64 <= c["hidden_dim"] <= 1024 and c["num_heads"] in HEADS for c in configs)
    assert all(type(c["hidden_dim"]) is int for c in configs)
    dims = [c["hidden_dim"] for c in configs]
    assert min(dims) < 150 and max(dims) > 900
    assert {c["num_heads"] for c in configs} == set(HEADS)
    assert len({(c["hidden_dim"], c["num_heads"]) for c in configs}) >= 150


def test_linear_constraint_holds_for_150_sobol_proposals():
    space = SearchSpace(
        {"warmup_frac": ("uniform", 0.0, 0.6), "decay_frac": ("uniform", 0.0, 0.6),
         "lr": ("log_uniform", 1e-4, 1e-1)},
        [LINEAR],
    )
    configs = _sobol_configs(space, 150, seed=1)
    sums = [c["warmup_frac"] + c["decay_frac"] for c in configs]
    assert max(sums) <= 0.9 + 1e-9
    assert max(sums) > 0.8  # the constraint binds: proposals reach close to it


def test_random_tune_keeps_both_constraints_for_100_trials(transformer_space):
    seen = []

    def objective(config):
        seen.append(config)
        return 0.0

    space = {**transformer_space, "warmup_frac": ("uniform", 0.0, 0.6),
             "decay_frac": ("uniform", 0.0, 0.6)}
    result = tune(objective, space, constraints=[DIVISIBLE, LINEAR], budget=100,
                  method="random", seed=2)
    assert len(seen) == 100
    assert all(c["hidden_dim"] % c["num_heads"] == 0 for c in seen)
    assert all(c["warmup_frac"] + c["decay_frac"] <= 0.9 + 1e-9 for c in seen)
    assert set(result.trials["status"]) == {"completed"}


def test_gp_proposals_keep_divisibility(transformer_space):
    seen = []

    def objective(config):
        seen.append(config)
        # best near hidden_dim 768 with 12 heads
        return abs(config["hidden_dim"] - 768) / 1024 + abs(config["num_heads"] - 12) / 16

    result = tune(objective, transformer_space, constraints=[DIVISIBLE], budget=12, seed=0)
    assert (result.trials["generator"] == "gp").sum() >= 6
    assert len(seen) == 12
    assert all(c["hidden_dim"] % c["num_heads"] == 0 for c in seen)
    assert all(64 <= c["hidden_dim"] <= 1024 and c["num_heads"] in HEADS for c in seen)
    assert result.best_config["hidden_dim"] % result.best_config["num_heads"] == 0


def test_gp_proposals_keep_linear_constraint():
    seen = []

    def objective(config):
        seen.append(config)
        # the unconstrained optimum (0.6, 0.6) breaks the constraint: the GP pushes against it
        return (config["warmup_frac"] - 0.6) ** 2 + (config["decay_frac"] - 0.6) ** 2

    space = {"warmup_frac": ("uniform", 0.0, 0.6), "decay_frac": ("uniform", 0.0, 0.6)}
    result = tune(objective, space, constraints=[LINEAR], budget=8, n_initial=4, seed=0)
    assert (result.trials["generator"] == "gp").sum() >= 3
    assert all(c["warmup_frac"] + c["decay_frac"] <= 0.9 + 1e-6 for c in seen)


@pytest.mark.parametrize("seed", [0, 1])
def test_gp_proposals_on_the_boundary_are_not_replaced(seed):
    """BoTorch's optimum on a linear constraint overshoots it by a few 1e-9 (Ax allows
    1e-8); such a proposal is the model's, not a random fallback."""
    seen = []

    def objective(config):
        seen.append(config["warmup_frac"] + config["decay_frac"])
        return (config["warmup_frac"] - 0.6) ** 2 + (config["decay_frac"] - 0.6) ** 2

    space = {"warmup_frac": ("uniform", 0.0, 0.6), "decay_frac": ("uniform", 0.0, 0.6)}
    result = tune(objective, space, constraints=[LINEAR], budget=12, n_initial=4, seed=seed)
    assert "fallback" not in set(result.trials["generator"])
    assert 0.9 - 1e-4 <= max(seen) <= 0.9 + 1e-6  # the GP reached the boundary
