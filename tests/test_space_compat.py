"""bo_hpo.space.compat: which search-space edits let stored trials carry over, and how."""

from __future__ import annotations

from typing import Any

import pytest

from bo_hpo import SearchSpace, SearchSpaceError
from bo_hpo.space.compat import SpaceChange, carry_config, compare_spaces

BASE: dict[str, Any] = {
    "lr": ("log_uniform", 1e-5, 1e-1),
    "layers": ("int", 1, 8),
    "dropout": ("uniform", 0.0, 0.5),
    "optimizer": ("choice", ["SGD", "Adam", "AdamW"]),
    "momentum": ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}),
    "epochs": ("fixed", 10),
}

CONFIGS: list[dict[str, Any]] = [
    {"lr": 1e-3, "layers": 2, "dropout": 0.1, "optimizer": "SGD", "momentum": 0.9,
     "epochs": 10},
    {"lr": 3e-4, "layers": 4, "dropout": 0.2, "optimizer": "Adam", "epochs": 10},
    {"lr": 1e-2, "layers": 6, "dropout": 0.3, "optimizer": "Adam", "epochs": 10},
    {"lr": 5e-4, "layers": 3, "dropout": 0.4, "optimizer": "SGD", "momentum": 0.5,
     "epochs": 10},
]


def space(constraints: tuple[str, ...] = (), **changes: Any) -> SearchSpace:
    """BASE with entries replaced (a value of None removes the parameter)."""
    spec = {**BASE, **changes}
    return SearchSpace({k: v for k, v in spec.items() if v is not None}, constraints)


def compatible(change: SpaceChange) -> bool:
    assert change.compatible == (not change.problems), change
    return change.compatible


# ------------------------------------------------------------------------ identical spaces
def test_identical_spaces_are_compatible_with_no_changes():
    old = space()
    new = SearchSpace.from_dict(old.to_dict())
    change = compare_spaces(old, new, CONFIGS)
    assert compatible(change)
    assert change.changes == []
    assert change.defaults == {}
    assert change.describe() == "The search space is unchanged."


# ------------------------------------------------------------------- removed and kinds
def test_removed_parameter_is_incompatible_and_counts_trials():
    change = compare_spaces(space(), space(dropout=None), CONFIGS)
    assert not compatible(change)
    assert len(change.problems) == 1
    assert change.problems[0].startswith("dropout: removed")
    assert "4 of 4 stored trials" in change.problems[0]


def test_removed_conditional_parameter_counts_only_trials_that_used_it():
    change = compare_spaces(space(), space(momentum=None), CONFIGS)
    assert not compatible(change)
    assert "2 of 4 stored trials" in change.problems[0]


@pytest.mark.parametrize(
    ("name", "entry", "old_kind", "new_kind"),
    [
        ("dropout", ("int", 0, 1), "uniform", "int"),
        ("lr", ("uniform", 1e-5, 1e-1), "log_uniform", "uniform"),
        ("layers", ("log_int", 1, 8), "int", "log_int"),
        ("optimizer", ("ordered", ["SGD", "Adam", "AdamW"]), "choice", "ordered"),
        ("epochs", ("int", 5, 20), "fixed", "int"),
    ],
)
def test_changed_kind_is_incompatible(name, entry, old_kind, new_kind):
    change = compare_spaces(space(), space(**{name: entry}), CONFIGS)
    assert not compatible(change)
    assert len(change.problems) == 1
    problem = change.problems[0]
    assert problem.startswith(f"{name}: kind changed from {old_kind} to {new_kind}")


def test_choice_ordered_flag_that_changes_the_model_is_incompatible():
    old = SearchSpace({"bs": ("choice", [32, 64, 128])})  # numeric: modelled as ordered
    new = SearchSpace({"bs": {"kind": "choice", "values": [32, 64, 128]}})
    assert compatible(compare_spaces(old, new, [{"bs": 64}]))
    forced = SearchSpace.from_dict(
        {"params": {"bs": {"kind": "choice", "values": [32, 64, 128], "ordered": False}}}
    )
    change = compare_spaces(old, forced, [{"bs": 64}])
    assert not compatible(change)
    assert "categorical" in change.problems[0]


