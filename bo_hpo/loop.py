"""``tune``: ask, evaluate, tell, under a budget.

Three questions stay apart: what to try next (:class:`~bo_hpo.propose.AxProposer`), where a
trial runs (an :class:`~bo_hpo.executors.Executor`), and when to stop
(:class:`~bo_hpo.budget.BudgetTracker`). The loop knows nothing of torch or training.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bo_hpo.budget import Budget, BudgetTracker
from bo_hpo.errors import ConfigError, SearchSpaceError, TrialFailed, TuningError
from bo_hpo.evaluation import Evaluation
from bo_hpo.executors import Executor, Outcome, SequentialExecutor, WorkerLost
from bo_hpo.result import TuningResult
from bo_hpo.space import SearchSpace
from bo_hpo.trial import (
    PENALISED_REASONS,
    Prediction,
    TrialRecord,
    as_plain,
    is_finite_number,
)

logger = logging.getLogger(__name__)


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
    executor: Executor | str | None = None,
    callback: Callable[[Progress], None] | None = None,
    store: Any = None,
    name: str | None = None,
    max_retries: int = 1,
    parallelism: int = 1,
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
            trials. With a ``store``, the budget is the experiment's whole budget: a
            continued experiment runs only what is left of it.
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
            reason ``timeout``. ``None``: no limit. In this process the objective cannot
            be stopped: a timed-out trial is abandoned and keeps running in a background
            thread until it returns (logged as a warning).
        proposal_timeout: seconds one proposal may take before falling back to a random
            configuration (logged and recorded on the trial). ``None``: no cap.
        max_failures: stop with :class:`~bo_hpo.TuningError` once more trials than this
            have failed. ``None``: ``max(10, max_trials // 2)``.
        max_consecutive_invalid: stop with :class:`~bo_hpo.TuningError` after this many
            invalid proposals in a row.
        executor: where trials run: ``None`` (in this process: one at a time, or
            ``parallelism`` threads), ``"process"`` (``parallelism`` spawned worker
            processes; the objective must be importable), ``"ray"`` (Ray tasks on a local
            instance; ``pip install 'bo-hpo[ray]'``), or an executor object such as
            :class:`~bo_hpo.executors.RayExecutor` for a cluster.
        callback: called with a :class:`Progress` after every finished trial.
        store: a store URL (``"sqlite:///tuning.db"``, ``"postgresql+psycopg://..."``) or
            an open store. Every trial is written as it starts and as it ends; the
            experiment ``name`` is created, or continued when it exists (same space, or a
            compatible change), with what is left of the budget.
        name: the experiment's name in the store (required with ``store``).
        max_retries: how many times the config of a trial whose worker died
            (``worker_lost``), or that a crash or kill interrupted (with a store, when the
            experiment continues), is run again.
        parallelism: trials in flight at once. Asynchronous: running trials are pending
            points for the model, and the next trial is proposed as soon as one finishes
            (prepared in the background while the workers train).

    Returns:
        A :class:`~bo_hpo.TuningResult`.

    Raises:
        SearchSpaceError: the space, constraints or baseline are malformed.
        ConfigError: an argument is out of range.
        TuningError: too many failures or invalid proposals; ``err.result`` holds the
            trials run so far.
        StoreError: the store cannot be opened or written.
        LockedError: another live process is running this stored experiment.
        SpaceChangedError: the stored experiment's space changed incompatibly.
    """
    return _tune(**locals())


@dataclass
class Session:
    """How a stored run relates to its experiment (set by the command line's nightly and
    run commands; ``tune(store=...)`` uses the defaults)."""

    budget_scope: str = "experiment"  # "experiment": budget for all sessions; "session"
    nightly: bool = False
    source: str = "python"
    spec_extra: Mapping[str, Any] | None = None
    device: str | None = None


