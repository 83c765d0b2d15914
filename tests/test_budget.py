"""bo_hpo.budget: Budget validation, the tracker's arithmetic, and each stop inside ``tune``."""

from __future__ import annotations

import time

import pytest

from bo_hpo import Budget, ConfigError, tune
from bo_hpo.budget import BudgetTracker

SPACE = {"x": ("uniform", 0.0, 1.0), "opt": ("choice", ["a", "b"])}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_trials": 0}, "max_trials"),
        ({"max_trials": 2.5}, "max_trials"),
        ({"max_trials": True}, "max_trials"),
        ({"max_trials": 5, "patience": 0}, "patience"),
        ({"max_seconds": -1.0}, "max_seconds"),
        ({"max_seconds": float("inf")}, "max_seconds"),
        ({"max_device_hours": 0}, "max_device_hours"),
        ({"max_trials": 5, "min_improvement": -0.1}, "min_improvement"),
    ],
)
def test_bad_budget_names_the_field_and_value(kwargs, field):
    value = kwargs[field]
    with pytest.raises(ConfigError, match=rf"Budget\.{field} .*got {value!r}"):
        Budget(**kwargs)


def test_budget_needs_a_hard_limit():
    with pytest.raises(ConfigError, match="patience alone may never stop"):
        Budget(patience=3)


@pytest.mark.parametrize("budget", ["10", 2.0, True])
def test_tune_rejects_a_budget_of_the_wrong_type(budget):
    with pytest.raises(ConfigError, match="budget must be a Budget or an int"):
        tune(lambda c: 0.0, SPACE, budget=budget)


# ------------------------------------------------------------------ tracker arithmetic


def test_tracker_stops_on_trials_counting_in_flight():
    tracker = BudgetTracker(Budget(max_trials=3), minimize=True)
    tracker.record(1.0, value=1.0)
    tracker.record(1.0, value=0.5)
    assert tracker.stop_reason() is None
    assert tracker.stop_reason(in_flight=1) == "max_trials (3) reached"


def test_tracker_stops_on_wall_clock():
    clock = FakeClock()
    tracker = BudgetTracker(Budget(max_seconds=60), minimize=True, clock=clock)
    clock.now += 59.9
    assert tracker.stop_reason() is None
    clock.now += 0.1
    assert tracker.stop_reason() == "max_seconds (60 s) reached"
    assert tracker.spent()["seconds"] == pytest.approx(60.0)


def test_tracker_counts_device_hours_times_devices():
    tracker = BudgetTracker(Budget(max_device_hours=1.0), minimize=True)
    tracker.record(1200.0, devices=2, value=1.0)  # 40 device-minutes
    assert tracker.stop_reason() is None
    tracker.record(600.0, devices=2)  # a failed trial still spends; 60 device-minutes now
    assert tracker.stop_reason() == "max_device_hours (1 h) reached"
    assert tracker.spent() == pytest.approx({"trials": 2, "seconds": 0.0, "device_hours": 1.0},
                                            abs=0.01)


@pytest.mark.parametrize("minimize", [True, False])
def test_tracker_patience_with_min_improvement(minimize):
    sign = 1.0 if minimize else -1.0
    tracker = BudgetTracker(Budget(max_trials=100, patience=2, min_improvement=0.1),
                            minimize=minimize)
    tracker.record(1.0, value=sign * 1.0)
    tracker.record(1.0, value=sign * 0.95)  # better, but by less than min_improvement
    assert tracker.stop_reason() is None
    tracker.record(1.0, value=sign * 0.5)  # a real improvement resets the count
    tracker.record(1.0, value=sign * 0.45)
    assert tracker.stop_reason() is None
    tracker.record(1.0, value=sign * 2.0)
    assert tracker.stop_reason() == "no improvement in 2 trials"


# ------------------------------------------------------------------ stops inside tune


def test_max_trials_stops_tune():
    result = tune(lambda c: c["x"], SPACE, budget=Budget(max_trials=6), method="random", seed=0)
    assert len(result.trials) == 6
    assert result.budget_spent["trials"] == 6
    assert result.stop_reason == "max_trials (6) reached"


def test_int_budget_means_max_trials():
    result = tune(lambda c: c["x"], SPACE, budget=4, method="random", seed=0)
    assert result.budget_spent["trials"] == 4 and len(result.trials) == 4


def test_max_seconds_stops_tune():
    def slow(config):
        time.sleep(0.3)
        return config["x"]

    t0 = time.perf_counter()
    result = tune(slow, SPACE, budget=Budget(max_trials=100, max_seconds=1.0),
                  method="random", seed=0)
    elapsed = time.perf_counter() - t0
    assert result.stop_reason == "max_seconds (1 s) reached"
    # no trial starts after the limit: at most one trial's worth past it
    assert 2 <= result.budget_spent["trials"] <= 5
    assert 1.0 <= result.budget_spent["seconds"] < 1.0 + 0.3 + 1.0
    assert elapsed < 10


def test_patience_stops_a_constant_objective():
    result = tune(lambda c: 1.0, SPACE, budget=Budget(max_trials=50, patience=3),
                  method="random", seed=0)
    # the first trial sets the best; three more without improvement stop the run
    assert result.budget_spent["trials"] == 4
    assert result.stop_reason == "no improvement in 3 trials"


def test_max_device_hours_stops_tune():
    def slow(config):
        time.sleep(0.2)
        return config["x"]

    limit_hours = 0.5 / 3600
    result = tune(slow, SPACE, budget=Budget(max_trials=100, max_device_hours=limit_hours),
                  method="random", seed=0)
    assert result.stop_reason.startswith("max_device_hours")
    eval_seconds = result.trials["eval_seconds"].tolist()
    assert sum(eval_seconds) >= 0.5 > sum(eval_seconds[:-1])
    assert result.budget_spent["device_hours"] == pytest.approx(sum(eval_seconds) / 3600)
    assert 2 <= len(eval_seconds) <= 3
