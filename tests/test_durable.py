"""``tune(store=..., name=...)``: create, continue, load, interrupt and retry, space changes."""

from __future__ import annotations

import math

import pytest

import bo_hpo
from bo_hpo import ConfigError, LockedError, SpaceChangedError, StoreError
from bo_hpo.store import Owner, open_store

SPACE = {
    "lr": ("log_uniform", 1e-5, 1e-1),
    "dropout": ("uniform", 0.0, 0.5),
    "optimizer": ("choice", ["sgd", "adam"]),
}
BASELINE = {"lr": 1e-2, "dropout": 0.1, "optimizer": "sgd"}


def bowl(config):
    return ((math.log10(config["lr"]) + 3) ** 2 + (config["dropout"] - 0.2) ** 2
            + (0.0 if config["optimizer"] == "adam" else 0.3))


@pytest.fixture
def store(tmp_path):
    return f"sqlite:///{tmp_path / 'store.db'}"


def _stored(store, name):
    st = open_store(store)
    return st, st.get_experiment(name)


def test_store_and_name_go_together(store):
    with pytest.raises(ConfigError, match="store= and name= go together"):
        bo_hpo.tune(bowl, SPACE, budget=3, store=store)
    with pytest.raises(ConfigError, match="name"):
        bo_hpo.tune(bowl, SPACE, budget=3, name="x")
    with pytest.raises(ConfigError, match="experiment name"):
        bo_hpo.tune(bowl, SPACE, budget=3, store=store, name="../escape")


def test_each_trial_is_running_in_the_store_while_it_is_evaluated(store):
    seen = []

    def objective(config):
        st, info = _stored(store, "live")
        running = [r for r in st.trials(info.id) if r.status == "running"]
        seen.append((len(running), running[0].config == config if running else None))
        return bowl(config)

    bo_hpo.tune(objective, SPACE, budget=4, seed=0, store=store, name="live")
    assert seen == [(1, True)] * 4


def test_a_second_call_continues_with_the_remaining_budget(store):
    first = bo_hpo.tune(bowl, SPACE, budget=6, seed=0, baseline=BASELINE, store=store,
                        name="mlp")
    assert len(first.records) == 6
    second = bo_hpo.tune(bowl, SPACE, budget=10, seed=0, baseline=BASELINE, store=store,
                         name="mlp")
    records = second.records
    assert [r.trial for r in records] == list(range(10))
    assert sum(r.is_baseline for r in records) == 1  # the baseline is not run again
    assert [r.generator for r in records[6:]] == ["gp"] * 4
    def measured(r):  # what was measured; the model's predictions are refit each session
        return (r.trial, r.config, r.status, r.mean, r.generator, r.started_at, r.ended_at)

    assert [measured(r) for r in records[:6]] == [measured(r) for r in first.records]
    configs = [tuple(sorted(r.config.items())) for r in records]
    assert len(set(configs)) == 10
    third = bo_hpo.tune(bowl, SPACE, budget=10, seed=0, baseline=BASELINE, store=store,
                        name="mlp")
    assert len(third.records) == 10 and third.best_trial == second.best_trial


# beta2 reaches near 1: Ax holds it as its position on log(1 - x), the store as the user's
ADAM_SPACE = {**SPACE, "beta2": ("uniform", 0.9, 0.9999)}


@pytest.mark.parametrize("space", [SPACE, ADAM_SPACE], ids=["plain", "beta2"])
def test_resuming_mid_initialisation_continues_the_sobol_sequence(store, tmp_path, space):
    one_go = bo_hpo.tune(bowl, space, budget=7, seed=3, n_initial=6, store=store, name="a")
    bo_hpo.tune(bowl, space, budget=3, seed=3, n_initial=6, store=store, name="b")
    resumed = bo_hpo.tune(bowl, space, budget=7, seed=3, n_initial=6, store=store, name="b")
    gens = [r.generator for r in resumed.records]
    assert gens == [r.generator for r in one_go.records] == ["center"] + ["sobol"] * 5 + ["gp"]
    assert [r.config for r in resumed.records[:6]] == [r.config for r in one_go.records[:6]]
    if "beta2" in space:  # the centre of log(1 - x), not of the linear range
        assert resumed.records[0].config["beta2"] == pytest.approx(1 - 10**-2.5)


def test_load_returns_the_stored_result_without_evaluating(store):
    result = bo_hpo.tune(bowl, SPACE, budget=7, seed=0, baseline=BASELINE, store=store,
                         name="done")
    loaded = bo_hpo.load("done", store=store)
    assert loaded.best_trial == result.best_trial
    assert loaded.best_config == result.best_config
    assert loaded.best_predicted.mean == pytest.approx(result.best_predicted.mean)
    assert loaded.improvement == pytest.approx(result.improvement)
    assert len(loaded.trials) == 7 and "predicted_mean" in loaded.trials
    with pytest.raises(StoreError, match="no experiment 'nope'.*'done'"):
        bo_hpo.load("nope", store=store)


def test_an_interrupted_trial_is_marked_and_rerun_first_once(store):
    calls = []

    def dies_on_third(config):
        calls.append(config)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of a trial
        return bowl(config)

    with pytest.raises(KeyboardInterrupt):
        bo_hpo.tune(dies_on_third, SPACE, budget=6, seed=0, store=store, name="ctrl_c")
    st, info = _stored(store, "ctrl_c")
    records = st.trials(info.id)
    assert [r.status for r in records] == ["completed", "completed", "interrupted"]
    assert info.status == "interrupted" and st.lease(info.id) is None
    result = bo_hpo.tune(bowl, SPACE, budget=6, seed=0, store=store, name="ctrl_c")
    retry = result.records[3]
    assert retry.generator == "retry" and retry.retry_of == 2
    assert retry.config == records[2].config and retry.status == "completed"
    assert sum(r.status in ("completed", "failed") for r in result.records) == 6