# -------------------------------------------------------------------------------- ranges
def test_widened_range_is_compatible_and_reported():
    change = compare_spaces(space(), space(lr=("log_uniform", 1e-6, 1e-1)), CONFIGS)
    assert compatible(change)
    assert change.changes == ["lr: range widened from [1e-05, 0.1] to [1e-06, 0.1]"]


def test_shifted_range_holding_every_trial_is_compatible():
    change = compare_spaces(space(), space(dropout=("uniform", 0.05, 0.6)), CONFIGS)
    assert compatible(change)
    assert change.changes == ["dropout: range shifted from [0.0, 0.5] to [0.05, 0.6]"]


def test_narrowed_range_that_still_holds_every_trial_is_compatible():
    change = compare_spaces(space(), space(lr=("log_uniform", 1e-4, 5e-2)), CONFIGS)
    assert compatible(change)
    assert change.changes == ["lr: range narrowed from [1e-05, 0.1] to [0.0001, 0.05]"]


def test_narrowed_range_that_excludes_trials_is_incompatible_with_count_and_range():
    change = compare_spaces(space(), space(lr=("log_uniform", 1e-4, 8e-4)), CONFIGS)
    assert not compatible(change)
    assert len(change.problems) == 1
    problem = change.problems[0]
    assert problem.startswith("lr: range narrowed")
    assert "2 of 4 stored trials" in problem
    assert "[0.0001, 0.0008]" in problem
    assert "lr = 0.001, 0.01)" in problem  # names the values outside, not those inside


def test_narrowed_int_range_that_excludes_trials_is_incompatible():
    change = compare_spaces(space(), space(layers=("int", 1, 4)), CONFIGS)
    assert not compatible(change)
    assert "1 of 4 stored trials" in change.problems[0]
    assert "[1, 4]" in change.problems[0]


def test_narrowed_conditional_range_counts_only_active_trials():
    change = compare_spaces(
        space(), space(momentum=("uniform", 0.6, 0.99, {"when": {"optimizer": ["SGD"]}})), CONFIGS
    )
    assert not compatible(change)
    assert "1 of 2 stored trials" in change.problems[0]


# ------------------------------------------------------------------------- choice values
def test_added_choice_value_is_compatible():
    change = compare_spaces(
        space(), space(optimizer=("choice", ["SGD", "Adam", "AdamW", "Lion"])), CONFIGS
    )
    assert compatible(change)
    assert change.changes == ["optimizer: values ['Lion'] added"]


def test_removed_choice_value_no_trial_used_is_compatible():
    change = compare_spaces(space(), space(optimizer=("choice", ["SGD", "Adam"])), CONFIGS)
    assert compatible(change)
    assert change.changes == ["optimizer: value 'AdamW' removed (no stored trial used it)"]


def test_removed_choice_value_trials_used_is_incompatible():
    change = compare_spaces(space(), space(optimizer=("choice", ["SGD", "AdamW"])), CONFIGS)
    assert not compatible(change)
    assert len(change.problems) == 1
    assert change.problems[0].startswith("optimizer: value 'Adam' removed")
    assert "2 stored trials used it" in change.problems[0]


# ------------------------------------------------------------------ fixed and conditions
def test_changed_fixed_value_is_incompatible():
    change = compare_spaces(space(), space(epochs=("fixed", 20)), CONFIGS)
    assert not compatible(change)
    assert change.problems[0].startswith("epochs: fixed value changed from 10 to 20")
    assert "4 stored trials" in change.problems[0]


def test_same_fixed_value_written_as_float_is_no_change():
    change = compare_spaces(space(), space(epochs=("fixed", 10.0)), CONFIGS)
    assert compatible(change)
    assert change.changes == []


def test_changed_condition_is_incompatible():
    new = space(momentum=("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD", "Adam"]}}))
    change = compare_spaces(space(), new, CONFIGS)
    assert not compatible(change)
    assert len(change.problems) == 1
    assert change.problems[0].startswith("momentum: condition changed")
    assert "4 stored trials" in change.problems[0]


