"""bo_hpo.result: trial records as rows, the trials table, the summary, small helpers."""

from __future__ import annotations

import numpy as np

from bo_hpo import TuningResult
from bo_hpo.result import COLUMNS, Prediction, TrialRecord, as_plain, trials_frame


def _records():
    return [
        TrialRecord(0, {"lr": 3e-4, "trial": 7}, "completed", "baseline", is_baseline=True,
                    mean=0.5, sem=0.01, metrics={"acc": (0.8, None)}),
        TrialRecord(1, {"lr": 1e-2, "trial": 3}, "failed", "sobol", reason="diverged",
                    detail="loss nan", proposal_seconds=0.02),
        TrialRecord(2, {"lr": 1e-5, "trial": 1}, "invalid", "gp", reason="invalid",
                    detail="rejected by is_valid", proposal_seconds=0.9),
    ]


def test_trials_frame_has_one_row_per_record_and_every_column():
    frame = trials_frame(_records(), ["lr", "trial"])
    assert len(frame) == 3
    assert set(COLUMNS) <= set(frame.columns)
    assert frame["lr"].tolist() == [3e-4, 1e-2, 1e-5]
    # a parameter whose name clashes with a column gets a prefix instead of overwriting it
    assert frame["trial"].tolist() == [0, 1, 2]
    assert frame["param_trial"].tolist() == [7, 3, 1]
    assert frame["status"].tolist() == ["completed", "failed", "invalid"]
    assert frame.loc[0, "metric_acc"] == 0.8
    assert frame["proposal_seconds"].tolist() == [0.0, 0.02, 0.9]


def test_result_summary_reports_best_baseline_and_counts():
    records = _records()
    result = TuningResult(
        best_config={"lr": 3e-4, "trial": 7}, best_predicted=Prediction(0.48, 0.02),
        best_trial=0, best_observed={"config": records[0].config, "mean": 0.5, "sem": 0.01,
                                     "trial": 0},
        baseline={"config": records[0].config, "mean": 0.5, "sem": 0.01, "trial": 0,
                  "predicted": Prediction(0.52, 0.02)},
        improvement=0.04, records=records, param_names=["lr", "trial"],
        budget_spent={"trials": 2, "seconds": 1.0, "device_hours": 0.0},
        stop_reason="max_trials (2) reached", minimize=True, recommendation_source="model",
    )
    text = result.summary()
    assert "best config (trial 0, model)" in text
    assert "lr = 3.000e-04" in text
    assert "predicted: 0.48" in text
    assert "baseline: 0.5 observed, 0.52 predicted; improvement over it (predicted): +0.04" \
        in text
    assert "1 completed, 1 failed, 1 invalid; stopped: max_trials (2) reached" in text
    assert [r.trial for r in result.failures] == [1]
    assert len(result.trials) == 3


def test_prediction_unpacks():
    mean, sem = Prediction(1.5, 0.1)
    assert (mean, sem) == (1.5, 0.1)


def test_as_plain_turns_numpy_scalars_into_python():
    plain = as_plain({"a": np.int64(3), "b": np.float32(0.5), "c": "x", "d": np.bool_(True)})
    assert plain == {"a": 3, "b": 0.5, "c": "x", "d": True}
    assert [type(v) for v in plain.values()] == [int, float, str, bool]


def test_gp_result_summary_is_consistent(mlp_gp_run):
    result, _, _ = mlp_gp_run
    text = result.summary()
    assert f"best config (trial {result.best_trial}, model)" in text
    assert result.stop_reason in text
    counts = result.trials["status"].value_counts()
    assert f"{counts.get('completed', 0)} completed" in text
    assert result.budget_spent["trials"] == 14
    assert result.budget_spent["seconds"] > 0
