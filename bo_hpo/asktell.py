"""Ask and tell: for trials that run under someone else's scheduler (a SLURM array,
Kubernetes Jobs, a CI farm).

Any process that reaches the store can ``ask()`` for a configuration and later ``tell()``
its result. An ask takes the experiment's lease for a moment, rebuilds the model from the
stored trials (the ones still running are pending points, so concurrent asks get different
configurations), records the new trial as ``running`` and lets the lease go::

    exp = bo_hpo.Experiment("mlp", store="sqlite:///tuning.db", space=space, seed=0)
    trial = exp.ask()                 # Trial(number=3, config={...})
    exp.tell(trial.number, 0.123)     # or (mean, sem), or failed="diverged"

Trials asked this way belong to no process: a crash of the asker does not mark them
interrupted, and a run or nightly job that continues the experiment treats them as
pending until someone tells their result.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bo_hpo.errors import ConfigError, LockedError, NotFoundError, TrialFailed
from bo_hpo.space import SearchSpace
from bo_hpo.trial import PENALISED_REASONS, TrialRecord, as_plain

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trial:
    """A configuration handed out by :meth:`Experiment.ask`."""

    number: int
    config: dict[str, Any]


class Experiment:
    """A stored experiment driven from outside.

    Args:
        name: the experiment's name in the store.
        store: the store URL (``None``: ``$BO_HPO_STORE`` or the default file).
        space: needed only to create the experiment (the first ask); later asks read the
            stored space.
        constraints, baseline, minimize, seed, n_initial: as for :func:`bo_hpo.tune`, used
            when the experiment is created. The baseline is the first trial handed out.
        is_valid: a predicate; rejected proposals are recorded as invalid and another is
            asked for.
        lock_timeout: seconds an ask waits for another ask (or a run) holding the lease.
    """

    def __init__(self, name: str, store: Any = None, space: Any = None, *,
                 constraints: Iterable[str] = (), baseline: Mapping[str, Any] | None = None,
                 minimize: bool = True, seed: int | None = None, n_initial: int | None = None,
                 is_valid: Callable[[dict[str, Any]], bool] | None = None,
                 lock_timeout: float = 300.0, spec_extra: Mapping[str, Any] | None = None,
                 source: str = "python") -> None:
        from bo_hpo.durable import check_name
        from bo_hpo.loop import check_common
        from bo_hpo.store import open_store

        self.name = check_name(name)
        seed, n_initial = check_common(minimize=minimize, seed=seed, n_initial=n_initial)
        if is_valid is not None and not callable(is_valid):
            raise ConfigError(f"is_valid must be a function of the config, got {is_valid!r}")
        # without a space nothing can be created: a SQLite file that is not there is a wrong
        # path, said at once, and no empty database is left behind
        self.store = open_store(store, create=space is not None)
        self.space = None if space is None else SearchSpace(space, constraints=constraints)
        self.baseline = (None if baseline is None or self.space is None
                         else self.space.check_config(baseline, what="baseline"))
        self.minimize, self.seed, self.n_initial = minimize, seed, n_initial
        self.is_valid, self.lock_timeout = is_valid, lock_timeout
        self._spec_extra = dict(spec_extra or {})
        self._source = source

    # ------------------------------------------------------------------ asking
    def ask(self) -> Trial:
        """A configuration to evaluate, recorded as ``running`` in the store.

        Raises:
            LockedError: a run holds the experiment for longer than ``lock_timeout``.
            NotFoundError: the experiment does not exist and no ``space`` was given to
                create it (a :class:`StoreError`, like every store failure).
            StoreError: the store cannot be used.
        """
        from bo_hpo.store import Owner

        owner = Owner.current()
        info = self._hold(owner)
        try:
            if self.space is not None and info.minimize != self.minimize:  # as tune() says
                raise ConfigError(
                    f"experiment {self.name!r} in the store minimises={info.minimize}, but "
                    f"this Experiment has minimize={self.minimize}; use another name for the "
                    f"other direction")
            if info.status in ("done", "stopped", "interrupted"):
                # asked after a run stopped: the experiment is open again, and the run's stop
                # reason ("max_trials (10) reached") no longer describes its trials
                summary = {k: v for k, v in (info.summary or {}).items() if k != "stop_reason"}
                self.store.update_experiment(info.id, status="created", summary=summary)
            return self._ask(info)
        finally:
            self.store.release_lease(info.id, owner)

    def _hold(self, owner: Any) -> Any:
        """Create the experiment (holding its lease), or wait for its lease."""
        info = self.store.get_experiment(self.name)
        if info is None:
            if self.space is None:
                raise NotFoundError(f"no experiment {self.name!r} in {self.store.display_url}; "
                                 f"give space= to create it")
            from bo_hpo.durable import package_versions

            spec = {"space": self.space.to_dict(), "baseline": self.baseline,
                    "minimize": self.minimize, "seed": self.seed, "n_initial": self.n_initial,
                    "method": "bo", "asktell": True, **self._spec_extra}
            try:
                return self.store.create_experiment(
                    self.name, spec=spec, fingerprint=self.space.fingerprint(),
                    source=self._source, minimize=self.minimize, seed=self.seed, device=None,
                    versions=package_versions(), space=self.space.to_dict(), owner=owner)
            except LockedError:  # created by another asker a moment ago
                info = self.store.get_experiment(self.name)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while True:
            try:
                self.store.acquire_lease(info.id, owner)
                return info
            except LockedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(0.5, delay * 1.5)

    def _ask(self, info: Any) -> Trial:
        from bo_hpo.durable import carry_records, stored_defaults
        from bo_hpo.propose import AxProposer

        space = SearchSpace.from_dict(self.store.space_versions(info.id)[-1]["space"])
        records = self.store.trials(info.id)
        spec = info.spec or {}
        if self.space is not None and self.space.fingerprint() != info.fingerprint:
            # the caller's space differs from the stored one: refused or recorded, as for
            # tune()
            from bo_hpo.durable import StoredExperiment

            StoredExperiment._accept_change(
                self.store, info, self.name, self.space, {**spec, "space": self.space.to_dict()},
                records, {**(self.baseline or {}), **stored_defaults(self.store, info)})
            info = self.store.get_experiment(self.name)
            space = self.space
        # old trials carried into today's space, as the versions recorded
        records = carry_records(records, space, stored_defaults(self.store, info))
        baseline = spec.get("baseline")
        if baseline is not None and not records:
            return self._record(info, dict(baseline), "baseline", is_baseline=True)
        proposer = AxProposer(space, minimize=info.minimize, seed=info.seed,
                              n_initial=spec.get("n_initial"), is_valid=self.is_valid)
        proposer.replay(records)
        for _ in range(20):
            proposal = proposer.propose()
            config = as_plain(proposal.config)
            if self.is_valid is None or self.is_valid(dict(config)):
                return self._record(info, config, proposal.generator,
                                    proposal_seconds=proposal.seconds,
                                    fallback=proposal.fallback)
            proposer.reject(proposal.ax_index)
            self.store.add_trial(info.id, TrialRecord(
                trial=self._next(info), config=config, status="invalid",
                generator=proposal.generator, reason="invalid", detail="rejected by is_valid",
                ended_at=time.time()))
        raise ConfigError("20 proposals in a row were rejected as invalid (by is_valid, or the "
                          "experiment file's invalid_if rules); encode the rule as a constraint "
                          "or narrow the space")

    def _next(self, info: Any) -> int:
        return max((r.trial for r in self.store.trials(info.id)), default=-1) + 1

    def _record(self, info: Any, config: dict[str, Any], generator: str, *,
                is_baseline: bool = False, proposal_seconds: float = 0.0,
                fallback: str | None = None) -> Trial:
        record = TrialRecord(
            trial=self._next(info), config=config, status="running", generator=generator,
            is_baseline=is_baseline, proposal_seconds=proposal_seconds, fallback=fallback,
            started_at=time.time(), worker=f"{socket.gethostname()}:{os.getpid()} (ask)",
        )
        number = self.store.add_trial(info.id, record, owner=None,
                                      space_version=info.space_version)
        return Trial(number, dict(config))

    # ------------------------------------------------------------------ telling
    def tell(self, trial: int | Trial, value: Any = None, *, failed: str | None = None,
             detail: str = "") -> TrialRecord:
        """Record a trial's result: a float, ``(mean, sem)``, an Evaluation, or
        ``failed="reason"`` (``diverged``, ``out_of_memory`` and the like teach the model to
        avoid the region, as in :func:`bo_hpo.tune`).

        Raises:
            NotFoundError: the experiment is not in the store.
            StoreError: the store cannot be used.
            ConfigError: no such trial, or it is not running (told twice), or the value
                is not a number or pair (a ``ValueError``, as Optuna's ``tell`` raises).

        Returns:
            The trial as stored: a NaN or infinite value is recorded as failed
            (``non_finite``), as in :func:`bo_hpo.tune`.
        """
        from bo_hpo.evaluation import Evaluation
        from bo_hpo.loop import _mean_sem, _metrics

        if failed is not None and value is not None:
            raise ConfigError(f"tell: a value ({value!r}) or failed= ({failed!r}), not both")
        number = trial.number if isinstance(trial, Trial) else trial
        info = self.store.get_experiment(self.name)
        if info is None:
            raise NotFoundError(f"no experiment {self.name!r} in {self.store.display_url}")
        record = next((r for r in self.store.trials(info.id) if r.trial == number), None)
        if record is None:
            raise ConfigError(f"experiment {self.name!r} has no trial {number!r}")
        if record.status != "running":
            raise ConfigError(f"trial {number} of {self.name!r} is {record.status}, not "
                             f"running; its result was told already")
        record.ended_at = time.time()
        record.eval_seconds = record.ended_at - (record.started_at or record.ended_at)
        if failed is not None:
            record.status, record.reason, record.detail = "failed", str(failed), detail
            if record.reason not in PENALISED_REASONS:
                logger.info("trial %d failed (%s): left out of the model", number, failed)
        else:
            try:
                mean, sem = _mean_sem(value)
                if isinstance(value, Evaluation):  # kept beside the trial, as tune() does
                    record.metrics = _metrics(value.metrics)
                    record.metadata = dict(value.metadata)
            except (TypeError, ValueError, TrialFailed) as err:
                raise ConfigError(f"tell: value must be a number, (mean, sem) or an "
                                  f"Evaluation, got {value!r} ({err})") from None
            import math

            if not math.isfinite(mean):
                record.status, record.reason = "failed", "non_finite"
                record.detail = f"told {mean!r}"
            else:
                record.status, record.mean, record.sem = "completed", mean, sem
        self.store.finish_trial(info.id, record)
        self.store.update_experiment(info.id)  # its `updated` time
        return record

    def result(self) -> Any:
        """The stored result so far (see :func:`bo_hpo.load`)."""
        from bo_hpo.loop import load

        return load(self.name, store=self.store)


__all__ = ["Experiment", "Trial", "TrialFailed"]
