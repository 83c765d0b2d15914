"""The pure data behind each section, on hand-built records: exact values."""

from __future__ import annotations

import math

import pytest

from bo_hpo import SearchSpace
from bo_hpo.report import answer as a_
from bo_hpo.report import data as d
from bo_hpo.report import trials as t_
from bo_hpo.trial import Prediction

from .helpers import SPACE, make_records, make_result

ORDER = ["lr", "opt", "dropout"]


def test_answer_puts_the_recommendation_against_the_baseline():
    a = a_.answer_data(make_result(), "validation error rate", True, ORDER)
    assert a.trial == 5 and a.config == {"lr": 2e-3, "dropout": 0.1, "opt": "adam"}
    assert a.predicted == (0.21, 0.01)
    assert a.interval == pytest.approx((0.21 - 0.0196, 0.21 + 0.0196))
    assert a.observed == (0.20, 0.01)
    assert a.baseline_trial == 0 and a.baseline_observed == (0.30, 0.01)
    assert a.baseline_predicted == (0.29, 0.01)
    assert a.improvement == 0.08
    assert a.relative == pytest.approx(0.08 / 0.29)
    assert a.confidence == "confident"  # 0.08 / (0.01 * sqrt 2) = 5.7 standard errors


def test_a_baseline_without_prediction_is_compared_as_measured():
    # Ax clipped the baseline's value before the fit, so the loop gave it no prediction
    # and measured the improvement from its observed 0.30 (SEM 0.01)
    result = make_result()
    result.baseline["predicted"] = None
    result.improvement = 0.30 - 0.21
    a = a_.answer_data(result, "validation error rate", True, ORDER)
    assert a.baseline_predicted is None
    assert a.relative == pytest.approx(0.09 / 0.30)
    assert a.confidence == "confident"  # 0.09 / (0.01 * sqrt 2) = 6.4 standard errors


def test_no_share_of_the_baseline_for_an_objective_that_crosses_zero():
    # predicted 0.21 against a baseline predicted at -0.05: "+x% of the baseline" is noise
    result = make_result()
    result.baseline["predicted"] = Prediction(-0.05, 0.01)
    result.improvement = 0.26
    a = a_.answer_data(result, "log-likelihood", False, ORDER)
    assert a.improvement == 0.26 and a.relative is None


def test_verdict_is_one_plain_sentence():
    a = a_.answer_data(make_result(), "validation error rate", True, ORDER)
    assert a.verdict == (
        "adam with lr near 0.002 beats the baseline by 8 points of validation error rate "
        "(28%); the model is confident; 2 of 7 trials diverged at lr above 0.052; "
        "1 proposal broke a rule and was skipped.")


def test_verdict_without_importance_or_baseline():
    result = make_result()
    result.baseline, result.improvement = None, None
    a = a_.answer_data(result, "loss", False)
    assert a.verdict.startswith("The recommended configuration (trial 5) reaches a predicted "
                                "0.21 loss;")
    assert a.confidence is None


def test_verdict_when_the_model_is_unsure_and_nothing_failed():
    records = [r for r in make_records() if r.status == "completed"]
    result = make_result(records)
    result.best_predicted = type(result.best_predicted)(0.28, 0.02)
    result.improvement = 0.01
    a = a_.answer_data(result, "loss", False, ORDER)
    assert a.confidence == "unsure"
    assert a.verdict == ("adam with lr near 0.002 beats the baseline by 0.01 in loss (3%); the "
                         "difference is within the model's uncertainty.")


def test_final_scores_of_both_and_a_note_when_they_are_for_an_older_recommendation():
    final = {"recommended": {"test_error": 0.139, "test_error_sem": 0.011, "n_test": 1000},
             "baseline": {"test_error": 0.164, "test_error_sem": 0.012}}
    scores, note = a_.final_scores({"final": final, "final_trial": 5}, 5)
    assert [(s.which, s.measure, s.value, s.sem) for s in scores] == [
        ("recommended", "test_error", 0.139, 0.011), ("baseline", "test_error", 0.164, 0.012)]
    assert note is None
    _, note = a_.final_scores({"final": final, "final_trial": 3}, 5)
    assert note is not None and "trial 3" in note
    assert a_.final_scores({}, 5) == ([], None)


