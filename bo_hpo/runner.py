"""Run an experiment file end to end: load data, tune on validation, score on test once.

The test set is read only by ``final_eval``, after tuning, for the recommended config and
the baseline.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bo_hpo.budget import Budget
from bo_hpo.experiment import ExperimentSpec
from bo_hpo.loop import Progress, tune
from bo_hpo.result import TuningResult

logger = logging.getLogger(__name__)


@dataclass
class ExperimentOutcome:
    """A finished experiment: the tuning result plus the final held-out scores."""

    spec: ExperimentSpec
    result: TuningResult
    final: dict[str, dict[str, Any]]  # "recommended" / "baseline" -> final_eval output
    seconds: float
    out_dir: Path | None


def with_overrides(
    spec: ExperimentSpec,
    *,
    trials: int | None = None,
    seconds: float | None = None,
    device: str | None = None,
    data_dir: str | None = None,
    trial_timeout: float | None = None,
) -> ExperimentSpec:
    """The spec with command-line overrides applied (``None`` keeps the file's value)."""
    budget = spec.budget
    if trials is not None or seconds is not None:
        budget = dataclasses.replace(
            budget,
            max_trials=trials if trials is not None else budget.max_trials,
            max_seconds=seconds if seconds is not None else budget.max_seconds,
        )
        budget = Budget(**dataclasses.asdict(budget))  # re-validate
    return dataclasses.replace(
        spec, budget=budget, device=device or spec.device, data_dir=data_dir or spec.data_dir,
        trial_timeout=trial_timeout or spec.trial_timeout,
    )


def run_experiment(
    spec: ExperimentSpec,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    out_dir: str | Path | None = None,
) -> ExperimentOutcome:
    """Tune ``spec``'s evaluator on its validation split, then score the recommendation
    and the baseline on the held-out set (when ``spec.final_eval``).

    Each finished trial is appended to ``out_dir/trials.jsonl`` as it completes, so a
    crash or kill loses at most the trial in flight.
    """
    from bo_hpo.evaluators import get_evaluator

    t0 = time.perf_counter()
    evaluator = get_evaluator(spec.evaluator)
    data = evaluator.load_data(spec.data_dir, seed=spec.seed)
    out = Path(out_dir) if out_dir is not None else None
    journal = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        journal = (out / "trials.jsonl").open("w", encoding="utf-8")

    def objective(config: dict[str, Any]) -> Any:
        return evaluator.evaluate(
            config, data=data, seed=spec.seed, device=spec.device,
            time_limit=spec.trial_timeout,
        )

    def callback(progress: Progress) -> None:
        if journal is not None:
            journal.write(json.dumps(_jsonable(dataclasses.asdict(progress.record))) + "\n")
            journal.flush()
        if on_progress is not None:
            on_progress(progress)

    try:
        result = tune(
            objective, spec.space, budget=spec.budget, is_valid=spec.is_valid,
            baseline=spec.baseline, seed=spec.seed, callback=callback,
        )
    finally:
        if journal is not None:
            journal.close()
    final: dict[str, dict[str, Any]] = {}
    if spec.final_eval:
        final["recommended"] = evaluator.final_eval(
            result.best_config, data=data, seed=spec.seed, device=spec.device
        )
        if result.baseline is not None:
            final["baseline"] = evaluator.final_eval(
                result.baseline["config"], data=data, seed=spec.seed, device=spec.device
            )
    outcome = ExperimentOutcome(spec, result, final, time.perf_counter() - t0, out)
    if out is not None:
        save_outcome(outcome, out)
    return outcome


def save_outcome(outcome: ExperimentOutcome, out: Path) -> None:
    """Write ``trials.csv`` and ``result.json`` (best config, predictions, final scores)."""
    result = outcome.result
    result.trials.to_csv(out / "trials.csv", index=False)
    summary = {
        "experiment": outcome.spec.name,
        "variant": outcome.spec.variant,
        "evaluator": outcome.spec.evaluator,
        "seed": outcome.spec.seed,
        "best_config": result.best_config,
        "best_trial": result.best_trial,
        "best_predicted": None if result.best_predicted is None else {
            "mean": result.best_predicted.mean, "sem": result.best_predicted.sem},
        "best_observed": result.best_observed,
        "baseline": None if result.baseline is None else {
            k: v for k, v in result.baseline.items() if k != "predicted"},
        "improvement": result.improvement,
        "budget_spent": result.budget_spent,
        "stop_reason": result.stop_reason,
        "final": outcome.final,
        "seconds": outcome.seconds,
    }
    (out / "result.json").write_text(json.dumps(_jsonable(summary), indent=2) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
