"""Hand-built records and results with known numbers, a fake model, and the three-night
experiment file, for the report tests."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bo_hpo import SearchSpace
from bo_hpo.result import TuningResult
from bo_hpo.trial import Prediction, TrialRecord

HERE = Path(__file__).resolve().parent
PAYLOAD = "<script>alert(1)</script>"

SPACE = {
    "lr": ("log_uniform", 1e-4, 1e-1),
    "dropout": ("uniform", 0.0, 0.5),
    "opt": ("choice", ["sgd", "adam"]),
    "momentum": ("uniform", 0.0, 0.9, {"when": {"opt": ["sgd"]}}),
}

#: trial, config, status, mean, reason
ROWS: list[tuple[int, dict[str, Any], str, float | None, str | None]] = [
    (0, {"lr": 1e-3, "dropout": 0.1, "opt": "sgd", "momentum": 0.5}, "completed", 0.30, None),
    (1, {"lr": 1e-2, "dropout": 0.2, "opt": "adam"}, "completed", 0.25, None),
    (2, {"lr": 0.0523, "dropout": 0.3, "opt": "adam"}, "failed", None, "diverged"),
    (3, {"lr": 3e-4, "dropout": 0.05, "opt": "sgd", "momentum": 0.9}, "completed", 0.28, None),
    (4, {"lr": 8e-2, "dropout": 0.4, "opt": "sgd", "momentum": 0.1}, "failed", None, "diverged"),
    (5, {"lr": 2e-3, "dropout": 0.1, "opt": "adam"}, "completed", 0.20, None),
    (6, {"lr": 1e-4, "dropout": 0.2, "opt": "sgd", "momentum": 0.3}, "invalid", None, "invalid"),
    (7, {"lr": 3e-3, "dropout": 0.15, "opt": "adam"}, "completed", 0.22, None),
]


def make_records(rows=ROWS, detail: str = "loss exploded") -> list[TrialRecord]:
    out = []
    for trial, config, status, mean, reason in rows:
        out.append(TrialRecord(
            trial=trial, config=dict(config), status=status,  # type: ignore[arg-type]
            generator="baseline" if trial == 0 else "sobol" if trial < 5 else "gp",
            is_baseline=trial == 0, mean=mean, sem=0.01 if mean is not None else None,
            reason=reason, detail=detail if status == "failed" else
            ("rejected by is_valid" if status == "invalid" else None),
            eval_seconds=1.5 if status != "invalid" else 0.0,
            night=1 if trial < 4 else 2))
    return out


def make_result(records: list[TrialRecord] | None = None, space: dict | None = None,
                **info: Any) -> TuningResult:
    """The hand-built run: trial 5 recommended (predicted 0.21 ± 0.01), the baseline trial 0
    predicted 0.29 ± 0.01, so the improvement is 0.08."""
    records = make_records() if records is None else records
    best = next(r for r in records if r.trial == 5)
    base = next(r for r in records if r.trial == 0)
    return TuningResult(
        best_config=dict(best.config), best_predicted=Prediction(0.21, 0.01), best_trial=5,
        best_observed={"config": best.config, "mean": 0.20, "sem": 0.01, "trial": 5},
        baseline={"config": base.config, "mean": 0.30, "sem": 0.01, "trial": 0,
                  "predicted": Prediction(0.29, 0.01)},
        improvement=0.08, records=records, param_names=list(SPACE),
        budget_spent={"trials": 7, "seconds": 12.5, "device_hours": 0.0},
        stop_reason="max_trials (7) reached", minimize=True, recommendation_source="model",
        space=SearchSpace(space or SPACE),
        info={"name": "handmade", "seed": 0, "method": "bo", "budget": {"max_trials": 7},
              "versions": {"bo_hpo": "0.1.0"}, "rules": ["opt == 'sgd' and lr < 2e-4"],
              **info})


def hostile_result() -> TuningResult:
    """The payload as a choice value (in the recommended config), a failure message and
    the experiment's name."""
    space = dict(SPACE, opt=("choice", ["sgd", PAYLOAD]),
                 momentum=("uniform", 0.0, 0.9, {"when": {"opt": ["sgd"]}}))
    records = make_records(detail=f"RuntimeError: {PAYLOAD}")
    for r in records:
        if r.config.get("opt") == "adam":
            r.config["opt"] = PAYLOAD
    return make_result(records, space, name=PAYLOAD,
                       rules=["opt == 'sgd' and lr < 2e-4"])


def fake_predict(config: dict[str, Any]) -> tuple[float, float]:
    """A known model: a bowl in lr only (best at 10**-2.7), SEM 0.01 everywhere."""
    return (math.log10(config["lr"]) + 2.7) ** 2, 0.01


class RecordingPredict:
    """``fake_predict`` over a batch, remembering each batch it was asked."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def __call__(self, configs: list[dict[str, Any]]) -> list[tuple[float, float]]:
        self.batches.append([dict(c) for c in configs])
        return [fake_predict(c) for c in configs]


NIGHTLY_FILE = """\
name = "three_nights"
description = "A fast bowl, tuned three nights in a row"
evaluator = "report_objectives:bowl"
seed = 0
invalid_if = ["optimizer == 'sgd' and lr < 2e-5"]

[space]
lr = ["log_uniform", 1e-5, 1e-1]
warmup = ["uniform", 0.0, 0.2]
dropout = ["uniform", 0.0, 0.5]
optimizer = ["choice", ["sgd", "adam"]]

[baseline]
lr = 1e-2
warmup = 0.05
dropout = 0.1
optimizer = "sgd"

[budget]
max_trials = 100

[nightly]
max_trials = 8
"""