def test_failure_region_finds_the_parameter_that_separates_failures():
    records = make_records()
    failed = [r for r in records if r.status == "failed"]
    assert d.failure_region(failed, records, SearchSpace(SPACE)) == "lr above 0.052"
    assert d.failure_region(failed[:1], records, SearchSpace(SPACE)) is None  # one is no pattern


def test_round_sig_and_fmt():
    assert d.round_sig(0.0523, 2, "down") == 0.052
    assert d.round_sig(0.0523, 2, "up") == 0.053
    assert d.round_sig(math.exp(math.log(1e-5)), 1, "down") == 1e-5  # not 9e-6
    assert [d.fmt(v) for v in (0.0012, 3e-05, 512, 0.25, None, "adam")] == [
        "0.0012", "3e-05", "512", "0.25", "—", "adam"]


def test_run_data_lists_the_facts_and_the_spec():
    run = d.run_data(make_result(store="sqlite:///x.db", device="cpu"))
    facts = dict(run.facts)
    assert facts["experiment"] == "handmade"
    assert facts["budget given"] == "7 trials"
    assert facts["budget used"] == "7 trials, 12 s"
    assert facts["stopped because"] == "max_trials (7) reached"
    assert facts["size of the space"] == "infinite (continuous parameters)"
    assert facts["trials"] == "5 completed, 2 failed, 1 invalid"
    assert facts["store"] == "sqlite:///x.db" and facts["device"] == "cpu"
    rows = {r.name: r for r in run.spec}
    assert (rows["lr"].kind, rows["lr"].range, rows["lr"].scale) == (
        "log_uniform", "[0.0001, 0.1]", "log")
    assert rows["opt"].scale == "categorical" and rows["opt"].range == "sgd, adam"
    assert rows["momentum"].condition == "opt in {sgd}"
    assert rows["momentum"].recommended == "—" and rows["momentum"].baseline == "0.5"
    assert run.rules == ["opt == 'sgd' and lr < 2e-4"]
    assert run.versions == [("bo_hpo", "0.1.0")]


def test_trace_has_values_best_so_far_baseline_problems_and_nights():
    t = t_.trace_data(make_records(), minimize=True, objective="loss", recommended_trial=5)
    assert t.trials == [0, 1, 3, 5, 7]
    assert t.values == [0.30, 0.25, 0.28, 0.20, 0.22]
    assert t.best_trials == [0, 1, 3, 5, 7]
    assert t.best_values == [0.30, 0.25, 0.25, 0.20, 0.20]
    assert t.baseline == 0.30
    assert t.recommended == (5, 0.20)
    assert t.problems == {"failed: diverged": [2, 4], "invalid": [6]}
    assert t.problem_y == 0.30
    assert t.nights == [(1, -0.5, 3.5), (2, 3.5, 7.5)]
    assert t.log_y is False
    assert t.labels[0].splitlines()[0] == "trial 0 (baseline, baseline)"


def test_trace_maximising_takes_the_running_maximum():
    t = t_.trace_data(make_records(), minimize=False)
    assert t.best_values == [0.30, 0.30, 0.30, 0.30, 0.30]
    assert t.problem_y == 0.20


def test_table_rows_one_per_trial_in_order():
    rows = t_.table_rows(make_records(), recommended_trial=5)
    assert [r.trial for r in rows] == list(range(8))
    assert [r.status for r in rows] == ["completed", "completed", "failed", "completed",
                                        "failed", "completed", "invalid", "completed"]
    assert rows[5].is_recommended and rows[0].is_baseline and not rows[1].is_recommended
    assert rows[2].reason == "diverged" and rows[2].detail == "loss exploded"
    assert rows[2].seconds == 1.5 and rows[2].night == 1


