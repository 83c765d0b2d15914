"""``tune``: ask, evaluate, tell, under a budget.

Three questions stay apart: what to try next (:class:`~bo_hpo.propose.AxProposer`), where a
trial runs (an :class:`~bo_hpo.executors.Executor`), and when to stop
(:class:`~bo_hpo.budget.BudgetTracker`). The loop knows nothing of torch or training.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bo_hpo.budget import Budget, BudgetTracker
from bo_hpo.errors import ConfigError, SearchSpaceError, TrialFailed, TuningError
from bo_hpo.evaluation import Evaluation
from bo_hpo.executors import Executor, Outcome, SequentialExecutor
from bo_hpo.result import Prediction, TrialRecord, TuningResult, as_plain, is_finite_number
from bo_hpo.space import SearchSpace

logger = logging.getLogger(__name__)

#: Failure reasons that say something about the configuration itself; the model is told
#: the worst value seen so far for them, so it learns to avoid the region.
PENALISED_REASONS = frozenset({"diverged", "non_finite", "out_of_memory", "timeout", "shape"})

Objective = Callable[[dict[str, Any]], Any]


@dataclass
class Progress:
    """Handed to ``callback`` after each finished trial."""

    record: TrialRecord
    n_completed: int
    n_failed: int
    n_invalid: int
    budget_spent: dict[str, float]
    best_observed: float | None
    _loop: _Loop

    def recommend(self) -> tuple[dict[str, Any], float | None, float | None]:
        """The model's current recommendation: (config, predicted mean, predicted SEM)."""
        best, prediction, _source = self._loop.recommendation()
        return (best.config, prediction.mean if prediction else None,
                prediction.sem if prediction else None)