def test_condition_added_to_a_parameter_is_incompatible():
    new = space(dropout=("uniform", 0.0, 0.5, {"when": {"optimizer": ["Adam"]}}))
    change = compare_spaces(space(), new, CONFIGS)
    assert not compatible(change)
    assert "always active" in change.problems[0]


# --------------------------------------------------------------------- new parameters
def test_new_fixed_parameter_is_compatible_with_its_value_as_default():
    change = compare_spaces(space(), space(seed=("fixed", 0)), CONFIGS)
    assert compatible(change)
    assert change.defaults == {"seed": 0}


def test_new_parameter_with_default_is_compatible():
    new = space(warmup=("uniform", 0.0, 0.2))
    change = compare_spaces(space(), new, CONFIGS, defaults={"warmup": 0.05, "lr": 1e-3})
    assert compatible(change)
    assert change.defaults == {"warmup": 0.05}
    assert "old trials get warmup=0.05" in change.changes[0]


def test_new_parameter_without_default_is_incompatible_with_baseline_advice():
    new = space(warmup=("uniform", 0.0, 0.2))
    change = compare_spaces(space(), new, CONFIGS, defaults={"lr": 1e-3})
    assert not compatible(change)
    assert change.defaults == {}
    problem = change.problems[0]
    assert problem.startswith("warmup: new parameter")
    assert "4 stored trials" in problem
    assert "[baseline]" in problem and "carried over" in problem


def test_new_parameter_with_default_outside_it_is_incompatible():
    new = space(warmup=("uniform", 0.0, 0.2))
    change = compare_spaces(space(), new, CONFIGS, defaults={"warmup": 0.5})
    assert not compatible(change)
    assert "0.5 is outside" in change.problems[0]


def test_new_conditional_parameter_inactive_for_all_old_trials_is_compatible():
    new = space(
        optimizer=("choice", ["SGD", "Adam", "AdamW", "Lion"]),
        lion_beta=("uniform", 0.8, 0.99, {"when": {"optimizer": ["Lion"]}}),
    )
    change = compare_spaces(space(), new, CONFIGS)
    assert compatible(change)
    assert change.defaults == {}
    assert any("inactive for every stored trial" in c for c in change.changes)


def test_new_conditional_parameter_active_for_some_trials_needs_a_default():
    new = space(nesterov=("choice", [True, False], {"when": {"optimizer": ["SGD"]}}))
    change = compare_spaces(space(), new, CONFIGS)
    assert not compatible(change)
    assert "2 stored trials" in change.problems[0]
    fixed = compare_spaces(space(), new, CONFIGS, defaults={"nesterov": False})
    assert compatible(fixed)
    assert fixed.defaults == {"nesterov": False}


# ------------------------------------------------------------------------- carry_config
def test_carry_config_adds_defaults_where_active_and_drops_inactive_params():
    new = space(
        momentum=("uniform", 0.0, 0.99, {"when": {"optimizer": ["AdamW"]}}),
        nesterov=("choice", [True, False], {"when": {"optimizer": ["SGD"]}}),
        warmup=("uniform", 0.0, 0.2),
        dropout=None,
    )
    defaults = {"nesterov": True, "warmup": 0.1}
    sgd = carry_config(CONFIGS[0], new, defaults)
    assert sgd == {"lr": 1e-3, "layers": 2, "optimizer": "SGD", "epochs": 10,
                   "nesterov": True, "warmup": 0.1}
    assert list(sgd) == [n for n in new.params if n in sgd]  # the new space's order
    adam = carry_config(CONFIGS[1], new, defaults)
    assert adam == {"lr": 3e-4, "layers": 4, "optimizer": "Adam", "epochs": 10, "warmup": 0.1}