def _tune(*, objective: Objective, space: Mapping[str, Any] | SearchSpace,
          budget: Budget | int | None, constraints: Iterable[str],
          is_valid: Callable[[dict[str, Any]], bool] | None,
          baseline: Mapping[str, Any] | None, minimize: bool, metric: str | None,
          method: str, seed: int | None, n_initial: int | None,
          trial_timeout: float | None, proposal_timeout: float | None,
          max_failures: int | None, max_consecutive_invalid: int,
          executor: Executor | str | None, callback: Callable[[Progress], None] | None,
          store: Any, name: str | None, max_retries: int, parallelism: int = 1,
          session: Session | None = None) -> TuningResult:
    if not callable(objective):
        raise ConfigError(f"objective must be callable, got {objective!r}")
    seed, n_initial = check_common(minimize=minimize, seed=seed, n_initial=n_initial)
    if callback is not None and not callable(callback):
        raise ConfigError(f"callback must be a function of the progress, got {callback!r}")
    max_failures = _whole("max_failures", max_failures, low=0)
    if is_valid is not None and not callable(is_valid):
        raise ConfigError(f"is_valid must be a function of the config, got {is_valid!r}")
    if metric is not None and not isinstance(metric, str):
        raise ConfigError(f"metric must be a string naming a key, got metric={metric!r}")
    if method not in ("bo", "random"):
        raise ConfigError(f"method must be 'bo' or 'random', got method={method!r}")
    if budget is None:
        budget = Budget(max_trials=20)
    elif isinstance(budget, numbers.Integral) and not isinstance(budget, bool):
        budget = Budget(max_trials=int(budget))
    elif not isinstance(budget, Budget):
        raise ConfigError(f"budget must be a Budget or an int (max_trials), got {budget!r}")
    for key, value in (("trial_timeout", trial_timeout), ("proposal_timeout", proposal_timeout)):
        if value is not None and (not is_finite_number(value) or value <= 0):
            raise ConfigError(f"{key} must be a positive number of seconds, got {value!r}")
    max_consecutive_invalid = _whole("max_consecutive_invalid", max_consecutive_invalid, low=1,
                                     none=False)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
    if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1:
        raise ConfigError(f"parallelism must be a positive integer, got {parallelism!r}")
    if (store is None) != (name is None):
        raise ConfigError(
            "store= and name= go together: a stored experiment needs a name, and a name "
            f"needs a store (got store={'set' if store is not None else None}, name={name!r})"
        )
    if max_failures is None:
        max_failures = max(10, (budget.max_trials or 0) // 2)
    search_space = SearchSpace(space, constraints=constraints)
    checked_baseline = None
    if baseline is not None:
        checked_baseline = search_space.check_config(baseline, what="baseline")
        dropped = [name for name in baseline if name not in checked_baseline]
        if dropped:  # a conditional parameter whose condition the baseline does not meet
            logger.warning("baseline: %s not used: inactive for this baseline (its condition "
                           "does not hold)", ", ".join(f"{n}={baseline[n]!r}" for n in dropped))
        if is_valid is not None and not _valid(is_valid, checked_baseline):
            raise ConfigError(f"baseline: is_valid rejects it: {checked_baseline!r}")

    from bo_hpo.propose import AxProposer

    proposer = AxProposer(
        search_space, minimize=minimize, method=method, seed=seed, n_initial=n_initial,
        proposal_timeout=proposal_timeout, is_valid=is_valid,
        parallel=getattr(executor, "capacity", parallelism) > 1,
    )
    executor = _make_executor(executor, parallelism)  # last: a Ray executor starts Ray
    loop = _Loop(
        objective=objective, space=search_space, proposer=proposer, max_retries=max_retries,
        tracker=BudgetTracker(budget, minimize), executor=executor,
        is_valid=is_valid, metric=metric, trial_timeout=trial_timeout,
        max_failures=max_failures, max_consecutive_invalid=max_consecutive_invalid,
        callback=callback, minimize=minimize,
    )
    loop.info = {
        "seed": seed, "method": method, "minimize": minimize, "metric": metric,
        "budget": {k: v for k, v in vars(budget).items() if v is not None},
        "baseline": checked_baseline, "constraints": [c.text for c in search_space.constraints],
        "versions": _versions(),
    }
    if store is None:
        return loop.run(checked_baseline)

    from bo_hpo.durable import StoredExperiment

    spec = {
        "space": search_space.to_dict(), "baseline": checked_baseline,
        "budget": {k: v for k, v in vars(budget).items() if v is not None},
        "minimize": minimize, "metric": metric, "method": method, "seed": seed,
        "n_initial": n_initial, "trial_timeout": trial_timeout, "max_failures": max_failures,
        "max_consecutive_invalid": max_consecutive_invalid, "max_retries": max_retries,
    }
    session = session or Session()
    if session.spec_extra:
        spec.update(session.spec_extra)
    try:
        stored = StoredExperiment.open(
            store, name, space=search_space, spec=spec, minimize=minimize, seed=seed,
            baseline=checked_baseline, session=session,
        )
    except BaseException:
        executor.shutdown()  # locked, or the space changed: nothing ran
        raise
    if session.budget_scope == "session":  # its limits are this session's, not the whole's
        loop.tracker.scope = "this night's " if session.nightly else "this session's "
    with stored:
        loop.attach_store(stored, max_retries=max_retries,
                          restore_budget=session.budget_scope == "experiment")
        return loop.run(checked_baseline if not loop.records else None)


def _whole(name: str, value: Any, *, low: int, none: bool = True) -> Any:
    """``value`` as an int when it is a whole number >= ``low`` (numpy's included)."""
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}{' or None' if none else ''}, "
                          f"got {name}={value!r}")
    return int(value)


