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
from bo_hpo.loop import Progress
from bo_hpo.result import TuningResult

logger = logging.getLogger(__name__)

#: A trial may take this many times the first completed trial's time (see run_experiment).
TIMEOUT_FACTOR = 4.0


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
    store: str | None = None,
    nightly: bool = False,
    fresh: bool = False,
    overrides: dict[str, Any] | None = None,
    on_final: Callable[[str], None] | None = None,
    on_step: Callable[[int, float, int | None], None] | None = None,
    parallel: int = 1,
    executor: str | None = None,
    ray_address: str | None = None,
) -> ExperimentOutcome:
    """Tune ``spec``'s evaluator on its validation split, then score the recommendation
    and the baseline on the held-out set (when ``spec.final_eval``).

    Every trial is written to ``store`` (``None``: ``$BO_HPO_STORE`` or the default file)
    as it starts and as it ends, so a crash or kill loses at most the trials in flight. An
    experiment already in the store is continued (its interrupted trial re-run first) with
    what is left of its budget; ``fresh`` keeps the old one under a dated name and starts
    anew. ``nightly`` runs one night: ``[nightly]``'s budget, recorded as a night.
    """
    from bo_hpo.durable import archive_name
    from bo_hpo.evaluators import get_evaluator
    from bo_hpo.loop import Session, _tune
    from bo_hpo.store import default_store_url, open_store

    t0 = time.perf_counter()
    store_url = store or default_store_url()
    st = open_store(store_url)
    if fresh:
        info = st.get_experiment(spec.name)
        if info is not None:
            archived = archive_name(st, spec.name)
            st.rename_experiment(info.id, archived)
            logger.warning("kept the earlier experiment %r as %r", spec.name, archived)
    from bo_hpo.evaluators import FunctionEvaluator

    evaluator = get_evaluator(spec.evaluator)
    data = evaluator.load_data(spec.data_dir, seed=spec.seed)
    # A built-in evaluator stops itself at its time_limit. A function of the user's
    # cannot, so the loop holds it to the file's trial_timeout, as tune(trial_timeout=)
    # does, and the limit does not grow.
    user_function = isinstance(evaluator, FunctionEvaluator)

    # The file's trial_timeout is sized for an idle machine. On a busy one every trial runs
    # slower, so the limit grows with the first completed trial's time (a typical config,
    # the baseline when there is one): TIMEOUT_FACTOR times it, never less than the file's.
    limit = {"seconds": spec.trial_timeout, "set": user_function}

    def objective(config: dict[str, Any]) -> Any:
        return evaluator.evaluate(
            config, data=data, seed=spec.seed, device=spec.device,
            time_limit=limit["seconds"],
        )

    def callback(progress: Progress) -> None:
        r = progress.record
        if spec.trial_timeout is not None and r.status == "completed" and not limit["set"]:
            limit["set"] = True  # the first completed trial alone decides
            scaled = TIMEOUT_FACTOR * r.eval_seconds
            if scaled > spec.trial_timeout:
                limit["seconds"] = scaled
                logger.warning("trial %d took %.0f s; trials may take up to %.0f s (the "
                               "machine is slower than trial_timeout=%g s assumes)",
                               r.trial, r.eval_seconds, scaled, spec.trial_timeout)
        if on_progress is not None:
            on_progress(progress)

    runs_elsewhere = executor in ("process", "ray")
    if runs_elsewhere:  # something importable, whose data each worker loads once
        from bo_hpo.executors.process import EvaluatorObjective

        objective = (evaluator.function if user_function
                     else EvaluatorObjective(spec.evaluator, data_dir=spec.data_dir,
                                             seed=spec.seed, device=spec.device,
                                             time_limit=spec.trial_timeout))
    chosen: Any = executor
    if executor == "ray" and ray_address is not None:
        from bo_hpo.executors.ray import RayExecutor

        chosen = RayExecutor(workers=parallel, address=ray_address)
    budget = spec.budget
    if nightly and spec.nightly_budget is not None:
        budget = spec.nightly_budget
    session = Session(
        budget_scope="session" if nightly else "experiment", nightly=nightly, source="file",
        device=spec.device,
        spec_extra={"file": {"raw": spec.raw, "variant": spec.variant,
                             "path": str(spec.path) if spec.path else None,
                             "overrides": overrides or {}}},
    )
    from bo_hpo.progress import reporting

    with reporting(on_step):
        result = _tune(
            objective=objective, space=spec.space, budget=budget, constraints=(),
            is_valid=spec.is_valid, baseline=spec.baseline, minimize=spec.minimize,
            metric=spec.metric,
            method="bo", seed=spec.seed, n_initial=None,
            trial_timeout=spec.trial_timeout if user_function else None,
            proposal_timeout=30.0, max_failures=None, max_consecutive_invalid=20,
            executor=chosen, callback=callback, store=st, name=spec.name, max_retries=1,
            parallelism=parallel, session=session,
        )
    final: dict[str, dict[str, Any]] = {}
    info = st.get_experiment(spec.name)
    cached = (info.summary or {}).get("final") if info else None
    want_final = spec.final_eval and (spec.nightly_final_eval if nightly else True)
    same_as_cached = bool(cached) and cached.get("best_trial") == result.best_trial
    if want_final and same_as_cached:
        final = cached["scores"]  # the recommendation did not change: no second retraining
    elif want_final:
        if on_final:
            on_final("recommended")
        with reporting(on_step):
            final["recommended"] = evaluator.final_eval(
                result.best_config, data=data, seed=spec.seed, device=spec.device
            )
        if result.baseline is not None:
            if (result.baseline["trial"] == result.best_trial
                    or result.baseline["config"] == result.best_config):
                final["baseline"] = final["recommended"]  # the same config: trained once
            else:
                if on_final:
                    on_final("baseline")
                with reporting(on_step):
                    final["baseline"] = evaluator.final_eval(
                        result.baseline["config"], data=data, seed=spec.seed,
                        device=spec.device,
                    )
        if info is not None:
            summary = dict(info.summary or {})
            summary["final"] = {"best_trial": result.best_trial, "scores": final}
            st.update_experiment(info.id, summary=_jsonable(summary))
    outcome = ExperimentOutcome(spec, result, final, time.perf_counter() - t0,
                                Path(out_dir) if out_dir is not None else None)
    if outcome.out_dir is not None:
        outcome.out_dir.mkdir(parents=True, exist_ok=True)
        save_outcome(outcome, outcome.out_dir)
    return outcome