def test_carry_config_raises_when_an_active_new_parameter_has_no_value():
    new = space(warmup=("uniform", 0.0, 0.2))
    with pytest.raises(SearchSpaceError, match="warmup"):
        carry_config(CONFIGS[0], new, {})
    with pytest.raises(SearchSpaceError, match="outside"):
        carry_config(CONFIGS[0], new, {"warmup": 1.0})


def test_carried_configs_are_valid_in_the_new_space():
    new = space(
        lr=("log_uniform", 1e-6, 1e-1),
        warmup=("uniform", 0.0, 0.2),
        seed=("fixed", 0),
    )
    change = compare_spaces(space(), new, CONFIGS, defaults={"warmup": 0.0})
    assert compatible(change)
    for config in CONFIGS:
        carried = carry_config(config, new, change.defaults)
        assert new.check_config(carried) == carried


# --------------------------------------------------------------------------- constraints
def test_added_constraint_old_configs_break_is_incompatible():
    change = compare_spaces(space(), space(("dropout + 0.1 * layers <= 0.6",)), CONFIGS)
    assert not compatible(change)
    problem = change.problems[0]
    assert "'dropout + 0.1 * layers <= 0.6'" in problem
    assert "2 of 4 stored trials" in problem


def test_added_constraint_every_old_config_satisfies_is_compatible():
    change = compare_spaces(space(), space(("dropout + 0.1 * layers <= 1.0",)), CONFIGS)
    assert compatible(change)
    assert change.changes == ["constraint 'dropout + 0.1 * layers <= 1.0' added"]


def test_changed_constraint_is_checked_against_old_configs():
    old = space(("dropout + 0.1 * layers <= 1.0",))
    looser = compare_spaces(old, space(("dropout + 0.1 * layers <= 1.2",)), CONFIGS)
    assert compatible(looser)
    assert looser.changes == [
        "constraint 'dropout + 0.1 * layers <= 1.0' changed to 'dropout + 0.1 * layers <= 1.2'"
    ]
    tighter = compare_spaces(old, space(("dropout + 0.1 * layers <= 0.5",)), CONFIGS)
    assert not compatible(tighter)
    assert "3 of 4 stored trials" in tighter.problems[0]


def test_removed_constraint_is_compatible():
    change = compare_spaces(space(("dropout + 0.1 * layers <= 1.0",)), space(), CONFIGS)
    assert compatible(change)
    assert change.changes == ["constraint 'dropout + 0.1 * layers <= 1.0' removed"]


def test_added_divisibility_constraint_old_configs_break_is_incompatible():
    change = compare_spaces(space(), space(("layers % 2 == 0",)), CONFIGS)
    assert not compatible(change)
    assert "1 of 4 stored trials" in change.problems[0]
    assert "layers=3" in change.problems[0]


def test_added_constraint_uses_defaults_of_new_parameters():
    new = space(("dropout + warmup <= 0.45",), warmup=("uniform", 0.0, 0.2))
    ok = compare_spaces(space(), new, CONFIGS, defaults={"warmup": 0.05})
    assert compatible(ok)
    broken = compare_spaces(space(), new, CONFIGS, defaults={"warmup": 0.1})
    assert not compatible(broken)
    assert "1 of 4 stored trials" in broken.problems[-1]


# ------------------------------------------------------------------------------ describe
def test_describe_lists_compatible_changes():
    change = compare_spaces(space(), space(lr=("log_uniform", 1e-6, 1e-1)), CONFIGS)
    text = change.describe()
    assert "carry over" in text
    assert "lr: range widened from [1e-05, 0.1] to [1e-06, 0.1]" in text
    assert "new version" not in text


def test_describe_of_incompatible_change_ends_with_advice():
    change = compare_spaces(space(), space(dropout=None), CONFIGS)
    text = change.describe()
    assert "dropout: removed" in text
    assert text.endswith(
        'start a new version of the experiment: give it a new name (e.g. name = "<old>_v2") '
        "in the experiment file, or pass name=... to tune()."
    )
    named = change.describe(name="mnist")
    assert 'name = "mnist_v2"' in named
    assert named.endswith('pass name="mnist_v2" to tune().')
    assert "\n" not in named