def check_common(*, minimize: Any, seed: Any, n_initial: Any) -> tuple[int | None, int | None]:
    """The arguments ``tune`` and ``Experiment`` share, checked; returns seed, n_initial."""
    if not isinstance(minimize, bool):
        raise ConfigError(f"minimize must be True or False, got minimize={minimize!r}")
    seed = _whole("seed", seed, low=0)
    if seed is not None and seed >= 2**63:
        raise ConfigError(f"seed must be below 2**63, got seed={seed!r}")
    return seed, _whole("n_initial", n_initial, low=1)


class _Loop:
    """The state of one ``tune`` call."""

    def __init__(self, *, objective: Objective, space: SearchSpace, proposer: Any,
                 tracker: BudgetTracker, executor: Executor,
                 is_valid: Callable[[dict[str, Any]], bool] | None, metric: str | None,
                 trial_timeout: float | None, max_failures: int,
                 max_consecutive_invalid: int, callback: Callable[[Progress], None] | None,
                 minimize: bool, max_retries: int = 1) -> None:
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
        self._retry: list[TrialRecord] = []  # interrupted trials whose config runs again
        self.stored: Any = None  # a bo_hpo.durable.StoredExperiment, when there is a store
        self.session_trials = 0  # trials this call evaluated
        self.info: dict[str, Any] = {}  # shown by the report (see TuningResult.info)
        self.max_retries = max_retries
        self._prepared: Any = None  # a proposal computed in the background (parallel runs)
        self.blocking_proposal_seconds = 0.0  # proposal time the loop waited for

    # ------------------------------------------------------------------ the store
    def attach_store(self, stored: Any, *, max_retries: int, restore_budget: bool) -> None:
        """Continue from the stored records: rebuild the proposer, the budget, the
        consecutive-invalid count, and queue interrupted trials for one more run."""
        self.stored = stored
        records = stored.records
        if not records:
            return
        self.records = list(records)
        self._ax_index = self.proposer.replay(stored.carried(records))
        if restore_budget:
            self.tracker.restore(self.records, seconds=stored.info.seconds_spent)
        for r in reversed(self.records):
            if r.status != "invalid":
                break
            self._consecutive_invalid += 1
        retried = {r.retry_of for r in self.records if r.retry_of is not None}
        self._retry = [r for r in self.records if r.status == "interrupted"
                       and r.trial not in retried and self._attempts(r) <= max_retries]
        if self._retry:
            logger.info("re-running interrupted trial(s) %s first",
                        [r.trial for r in self._retry])

    def _attempts(self, record: TrialRecord) -> int:
        """How many times this config has run: the record and the trials it retries."""
        by_number = {r.trial: r for r in self.records}
        n = 1
        while record.retry_of is not None and record.retry_of in by_number:
            record, n = by_number[record.retry_of], n + 1
        return n

    def _next_number(self) -> int:
        return max((r.trial for r in self.records), default=-1) + 1

    # ------------------------------------------------------------------ main loop
    def run(self, baseline: dict[str, Any] | None) -> TuningResult:
        stop: str | None = None
        try:
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
                if (stop is None and self.executor.capacity > 1 and not self._retry
                        and self._prepared is None):
                    self._prepare_in_background()  # the GP works while the workers train
                self._collect()
        except BaseException as err:
            # a signal's own words ("terminated by SIGTERM"), else the error's type
            why = (str(err) if isinstance(err, KeyboardInterrupt) and str(err)
                   else f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
            if self.stored is not None:
                self.stored.interrupt(list(self._in_flight.values()), why)
            if isinstance(err, (ConfigError, SearchSpaceError)) and not hasattr(err, "result"):
                # a setup error found mid-run (the objective's keys, say): the error says
                # what to fix, and the trials come with it, as with TuningError
                for r in self._in_flight.values():
                    if r.status == "running":
                        r.status, r.reason, r.detail = "interrupted", "interrupted", why
                err.result = self._error(str(err)).result
            raise
        finally:
            self._drop_prepared()
            self.executor.shutdown()
        self.info["proposal_blocking_seconds"] = round(self.blocking_proposal_seconds, 3)
        self.info["session_trials"] = self.session_trials
        return self._result(stop or "done")

    # ------------------------------------------------------------------ proposals ahead
    def _prepare_in_background(self) -> None:
        """Start computing the next proposal in a thread. The main thread only waits for
        the executor meanwhile and joins this thread before it tells Ax anything, so Ax is
        never used from two threads at once; the trials still running are pending points
        for the proposal, so it does not duplicate them."""
        import threading

        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["proposal"] = self.proposer.propose()
            except BaseException as err:  # noqa: BLE001 - re-raised in the main thread
                box["error"] = err

        thread = threading.Thread(target=target, name="bo_hpo-propose-ahead", daemon=True)
        thread.start()
        self._prepared = (thread, box)

    def _join_prepared(self) -> None:
        if not isinstance(self._prepared, tuple):  # none, or already joined
            return
        thread, box = self._prepared
        t0 = time.perf_counter()
        thread.join()
        self.blocking_proposal_seconds += time.perf_counter() - t0
        if "error" in box:
            self._prepared = None
            raise box["error"]
        self._prepared = box["proposal"]

    def _take_proposal(self) -> Any:
        self._join_prepared()
        if self._prepared is not None:
            proposal, self._prepared = self._prepared, None
            return proposal
        t0 = time.perf_counter()
        proposal = self.proposer.propose()
        self.blocking_proposal_seconds += time.perf_counter() - t0
        return proposal

    def _drop_prepared(self) -> None:
        """A proposal prepared but never run (the budget ran out) is abandoned in Ax."""
        try:
            self._join_prepared()
        except Exception:  # noqa: BLE001 - it will not be used anyway
            self._prepared = None
        if self._prepared is not None:
            self.proposer.abandon(self._prepared.ax_index)
            self._prepared = None

    def _propose_and_start(self) -> None:
        if self._retry:
            original = self._retry.pop(0)
            proposal = self.proposer.attach(original.config, generator="retry")
            self._start(proposal, is_baseline=original.is_baseline, retry_of=original.trial)
            return
        proposal = self._take_proposal()
        config = as_plain(proposal.config)
        if self.is_valid is not None:
            try:
                valid = _valid(self.is_valid, config)
            except ConfigError:
                raise  # is_valid itself is wrong (it answered neither True nor False)
            except Exception as err:
                raise self._error(
                    f"is_valid raised {type(err).__name__}: {err} for config {config!r}"
                ) from err
            if not valid:
                self._consecutive_invalid += 1
                record = TrialRecord(
                    trial=self._next_number(), config=config, status="invalid",
                    generator=proposal.generator, reason="invalid",
                    detail="rejected by is_valid", proposal_seconds=proposal.seconds,
                    fallback=proposal.fallback,
                )
                self.records.append(record)
                self._ax_index[record.trial] = proposal.ax_index
                self.proposer.reject(proposal.ax_index)
                if self.stored is not None:
                    self.stored.add(record)
                logger.info("trial %d invalid (not evaluated): %s", record.trial, config)
                if self.callback is not None:
                    self.callback(self._progress(record))
                if self._consecutive_invalid >= self.max_consecutive_invalid:
                    raise self._error(
                        f"{self._consecutive_invalid} proposals in a row were rejected as "
                        f"invalid (by is_valid, or an experiment file's invalid_if rules); "
                        f"the valid region may be tiny. Encode the rule as an "
                        f"explicit constraint (linear or divisibility) or narrow the space. "
                        f"Last rejected: {config!r}"
                    )
                return
        self._consecutive_invalid = 0
        self._start(proposal, is_baseline=False, config=config)

    def _start(self, proposal: Any, is_baseline: bool, config: dict | None = None,
               retry_of: int | None = None) -> None:
        import time

        record = TrialRecord(
            trial=self._next_number(), config=as_plain(config or proposal.config),
            status="running", generator=proposal.generator, is_baseline=is_baseline,
            proposal_seconds=proposal.seconds, fallback=proposal.fallback,
            started_at=time.time(), retry_of=retry_of,
        )
        self.records.append(record)
        self._ax_index[record.trial] = proposal.ax_index
        self._in_flight[record.trial] = record
        if self.stored is not None:
            self.stored.add(record)  # written as running before the evaluation starts
        logger.info("trial %d start (%s): %s", record.trial, record.generator, record.config)
        self.executor.submit(record.trial, self._reporting(record.trial), record.config,
                             self.trial_timeout)

    def _reporting(self, trial: int) -> Objective:
        """The objective, with ``bo_hpo.report`` inside it going to the store (the trial's
        intermediate values) and to whoever listened where ``tune`` was called."""
        from bo_hpo import progress

        outer = progress.current()
        stored, objective = self.stored, self.objective
        if (stored is None and outer is None) or not getattr(self.executor, "in_process",
                                                              False):
            return objective  # other processes: reports stay there (not sent back yet)

        def report(step: int, value: float, total: int | None = None) -> None:
            if stored is not None:
                stored.add_step(trial, step, value)
            if outer is not None:
                outer(step, value, total)

        def run(config: dict[str, Any]) -> Any:
            with progress.reporting(report):
                return objective(config)

        return run

    def _collect(self) -> None:
        outcomes = self.executor.wait()
        self._join_prepared()
        for outcome in outcomes:
            self._finish(self._in_flight[outcome.trial], outcome)

    def _finish(self, record: TrialRecord, outcome: Outcome) -> None:
        record.eval_seconds = outcome.seconds
        record.started_at = outcome.started_at
        record.ended_at = outcome.started_at + outcome.seconds
        record.worker = outcome.worker or record.worker
        ax_index = self._ax_index[record.trial]
        try:
            evaluation = self._normalise(outcome)
        except TrialFailed as failure:
            record.status = "failed"
            record.mean = record.sem = None
            record.reason, record.detail = failure.reason, failure.detail
            self.proposer.fail(ax_index, f"{failure.reason}: {failure.detail}",
                               penalise=failure.reason in PENALISED_REASONS)
            self.tracker.record(outcome.seconds, outcome.devices)
            logger.warning("trial %d failed (%s): %s", record.trial, record.reason,
                           record.detail)
            if failure.reason == "worker_lost" and self._attempts(record) <= self.max_retries:
                self._retry.append(record)  # its config runs again on another worker
        else:
            record.status = "completed"
            record.mean, record.sem = evaluation.mean, evaluation.sem
            record.metrics = dict(evaluation.metrics)
            record.metadata = dict(evaluation.metadata)
            self.proposer.complete(ax_index, evaluation.mean, evaluation.sem)
            self.tracker.record(outcome.seconds, outcome.devices, evaluation.mean)
            logger.info("trial %d done: %.6g%s (%.2f s)", record.trial, evaluation.mean,
                        f" ± {evaluation.sem:.3g}" if evaluation.sem is not None else "",
                        outcome.seconds)
        del self._in_flight[record.trial]
        self.session_trials += 1
        if self.stored is not None:
            self.stored.finish(record, self.tracker)  # the moment it ends
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
            if isinstance(err, WorkerLost):
                raise TrialFailed("worker_lost", str(err))
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
            elif self.metric is None:  # a setup error: every trial would fail the same way
                raise ConfigError(
                    f"objective returned metrics {sorted(value)}; pass metric= (in an "
                    f"experiment file, metric = \"...\") to name the one to optimise")
            elif self.metric not in value:
                raise TrialFailed(
                    "bad_result",
                    f"objective returned metrics {sorted(value)}; metric={self.metric!r} is "
                    f"not among them",
                )
            else:
                metrics = _metrics({k: v for k, v in value.items() if k != self.metric})
                value = value[self.metric]
        if isinstance(value, Evaluation):
            try:
                mean, sem = _mean_sem(value)
            except (TypeError, ValueError) as err:
                raise TrialFailed("bad_result", f"Evaluation: {err}") from None
            # its own metrics as (mean, sem) pairs too: a bare number is (number, None)
            evaluation = Evaluation(mean, sem, {**_metrics(value.metrics), **metrics},
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
            raise self._error("no trial completed, so there is nothing to recommend"
                              + self._failure_summary())
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
        # trials whose values Ax clipped as far worse than most before the fit: the
        # model's value there is the clip value, so it is not reported as theirs
        clipped: set[int] = set()
        if predictions and hasattr(self.proposer, "clipped"):
            ax_clipped = self.proposer.clipped([self._ax_index[r.trial] for r in completed])
            clipped = {r.trial for r in completed if self._ax_index[r.trial] in ax_clipped}
        if baseline is not None:
            baseline_prediction = (predictions.get(baseline.trial)
                                   if predictions and baseline.trial not in clipped else None)
            baseline_info = {"config": baseline.config, "mean": baseline.mean,
                             "sem": baseline.sem, "trial": baseline.trial,
                             "predicted": baseline_prediction}
            if prediction is not None and baseline_prediction is not None:
                improvement = sign * (baseline_prediction.mean - prediction.mean)
            elif prediction is not None:  # a clipped baseline, as measured, against the model
                improvement = sign * (baseline.mean - prediction.mean)
            else:
                improvement = sign * (baseline.mean - (best.mean or 0.0))
            if best.trial == baseline.trial:
                improvement = 0.0  # the baseline itself is recommended
                notes.append("no evaluated configuration is predicted to beat the baseline")
        if source == "observed":
            notes.append("no model could be fit; the recommendation is the best observed trial")
        for r in completed:
            p = predictions.get(r.trial) if predictions and r.trial not in clipped else None
            r.predicted_mean, r.predicted_sem = (p.mean, p.sem) if p else (None, None)
        result = TuningResult(
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
            space=self.space,
            info=dict(self.info),
        )
        if self.stored is not None:
            self.stored.save_result(result, self.session_trials)
            result.info.update(self.stored.describe())
        return result

    def _failure_summary(self) -> str:
        """``": 5 failed (exception 5); the first: trial 0: ..."`` or empty."""
        failed = [r for r in self.records if r.status == "failed"]
        if not failed:
            return ""
        counts: dict[str, int] = {}
        for r in failed:
            counts[r.reason or "?"] = counts.get(r.reason or "?", 0) + 1
        by_reason = ", ".join(f"{reason} {n}" for reason, n in sorted(
            counts.items(), key=lambda kv: -kv[1]))
        first = failed[0]
        return (f": {len(failed)} failed ({by_reason}); the first, trial {first.trial}: "
                f"{first.reason}: {first.detail}")

    def _error(self, message: str) -> TuningError:
        err = TuningError(message)
        try:
            err.result = (self._result("error: " + message) if self._completed()
                          else self._empty_result("error: " + message))
        except Exception:  # the partial result is a courtesy; the error itself matters
            err.result = self._empty_result("error: " + message)
        return err

    def _empty_result(self, stop_reason: str) -> TuningResult:
        """A result with the trials but no recommendation (nothing completed)."""
        return TuningResult(
            best_config={}, best_predicted=None, best_trial=-1,
            best_observed={"config": {}, "mean": None, "sem": None, "trial": None},
            baseline=None, improvement=None, records=self.records,
            param_names=list(self.space.params), budget_spent=self.tracker.spent(),
            stop_reason=stop_reason, minimize=self.minimize,
            recommendation_source="none",
            notes=["no trial completed, so there is no recommendation"],
        )


def _make_executor(executor: Executor | str | None, parallelism: int) -> Executor:
    if executor is None:
        from bo_hpo.executors import ThreadExecutor

        return SequentialExecutor() if parallelism == 1 else ThreadExecutor(parallelism)
    if executor == "process":
        from bo_hpo.executors.process import ProcessExecutor

        return ProcessExecutor(workers=parallelism)
    if executor == "ray":
        from bo_hpo.executors.ray import RayExecutor

        return RayExecutor(workers=parallelism)
    if isinstance(executor, str):
        raise ConfigError(
            f"executor must be None, 'process', 'ray' or an executor object, got {executor!r}")
    for method in ("submit", "wait", "in_flight", "shutdown"):
        if not callable(getattr(executor, method, None)):
            raise ConfigError(f"executor {executor!r} has no {method}() method")
    return executor


def _versions() -> dict[str, str | None]:
    from bo_hpo.durable import package_versions

    return package_versions()


def _valid(is_valid: Callable[[dict[str, Any]], Any], config: Mapping[str, Any]) -> bool:
    """``is_valid(config)``, which must answer True or False (numpy booleans too)."""
    answer = is_valid(dict(config))
    if hasattr(answer, "item") and not isinstance(answer, (str, bytes)):
        answer = answer.item()
    if not isinstance(answer, bool):
        raise ConfigError(
            f"is_valid must return True or False, got {answer!r} for config {dict(config)!r}"
        )
    return answer


def _metrics(values: Mapping[str, Any]) -> dict[str, tuple[float, float | None]]:
    """Further metrics as ``(mean, sem)`` pairs (a bare number has no sem).

    Raises:
        TrialFailed: ``bad_result``, naming the metric whose value is neither.
    """
    out = {}
    for name, value in values.items():
        try:
            out[name] = _mean_sem(value)
        except (TypeError, ValueError) as err:
            raise TrialFailed("bad_result", f"metric {name!r}: {err}") from None
    return out


def _mean_sem(value: Any) -> tuple[float, float | None]:
    if isinstance(value, Evaluation):  # its fields are checked as a pair's are
        value = (value.mean, value.sem)
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


def load(name: str, store: Any = None) -> TuningResult:
    """The result of a stored experiment (trials, recommendation, improvement) without
    running anything. An experiment with no completed trial gives its trials and no
    recommendation (``best_trial == -1``, ``recommendation_source == "none"``).

    The predictions saved when its last session ended are used when they cover every
    completed trial; otherwise (a session that was killed) the model is refit from the
    trials.

    Raises:
        NotFoundError: the store holds no experiment ``name`` (a :class:`StoreError`).
        StoreError: the store cannot be opened.
    """
    from bo_hpo.budget import Budget
    from bo_hpo.errors import NotFoundError
    from bo_hpo.store import open_store

    st = open_store(store, create=False)
    info = st.get_experiment(name)
    if info is None:
        known = [e["name"] for e in st.list_experiments()]
        raise NotFoundError(f"no experiment {name!r} in {st.display_url}; it holds {known}")
    records = st.trials(info.id)
    space = SearchSpace.from_dict(st.space_versions(info.id)[-1]["space"])
    completed = [r for r in records if r.status == "completed" and r.mean is not None]
    if completed and all(r.predicted_mean is not None for r in completed):
        proposer: Any = _StoredPredictions(completed)
    else:
        from bo_hpo.propose import AxProposer

        proposer = AxProposer(space, minimize=info.minimize, seed=info.seed)
    loop = _Loop(
        objective=lambda c: None, space=space, proposer=proposer,
        tracker=BudgetTracker(Budget(max_trials=1), info.minimize),
        executor=SequentialExecutor(), is_valid=None, metric=None, trial_timeout=None,
        max_failures=0, max_consecutive_invalid=1, callback=None, minimize=info.minimize,
    )
    from bo_hpo.durable import carry_records, describe_experiment, stored_defaults

    loop.records = records  # as they ran; the model sees them carried into today's space
    loop._ax_index = (
        proposer.replay(carry_records(records, space, stored_defaults(st, info)))
        if not isinstance(proposer, _StoredPredictions) else {r.trial: r.trial for r in records})
    loop.tracker.restore(records, seconds=info.seconds_spent)

    loop.info = describe_experiment(st, info)
    loop.info["minimize"] = info.minimize
    stop = (info.summary or {}).get("stop_reason") or info.status
    if not completed:  # every trial failed or is still running: the trials, no answer
        result = loop._empty_result(stop)
        result.space, result.info = space, dict(loop.info)
        return result
    return loop._result(stop)


class _StoredPredictions:
    """Stands in for the proposer when the store already holds every prediction."""

    def __init__(self, completed: list[TrialRecord]) -> None:
        self._by_trial = {r.trial: Prediction(r.predicted_mean, r.predicted_sem or 0.0)
                          for r in completed}

    def predict(self, indices: list[int]) -> dict[int, Prediction]:
        return {i: self._by_trial[i] for i in indices if i in self._by_trial}