def test_parallel_coordinates_encode_categories_logs_and_inactive():
    p = t_.parallel_data(make_records(), SearchSpace(SPACE), "loss", True)
    dims = {dim["label"]: dim for dim in p.dimensions}
    assert list(dims) == ["lr", "dropout", "opt", "momentum", "loss"]
    assert dims["lr"]["values"] == pytest.approx([-3, -2, math.log10(3e-4), math.log10(2e-3),
                                                  math.log10(3e-3)])
    assert dims["lr"]["tickvals"] == [-4, -3, -2, -1]
    assert dims["lr"]["ticktext"] == ["0.0001", "0.001", "0.01", "0.1"]
    assert dims["opt"]["values"] == [0, 1, 0, 1, 1]
    assert dims["opt"]["ticktext"] == ["sgd", "adam"]
    below = 0 - 0.15 * 0.9
    assert dims["momentum"]["values"] == pytest.approx([0.5, below, 0.9, below, below])
    assert dims["momentum"]["ticktext"][-1] == "inactive"
    assert dims["momentum"]["range"] == pytest.approx([below, 0.9])
    assert p.color == [0.30, 0.25, 0.28, 0.20, 0.22]


def test_failures_grouped_by_reason_with_the_rule_an_invalid_config_broke():
    f = t_.failure_data(make_records(), SearchSpace(SPACE), ["opt == 'sgd' and lr < 2e-4"])
    assert [(g.reason, g.status, g.count, g.trials) for g in f.groups] == [
        ("diverged", "failed", 2, [2, 4]),
        ("invalid: opt == 'sgd' and lr < 2e-4", "invalid", 1, [6])]
    assert f.groups[0].details == ["loss exploded"]
    assert f.groups[0].where == "lr above 0.052"
    assert f.total == 8
    strip = f.strips[0]
    assert strip.name == "lr" and strip.log
    assert strip.points["failed: diverged"] == [0.0523, 0.08]
    assert strip.trials["completed"] == [0, 1, 3, 5, 7]


def test_night_rows_show_drift_and_what_changed():
    nights = [
        {"number": 1, "status": "done", "n_trials": 4, "best_after": 0.25, "improvement": None,
         "recommended_trial": 1, "recommended_config": {"lr": 0.01, "opt": "adam"},
         "predicted_mean": 0.26, "predicted_sem": 0.01, "recommendation_changed": False},
        {"number": 2, "status": "done", "n_trials": 4, "best_after": 0.20,
         "improvement": 0.05, "recommended_trial": 5,
         "recommended_config": {"lr": 0.002, "opt": "adam"}, "predicted_mean": 0.21,
         "predicted_sem": 0.01, "recommendation_changed": True},
    ]
    rows = t_.night_rows(list(reversed(nights)))
    assert [r.number for r in rows] == [1, 2]
    assert [r.drift for r in rows] == [False, True]
    assert rows[0].changes == [] and rows[1].changes == ["lr 0.01 → 0.002"]
    assert rows[1].predicted == (0.21, 0.01) and rows[1].improvement == 0.05


def test_unit_position_is_on_the_parameter_scale():
    space = SearchSpace(SPACE)
    assert d.unit_position(space.params["lr"], 1e-2) == pytest.approx(2 / 3)
    assert d.unit_position(space.params["dropout"], 0.125) == 0.25


def test_table_rows_say_which_worker_ran_each_trial():
    from bo_hpo.report.trials import table_rows
    from bo_hpo.trial import TrialRecord

    records = [TrialRecord(trial=0, config={"x": 1.0}, status="completed", generator="sobol",
                           mean=0.5, worker="process 1 (pid 42, cuda:1)"),
               TrialRecord(trial=1, config={"x": 2.0}, status="completed", generator="gp",
                           mean=0.4)]
    rows = table_rows(records, recommended_trial=1)
    assert [r.worker for r in rows] == ["process 1 (pid 42, cuda:1)", None]
