"""Advice -> a new experiment file that loads, changed exactly where the advice says."""

from __future__ import annotations

import sys

import pytest

from bo_hpo.errors import ConfigError
from bo_hpo.experiment import experiment_from_dict
from bo_hpo.report.advice import Advice
from bo_hpo.report.refine import dumps, refine_experiment

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RAW = {
    "name": "demo",
    "evaluator": "mlp_fashion",
    "seed": 1,
    "invalid_if": ["optimizer == 'SGD' and learning_rate < 1e-4", "momentum > 0.95"],
    "space": {
        "learning_rate": ["log_uniform", 1e-5, 1e-1],
        "dropout": ["uniform", 0.0, 0.5],
        "optimizer": ["choice", ["SGD", "Adam", "AdamW"]],
        "momentum": ["uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}],
        "hidden_dim": {"kind": "ordered", "values": [128, 256]},
        "epochs": ["fixed", 2],
    },
    "baseline": {"learning_rate": 3e-4, "dropout": 0.1, "optimizer": "AdamW",
                 "hidden_dim": 128},
    "budget": {"max_trials": 20, "max_seconds": 420},
    "evaluator_settings": {"trial_timeout": 120, "data_dir": ""},
    "variants": {"cpu": {"budget": {"max_trials": 12}}},
}
BEST = {"learning_rate": 2e-3, "dropout": 0.05, "optimizer": "Adam", "hidden_dim": 256,
        "epochs": 2}


def _load(text: str):
    return experiment_from_dict(tomllib.loads(text))


def test_dumps_round_trips_an_experiment_file():
    raw = tomllib.loads(dumps(RAW))
    assert raw == RAW
    spec = _load(dumps(RAW))
    assert spec.name == "demo" and spec.variants == ("cpu",)


def test_changes_land_where_the_advice_says_and_nowhere_else():
    advice = [Advice("narrow", "learning_rate", "narrow lr", ["log_uniform", 1e-4, 1e-2]),
              Advice("widen", "dropout", "widen dropout", ["uniform", 0.0, 0.6]),
              Advice("note", None, "a note"),
              Advice("baseline", None, "the recommendation becomes the baseline")]
    refined = refine_experiment(RAW, advice, BEST, source="demo", trials=12)
    assert refined.name == "demo_refined"
    assert [a.kind for a in refined.applied] == ["baseline", "narrow", "widen"]
    assert refined.skipped == []
    raw = tomllib.loads(refined.text)
    assert raw["space"]["learning_rate"] == ["log_uniform", 1e-4, 1e-2]
    assert raw["space"]["dropout"] == ["uniform", 0.0, 0.6]
    for name in ("optimizer", "momentum", "hidden_dim", "epochs"):
        assert raw["space"][name] == RAW["space"][name]
    assert raw["baseline"] == BEST
    assert {k: raw[k] for k in ("budget", "evaluator_settings", "variants", "invalid_if")} == {
        k: RAW[k] for k in ("budget", "evaluator_settings", "variants", "invalid_if")}
    assert "# was [1e-05, 0.1]: narrow" in refined.text
    assert refined.text.startswith("# Refined from experiment 'demo' by `bo-hpo refine`")
    assert "# - (note) a note" in refined.text
    spec = _load(refined.text)
    assert spec.space.params["learning_rate"].high == 1e-2


def test_fixing_a_parent_drops_children_that_can_no_longer_be_active():
    advice = [Advice("fix", "optimizer", "fix optimizer", ["fixed", "Adam"]),
              Advice("baseline", None, "baseline")]
    refined = refine_experiment(RAW, advice, BEST, source="demo")
    raw = tomllib.loads(refined.text)
    assert raw["space"]["optimizer"] == ["fixed", "Adam"]
    assert "momentum" not in raw["space"]
    assert raw["invalid_if"] == ["optimizer == 'SGD' and learning_rate < 1e-4"]
    assert "optimizer" not in raw["baseline"]
    _load(refined.text)


def test_fixing_a_parent_at_the_value_a_child_needs_keeps_the_child_unconditional():
    best = dict(BEST, optimizer="SGD", momentum=0.9)
    advice = [Advice("fix", "optimizer", "fix optimizer", ["fixed", "SGD"])]
    refined = refine_experiment(RAW, advice, best, source="demo")
    raw = tomllib.loads(refined.text)
    assert raw["space"]["momentum"] == ["uniform", 0.0, 0.99]
    assert _load(refined.text).space.params["momentum"].when == {}


def test_a_change_that_would_not_load_is_left_out_and_said_so():
    advice = [Advice("narrow", "learning_rate", "too narrow", ["log_uniform", 1e-2, 1e-1])]
    refined = refine_experiment(RAW, advice, BEST, source="demo")  # the baseline: 3e-4
    assert refined.applied == []
    assert [a.param for a, _ in refined.skipped] == ["learning_rate"]
    assert "(not applied) too narrow" in refined.text
    assert tomllib.loads(refined.text)["space"]["learning_rate"] == ["log_uniform", 1e-5, 1e-1]


def test_the_evaluator_must_accept_the_new_ends():
    advice = [Advice("widen", "dropout", "widen dropout", ["uniform", 0.0, 1.5])]
    refined = refine_experiment(RAW, advice, BEST, source="demo")
    assert refined.applied == [] and "dropout" in refined.skipped[0][1]


def test_a_message_with_a_newline_stays_a_comment():
    advice = [Advice("note", None, "line one\n[space]\nx = 1")]
    refined = refine_experiment(RAW, advice, BEST, source="demo")
    assert tomllib.loads(refined.text)["space"] == RAW["space"]


def test_none_cannot_be_written():
    with pytest.raises(ConfigError, match="no null"):
        dumps({"space": {"x": ["choice", [None, 1]]}})


def test_an_experiment_made_in_python_has_no_file_to_refine(tmp_path):
    import bo_hpo
    from bo_hpo.report.refine import refine_result

    store = f"sqlite:///{tmp_path / 's.db'}"
    bo_hpo.tune(lambda c: (c["x"] - 0.3) ** 2, {"x": ("uniform", 0.0, 1.0)}, budget=6,
                seed=0, store=store, name="py")
    result = bo_hpo.load("py", store=store)
    with pytest.raises(ConfigError, match="created from Python"):
        refine_result(result, store=store, predict=None)