def test_max_retries_zero_does_not_rerun(store):
    calls = []

    def interrupt_second(config):
        calls.append(config)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return bowl(config)

    with pytest.raises(KeyboardInterrupt):
        bo_hpo.tune(interrupt_second, SPACE, budget=4, seed=0, store=store, name="noretry")
    result = bo_hpo.tune(bowl, SPACE, budget=4, seed=0, store=store, name="noretry",
                         max_retries=0)
    assert all(r.generator != "retry" for r in result.records)


def test_a_live_lease_refuses_a_second_run_and_touches_nothing(store):
    bo_hpo.tune(bowl, SPACE, budget=3, seed=0, store=store, name="held")
    st, info = _stored(store, "held")
    other = Owner.current()
    st.acquire_lease(info.id, other)  # another live run (this very process, so its pid lives)
    before = st.trials(info.id)
    with pytest.raises(LockedError, match="locked by another run"):
        bo_hpo.tune(bowl, SPACE, budget=6, seed=0, store=store, name="held")
    assert st.trials(info.id) == before
    assert st.lease(info.id)["owner"] == str(other)


def test_an_incompatible_space_change_is_refused_with_advice(store):
    bo_hpo.tune(bowl, SPACE, budget=5, seed=0, store=store, name="space")
    narrowed = {**SPACE, "lr": ("log_uniform", 1e-3, 1e-2)}
    with pytest.raises(SpaceChangedError) as err:
        bo_hpo.tune(bowl, narrowed, budget=8, seed=0, store=store, name="space")
    assert "lr" in str(err.value) and "space_v2" in str(err.value)
    st, info = _stored(store, "space")
    assert len(st.trials(info.id)) == 5 and len(st.space_versions(info.id)) == 1
    assert st.lease(info.id) is None


def test_a_compatible_change_is_recorded_and_old_trials_are_carried(store):
    bo_hpo.tune(bowl, SPACE, budget=5, seed=0, baseline=BASELINE, store=store, name="grow")
    grown = {**SPACE, "lr": ("log_uniform", 1e-6, 1e-1),
             "width": ("ordered", [64, 128, 256])}

    def objective(config):
        assert config["width"] in (64, 128, 256)
        return bowl(config) + config["width"] / 1000

    result = bo_hpo.tune(objective, grown, budget=8, seed=0,
                         baseline={**BASELINE, "width": 128}, store=store, name="grow")
    st, info = _stored(store, "grow")
    versions = st.space_versions(info.id)
    assert [v["version"] for v in versions] == [1, 2]
    assert "lr" in versions[1]["change"] and "width" in versions[1]["change"]
    assert len(result.records) == 8 and all("width" in r.config for r in result.records[5:])
    assert info.space_version == 2


def test_after_a_parameter_is_added_the_experiment_loads_asks_and_runs_without_the_baseline(
        tmp_path):
    """A compatible change adds `y`, carried into the earlier trials by the baseline of the
    run that made it. Later readers (load, ask, a run without that baseline) did not know
    that value and failed with "missing a value for 'y'"; the space version keeps it now."""
    url = f"sqlite:///{tmp_path / 's.db'}"

    def objective(config):
        return (config["x"] - 0.3) ** 2 + config.get("y", 0.0)

    one = {"x": ("uniform", 0.0, 1.0)}
    two = {**one, "y": ("uniform", 0.0, 1.0)}
    bo_hpo.tune(objective, one, budget=3, store=url, name="e", seed=0)
    bo_hpo.tune(objective, two, budget=5, store=url, name="e", seed=0,
                baseline={"x": 0.5, "y": 0.2})
    loaded = bo_hpo.load("e", store=url)
    assert [sorted(r.config) for r in loaded.records] == [["x"]] * 3 + [["x", "y"]] * 2
    assert loaded.recommendation_source == "model"
    again = bo_hpo.tune(objective, two, budget=7, store=url, name="e", seed=0)
    assert len(again.records) == 7 and again.records[-1].status == "completed"
    trial = bo_hpo.Experiment("e", url).ask()
    assert set(trial.config) == {"x", "y"}


def test_a_changed_baseline_on_resume_is_said_not_silently_dropped(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 's.db'}"
    space = {"x": ("uniform", 0.0, 1.0)}
    bo_hpo.tune(lambda c: c["x"], space, budget=2, store=url, name="e", seed=0,
                baseline={"x": 0.2})
    with caplog.at_level("WARNING", logger="bo_hpo.durable"):
        again = bo_hpo.tune(lambda c: c["x"], space, budget=3, store=url, name="e", seed=0,
                            baseline={"x": 0.9})
    assert "the baseline given, {'x': 0.9}, differs from the stored one, {'x': 0.2}" \
        in caplog.text
    assert [r.config["x"] for r in again.records if r.is_baseline] == [0.2]


def test_a_stored_run_that_stopped_on_an_error_says_which_when_loaded(tmp_path):
    """load() said "stopped: stopped"; the error's words were only in the exception."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(bo_hpo.TuningError):
        bo_hpo.tune(lambda c: float("nan"), {"x": ("uniform", 0.0, 1.0)}, budget=4, seed=0,
                    store=url, name="e", max_failures=1)
    summary = bo_hpo.load("e", store=url).summary()
    assert "stopped: error: 2 trials failed (max_failures=1): trial 0: non_finite" in summary
