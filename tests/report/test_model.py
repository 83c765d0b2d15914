"""Importance, slices and contour from a known model (a bowl in lr only)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bo_hpo import SearchSpace
from bo_hpo.report.model import grid, model_view, with_value

from .helpers import SPACE, RecordingPredict, fake_predict, make_records

BEST = {"lr": 2e-3, "dropout": 0.1, "opt": "adam"}


def test_one_batched_prediction_for_the_slices_and_one_for_the_contour():
    predict = RecordingPredict()
    view = model_view(SearchSpace(SPACE), BEST, make_records(), predict)
    assert view.available
    assert len(predict.batches) == 2
    assert len(predict.batches[0]) == 50 + 50 + 2  # lr, dropout, opt; momentum is inactive
    assert len(predict.batches[1]) == 25 * 25


def test_importance_is_the_share_of_the_slice_spreads():
    view = model_view(SearchSpace(SPACE), BEST, make_records(), RecordingPredict())
    lr = np.geomspace(1e-4, 1e-1, 50)
    curve = (np.log10(lr) + 2.7) ** 2
    assert view.order == ["lr", "dropout", "opt"]  # ties broken by name
    assert view.importance == [("lr", 1.0, pytest.approx(curve.max() - curve.min())),
                               ("dropout", 0.0, 0.0), ("opt", 0.0, 0.0)]
    assert view.inactive == ["momentum"]
    lr_slice = view.slices[0]
    assert lr_slice.log and not lr_slice.categorical and lr_slice.at == 2e-3
    assert lr_slice.mean == pytest.approx(list(curve))
    assert lr_slice.sem == [0.01] * 50
    assert lr_slice.observed_x == [1e-3, 1e-2, 3e-4, 2e-3, 3e-3]
    assert lr_slice.observed_y == [0.30, 0.25, 0.28, 0.20, 0.22]


def test_a_choice_slice_switches_its_children_on_with_the_best_value_they_had():
    predict = RecordingPredict()
    view = model_view(SearchSpace(SPACE), BEST, make_records(), predict)
    opt = next(s for s in view.slices if s.name == "opt")
    assert opt.categorical and opt.x == ["sgd", "adam"] and opt.at == "adam"
    sgd = [c for c in predict.batches[0] if c.get("opt") == "sgd"]
    # momentum takes 0.9, its value in the best completed SGD trial (trial 3, 0.28)
    assert sgd == [{"lr": 2e-3, "dropout": 0.1, "opt": "sgd", "momentum": 0.9}]


def test_contour_of_the_two_most_important_numeric_parameters():
    view = model_view(SearchSpace(SPACE), BEST, make_records(), RecordingPredict())
    c = view.contour
    assert c is not None and (c.x_name, c.y_name) == ("lr", "dropout")
    assert c.x_log and not c.y_log
    assert len(c.x) == 25 and len(c.y) == 25 and len(c.mean) == 25
    assert c.mean[3][7] == pytest.approx(fake_predict({"lr": c.x[7]})[0])
    assert c.at == (2e-3, 0.1)
    assert (1e-3, 0.1, 0.30) in c.observed


def test_no_model_no_views():
    view = model_view(SearchSpace(SPACE), BEST, make_records(), None)
    assert not view.available and view.slices == [] and view.contour is None
    failing = model_view(SearchSpace(SPACE), BEST, make_records(), lambda configs: None)
    assert not failing.available


def test_configs_breaking_a_constraint_are_not_predicted():
    space = SearchSpace({"a": ("uniform", 0.0, 1.0), "b": ("uniform", 0.0, 1.0)},
                        constraints=["a + b <= 1"])
    assert with_value(space, {"a": 0.5, "b": 0.5}, "a", 0.9, {}) is None
    assert with_value(space, {"a": 0.5, "b": 0.5}, "a", 0.2, {}) == {"a": 0.2, "b": 0.5}
    view = model_view(space, {"a": 0.5, "b": 0.5}, [], lambda cs: [(c["a"], 0.0) for c in cs])
    a = next(s for s in view.slices if s.name == "a")
    assert a.mean[-1] is None and a.mean[0] == 0.0


def test_grids():
    space = SearchSpace({"n": ("int", 1, 10), "m": ("log_int", 1, 4096),
                         "w": ("ordered", [32, 64]), "x": ("uniform", 0.0, 1.0)})
    assert grid(space.params["n"], 50) == list(range(1, 11))
    m = grid(space.params["m"], 50)
    assert m[0] == 1 and m[-1] == 4096 and m == sorted(set(m))
    assert grid(space.params["w"], 50) == [32, 64]
    assert grid(space.params["x"], 5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert math.isclose(grid(SearchSpace(SPACE).params["lr"], 4)[1], 1e-3)