def spec_from_store(name: str, store: str | None = None) -> tuple[ExperimentSpec, dict]:
    """The experiment file's spec as stored by ``run`` or ``nightly``, with its overrides
    applied, to continue it without the file.

    Raises:
        NotFoundError: no such experiment, or one created from Python (its objective is a
            function the store cannot hold: continue it by calling ``tune`` again).
    """
    from bo_hpo.errors import NotFoundError
    from bo_hpo.experiment import experiment_from_dict
    from bo_hpo.store import open_store

    st = open_store(store, create=False)
    info = st.get_experiment(name)
    if info is None:
        known = [e["name"] for e in st.list_experiments()]
        raise NotFoundError(f"no experiment {name!r} in {st.display_url}; it holds {known}")
    stored = info.spec.get("file")
    if info.source != "file" or not stored:
        raise NotFoundError(
            f"experiment {name!r} was created from Python; continue it by calling "
            f"bo_hpo.tune(..., store=..., name={name!r}) with the same objective"
        )
    path = Path(stored["path"]) if stored.get("path") else None
    raw = stored["raw"]
    spec = experiment_from_dict(raw, variant=None, path=path)
    spec = dataclasses.replace(spec, variant=stored.get("variant"))
    overrides = stored.get("overrides") or {}
    return with_overrides(spec, **overrides), overrides


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