def tune(
    objective: Objective,
    space: Mapping[str, Any] | SearchSpace,
    *,
    budget: Budget | int | None = None,
    constraints: Iterable[str] = (),
    is_valid: Callable[[dict[str, Any]], bool] | None = None,
    baseline: Mapping[str, Any] | None = None,
    minimize: bool = True,
    metric: str | None = None,
    method: str = "bo",
    seed: int | None = None,
    n_initial: int | None = None,
    trial_timeout: float | None = None,
    proposal_timeout: float | None = 30.0,
    max_failures: int | None = None,
    max_consecutive_invalid: int = 20,
    executor: Executor | None = None,
    callback: Callable[[Progress], None] | None = None,
) -> TuningResult:
    """Tune ``objective`` over ``space`` within ``budget``.

    Args:
        objective: called with a config dict holding only the active parameters. Returns a
            float, ``(mean, sem)``, an :class:`~bo_hpo.Evaluation`, or a mapping of metric
            names to either (then ``metric`` names the one to optimise). Raising
            :class:`~bo_hpo.TrialFailed` fails the trial with its reason; any other
            exception fails it with the exception's type and message.
        space: a spec dict in tuple form or a :class:`~bo_hpo.SearchSpace`.
        budget: a :class:`~bo_hpo.Budget`, or an int meaning ``max_trials``. ``None``: 20
            trials.
        constraints: extra constraint strings (linear or divisibility).
        is_valid: a black-box predicate; invalid proposals are recorded, never evaluated,
            and do not count against ``max_trials``.
        baseline: a config evaluated first (trial 0); the result reports the improvement.
        minimize: lower is better (validation error, loss). ``False`` to maximise.
        metric: which key to optimise when the objective returns a mapping.
        method: ``"bo"`` (Sobol, then a GP) or ``"random"``.
        seed: makes the sequence of proposals reproducible for a deterministic objective.
        n_initial: quasi-random trials before the GP (the baseline counts); ``None``: Ax's
            default (5).
        trial_timeout: seconds one evaluation may take; past it the trial fails with
            reason ``timeout``. ``None``: no limit.
        proposal_timeout: seconds one proposal may take before falling back to a random
            configuration (logged and recorded on the trial). ``None``: no cap.
        max_failures: stop with :class:`~bo_hpo.TuningError` once more trials than this
            have failed. ``None``: ``max(10, max_trials // 2)``.
        max_consecutive_invalid: stop with :class:`~bo_hpo.TuningError` after this many
            invalid proposals in a row.
        executor: where trials run; ``None``: in this process, one at a time.
        callback: called with a :class:`Progress` after every finished trial.

    Returns:
        A :class:`~bo_hpo.TuningResult`.

    Raises:
        SearchSpaceError: the space, constraints or baseline are malformed.
        ConfigError: an argument is out of range.
        TuningError: too many failures or invalid proposals; ``err.result`` holds the
            trials run so far.
    """
    if not callable(objective):
        raise ConfigError(f"objective must be callable, got {objective!r}")
    if method not in ("bo", "random"):
        raise ConfigError(f"method must be 'bo' or 'random', got method={method!r}")
    if budget is None:
        budget = Budget(max_trials=20)
    elif isinstance(budget, int) and not isinstance(budget, bool):
        budget = Budget(max_trials=budget)
    elif not isinstance(budget, Budget):
        raise ConfigError(f"budget must be a Budget or an int (max_trials), got {budget!r}")
    for name, value in (("trial_timeout", trial_timeout), ("proposal_timeout", proposal_timeout)):
        if value is not None and (not is_finite_number(value) or value <= 0):
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    if max_consecutive_invalid < 1:
        raise ConfigError(
            f"max_consecutive_invalid must be >= 1, got {max_consecutive_invalid!r}"
        )
    if max_failures is None:
        max_failures = max(10, (budget.max_trials or 0) // 2)
    search_space = SearchSpace(space, constraints=constraints)
    checked_baseline = None
    if baseline is not None:
        checked_baseline = search_space.check_config(baseline, what="baseline")
        if is_valid is not None and not is_valid(dict(checked_baseline)):
            raise ConfigError(f"baseline: is_valid rejects it: {checked_baseline!r}")

    from bo_hpo.propose import AxProposer

    proposer = AxProposer(
        search_space, minimize=minimize, method=method, seed=seed, n_initial=n_initial,
        proposal_timeout=proposal_timeout, is_valid=is_valid,
    )
    loop = _Loop(
        objective=objective, space=search_space, proposer=proposer,
        tracker=BudgetTracker(budget, minimize), executor=executor or SequentialExecutor(),
        is_valid=is_valid, metric=metric, trial_timeout=trial_timeout,
        max_failures=max_failures, max_consecutive_invalid=max_consecutive_invalid,
        callback=callback, minimize=minimize,
    )
    return loop.run(checked_baseline)


class _Loop:
    """The state of one ``tune`` call."""

    def __init__(self, *, objective: Objective, space: SearchSpace, proposer: Any,
                 tracker: BudgetTracker, executor: Executor,
                 is_valid: Callable[[dict[str, Any]], bool] | None, metric: str | None,
                 trial_timeout: float | None, max_failures: int,
                 max_consecutive_invalid: int, callback: Callable[[Progress], None] | None,
                 minimize: bool) -> None:
        self.objective = objective
        self.space = space
        self.proposer = proposer
        self.tracker = tracker
        self.executor = executor
        self.is_valid = is_valid
        self.metric = metric
        self.trial_timeout = trial_timeout
        self.max_failures = max_failures
        self.max_consecutive_invalid = max_consecutive_invalid
        self.callback = callback
        self.minimize = minimize
        self.records: list[TrialRecord] = []
        self._ax_index: dict[int, int] = {}  # trial -> Ax trial index
        self._in_flight: dict[int, TrialRecord] = {}
        self._consecutive_invalid = 0

    # ------------------------------------------------------------------ main loop
    def run(self, baseline: dict[str, Any] | None) -> TuningResult:
        if baseline is not None:
            proposal = self.proposer.attach(baseline)
            self._start(proposal, is_baseline=True)
            self._collect()
        while True:
            stop = self.tracker.stop_reason(in_flight=self.executor.in_flight())
            while stop is None and self.executor.in_flight() < self.executor.capacity:
                self._propose_and_start()
                stop = self.tracker.stop_reason(in_flight=self.executor.in_flight())
            if self.executor.in_flight() == 0:
                break
            self._collect()
        self.executor.shutdown()
        return self._result(stop or "done")

    def _propose_and_start(self) -> None:
        proposal = self.proposer.propose()
        config = as_plain(proposal.config)
        if self.is_valid is not None:
            try:
                valid = bool(self.is_valid(dict(config)))
            except Exception as err:
                raise self._error(
                    f"is_valid raised {type(err).__name__}: {err} for config {config!r}"
                ) from err
            if not valid:
                self._consecutive_invalid += 1
                record = TrialRecord(
                    trial=len(self.records), config=config, status="invalid",
                    generator=proposal.generator, reason="invalid",
                    detail="rejected by is_valid", proposal_seconds=proposal.seconds,
                    fallback=proposal.fallback,
                )
                self.records.append(record)
                self.proposer.reject(proposal.ax_index)
                logger.info("trial %d invalid (not evaluated): %s", record.trial, config)
                if self.callback is not None:
                    self.callback(self._progress(record))
                if self._consecutive_invalid >= self.max_consecutive_invalid:
                    raise self._error(
                        f"{self._consecutive_invalid} proposals in a row were rejected by "
                        f"is_valid; the valid region may be tiny. Encode the rule as an "
                        f"explicit constraint (linear or divisibility) or narrow the space. "
                        f"Last rejected: {config!r}"
                    )
                return
        self._consecutive_invalid = 0
        self._start(proposal, is_baseline=False, config=config)

    def _start(self, proposal: Any, is_baseline: bool, config: dict | None = None) -> None:
        record = TrialRecord(
            trial=len(self.records), config=as_plain(config or proposal.config),
            status="completed", generator=proposal.generator, is_baseline=is_baseline,
            proposal_seconds=proposal.seconds, fallback=proposal.fallback,
        )
        self.records.append(record)
        self._ax_index[record.trial] = proposal.ax_index
        self._in_flight[record.trial] = record
        logger.info("trial %d start (%s): %s", record.trial, record.generator, record.config)
        self.executor.submit(record.trial, self.objective, record.config, self.trial_timeout)

    def _collect(self) -> None:
        for outcome in self.executor.wait():
            record = self._in_flight.pop(outcome.trial)
            self._finish(record, outcome)

    def _finish(self, record: TrialRecord, outcome: Outcome) -> None:
        record.eval_seconds = outcome.seconds
        record.started_at = outcome.started_at
        ax_index = self._ax_index[record.trial]
        try:
            evaluation = self._normalise(outcome)
        except TrialFailed as failure:
            record.status = "failed"
            record.reason, record.detail = failure.reason, failure.detail
            self.proposer.fail(ax_index, f"{failure.reason}: {failure.detail}",
                               penalise=failure.reason in PENALISED_REASONS)
            self.tracker.record(outcome.seconds, outcome.devices)
            logger.warning("trial %d failed (%s): %s", record.trial, record.reason,
                           record.detail)
        else:
            record.mean, record.sem = evaluation.mean, evaluation.sem
            record.metrics = dict(evaluation.metrics)
            record.metadata = dict(evaluation.metadata)
            self.proposer.complete(ax_index, evaluation.mean, evaluation.sem)
            self.tracker.record(outcome.seconds, outcome.devices, evaluation.mean)
            logger.info("trial %d done: %.6g%s (%.2f s)", record.trial, evaluation.mean,
                        f" ± {evaluation.sem:.3g}" if evaluation.sem is not None else "",
                        outcome.seconds)
        if self.callback is not None:
            self.callback(self._progress(record))
        failed = [r for r in self.records if r.status == "failed"]
        if len(failed) > self.max_failures:
            listing = "; ".join(f"trial {r.trial}: {r.reason}: {r.detail}" for r in failed)
            raise self._error(f"{len(failed)} trials failed (max_failures={self.max_failures}): "
                              f"{listing}")

    def _normalise(self, outcome: Outcome) -> Evaluation:
        """The objective's return value as an Evaluation, or TrialFailed with a reason."""
        if outcome.timed_out:
            raise TrialFailed("timeout", f"ran past trial_timeout={self.trial_timeout:g} s")
        if outcome.error is not None:
            err = outcome.error
            if isinstance(err, TrialFailed):
                raise err
            if isinstance(err, (ConfigError, SearchSpaceError)):
                # The evaluator rejects the config's form (a key or type it cannot take):
                # every trial would fail the same way, so stop now instead of spending the
                # budget. The error names the key.
                raise err
            raise TrialFailed("exception", f"{type(err).__name__}: {err}")
        value = outcome.value
        metrics: dict[str, tuple[float, float | None]] = {}
        if isinstance(value, Mapping):
            if self.metric is None and len(value) == 1:
                (name, value), = value.items()
            elif self.metric is None or self.metric not in value:
                raise TrialFailed(
                    "bad_result",
                    f"objective returned metrics {sorted(value)}; pass metric= to name the "
                    f"one to optimise" + (f" (metric={self.metric!r} is missing)"
                                          if self.metric else ""),
                )
            else:
                metrics = {k: _mean_sem(v) for k, v in value.items() if k != self.metric}
                value = value[self.metric]
        if isinstance(value, Evaluation):
            evaluation = value
            if metrics:
                evaluation = Evaluation(value.mean, value.sem, {**value.metrics, **metrics},
                                        value.metadata)
        else:
            try:
                mean, sem = _mean_sem(value)
            except (TypeError, ValueError) as err:
                raise TrialFailed("bad_result", str(err)) from None
            evaluation = Evaluation(mean, sem, metrics)
        if not math.isfinite(evaluation.mean):
            raise TrialFailed("non_finite", f"objective returned {evaluation.mean!r}")
        if evaluation.sem is not None and (not math.isfinite(evaluation.sem)
                                           or evaluation.sem < 0):
            raise TrialFailed("bad_result", f"sem must be finite and >= 0, got {evaluation.sem!r}")
        return evaluation

    # ------------------------------------------------------------------ results
    def _progress(self, record: TrialRecord) -> Progress:
        completed = [r for r in self.records if r.status == "completed" and r.mean is not None]
        best = None
        if completed:
            best = (min if self.minimize else max)(r.mean for r in completed)
        return Progress(
            record=record,
            n_completed=len(completed),
            n_failed=sum(r.status == "failed" for r in self.records),
            n_invalid=sum(r.status == "invalid" for r in self.records),
            budget_spent=self.tracker.spent(),
            best_observed=best,
            _loop=self,
        )

    def _completed(self) -> list[TrialRecord]:
        return [r for r in self.records if r.status == "completed" and r.trial
                not in self._in_flight and r.mean is not None]

    def recommendation(self) -> tuple[TrialRecord, Prediction | None, str]:
        best, predictions = self._predicted_best()
        prediction = predictions.get(best.trial) if predictions else None
        return best, prediction, "model" if prediction is not None else "observed"

    def _predicted_best(self) -> tuple[TrialRecord, dict[int, Prediction] | None]:
        """The completed trial with the best predicted mean, and every completed trial's
        prediction by trial number (``None`` when no model could be fit)."""
        completed = self._completed()
        if not completed:
            raise self._error("no trial completed, so there is nothing to recommend")
        sign = 1.0 if self.minimize else -1.0
        by_ax = self.proposer.predict([self._ax_index[r.trial] for r in completed])
        if not by_ax:
            return min(completed, key=lambda r: sign * r.mean), None
        predictions = {r.trial: by_ax[self._ax_index[r.trial]] for r in completed}
        return min(completed, key=lambda r: sign * predictions[r.trial].mean), predictions

    def _result(self, stop_reason: str) -> TuningResult:
        completed = self._completed()
        best, predictions = self._predicted_best()
        prediction = predictions.get(best.trial) if predictions else None
        source = "model" if prediction is not None else "observed"
        sign = 1.0 if self.minimize else -1.0
        observed = min(completed, key=lambda r: sign * r.mean)
        baseline = next((r for r in completed if r.is_baseline), None)
        baseline_info = improvement = None
        notes = []
        if baseline is not None:
            baseline_prediction = predictions.get(baseline.trial) if predictions else None
            baseline_info = {"config": baseline.config, "mean": baseline.mean,
                             "sem": baseline.sem, "trial": baseline.trial,
                             "predicted": baseline_prediction}
            if prediction is not None and baseline_prediction is not None:
                improvement = sign * (baseline_prediction.mean - prediction.mean)
            else:
                improvement = sign * (baseline.mean - (best.mean or 0.0))
            if best.trial == baseline.trial:
                improvement = 0.0  # the baseline itself is recommended
                notes.append("no evaluated configuration is predicted to beat the baseline")
        if source == "observed":
            notes.append("no model could be fit; the recommendation is the best observed trial")
        return TuningResult(
            best_config=dict(best.config),
            best_predicted=prediction,
            best_trial=best.trial,
            best_observed={"config": observed.config, "mean": observed.mean,
                           "sem": observed.sem, "trial": observed.trial},
            baseline=baseline_info,
            improvement=improvement,
            records=self.records,
            param_names=list(self.space.params),
            budget_spent=self.tracker.spent(),
            stop_reason=stop_reason,
            minimize=self.minimize,
            recommendation_source=source,
            notes=notes,
        )

    def _error(self, message: str) -> TuningError:
        err = TuningError(message)
        try:
            err.result = self._result("error: " + message) if self._completed() else None
        except Exception:  # the partial result is a courtesy; the error itself matters
            err.result = None
        return err


def _mean_sem(value: Any) -> tuple[float, float | None]:
    if isinstance(value, Evaluation):
        return value.mean, value.sem
    value = _scalar(value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        mean, sem = (_scalar(v) for v in value)
        if sem is not None and not _is_number(sem):
            raise TypeError(f"sem must be a number or None, got {sem!r}")
        if not _is_number(mean):
            raise TypeError(f"mean must be a number, got {mean!r}")
        return float(mean), None if sem is None else float(sem)
    if _is_number(value):
        return float(value), None
    raise TypeError(
        f"objective must return a number, (mean, sem), an Evaluation or a mapping of "
        f"those; got {value!r}"
    )


def _scalar(value: Any) -> Any:
    """A one-element numpy array or torch tensor as a Python number; anything else as is."""
    if isinstance(value, (str, bytes)) or not callable(getattr(value, "item", None)):
        return value
    try:
        return value.item()  # numpy and torch raise for more than one element
    except (TypeError, ValueError, RuntimeError):
        return value


def _is_number(value: Any) -> bool:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            value = value.item()
    except ImportError:  # pragma: no cover
        pass
    return isinstance(value, (int, float)) and not isinstance(value, bool)
