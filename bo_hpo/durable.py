"""A stored experiment as the loop sees it: open (create or continue) under a lease, write
each trial as it starts and ends, and close (release the lease, record the night).

The loop stays unaware of SQL: it calls ``add``, ``finish``, ``interrupt`` and
``save_result``; this module turns those into store writes.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from bo_hpo.errors import ConfigError, SpaceChangedError, StoreError
from bo_hpo.space import SearchSpace
from bo_hpo.trial import TrialRecord

logger = logging.getLogger(__name__)

#: Experiment names: safe as file names and in crontab lines and unit names.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(name: Any, what: str = "name") -> str:
    """The experiment name, or ConfigError saying the rule."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise ConfigError(
            f"{what}: an experiment name must be 1-128 letters, digits, '-', '_' or '.', "
            f"starting with a letter or digit, with no path separators; got {name!r}"
        )
    return name


def package_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for package in ("bo-hpo", "ax-platform", "botorch", "torch", "sqlalchemy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def archive_name(st: Any, name: str) -> str:
    """A dated name, free in store ``st``, to keep experiment ``name`` under."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    archived, n = f"{name}-{stamp}", 1
    while st.get_experiment(archived) is not None:  # two in one second
        n += 1
        archived = f"{name}-{stamp}-{n}"
    return archived


def stored_defaults(st: Any, info: Any) -> dict[str, Any]:
    """The values that carry an experiment's stored trials into its latest space: those each
    space version recorded, the later over the earlier (and for versions stored before
    they were recorded, the experiment's baseline)."""
    merged = dict((info.spec or {}).get("baseline") or {})
    for version in st.space_versions(info.id):
        merged.update(version.get("defaults") or {})
    return merged


def carry_records(records: list[TrialRecord], space: SearchSpace,
                  defaults: Mapping[str, Any]) -> list[TrialRecord]:
    """``records`` with their configs in ``space``: parameters it added take ``defaults``,
    parameters it dropped or made inactive are left out (see ``carry_config``)."""
    from dataclasses import replace

    from bo_hpo.space.compat import carry_config

    return [replace(r, config=carry_config(r.config, space, defaults)) for r in records]


class StoredExperiment:
    """One experiment in a store, held by this process for the length of a ``with``."""

    def __init__(self, store: Any, info: Any, owner: Any, records: list[TrialRecord],
                 space: SearchSpace, defaults: Mapping[str, Any], session: Any) -> None:
        self.store = store
        self.info = info
        self.owner = owner
        self.records = records
        self.space = space
        self.defaults = dict(defaults)
        self.session = session
        self.night: int | None = None
        self._heartbeat: Any = None
        self._seconds_at_open = info.seconds_spent
        self._opened_at = time.monotonic()
        self._best_before = _best(records, info.minimize)
        self._previous_recommendation = (info.summary or {}).get("best_trial")
        self.interrupted: list[int] = []

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, store: Any, name: str, *, space: SearchSpace, spec: Mapping[str, Any],
             minimize: bool, seed: int | None, baseline: Mapping[str, Any] | None,
             session: Any) -> StoredExperiment:
        """Create the experiment, or take its lease and continue it.

        Raises:
            LockedError: another live process holds the lease (nothing is changed).
            SpaceChangedError: the space changed in a way the stored trials cannot follow.
        """
        from bo_hpo.store import Owner, open_store

        check_name(name)
        st = open_store(store)
        owner = Owner.current()
        info = st.get_experiment(name)
        if info is None:
            from bo_hpo.errors import LockedError

            try:
                info = st.create_experiment(
                    name, spec=spec, fingerprint=space.fingerprint(), source=session.source,
                    minimize=minimize, seed=seed, device=session.device,
                    versions=package_versions(), space=space.to_dict(), owner=owner,
                )
            except LockedError:  # another process created it a moment ago: take its lease
                info = st.get_experiment(name)
                if info is None:
                    raise
                st.acquire_lease(info.id, owner)
            else:
                logger.info("created experiment %r in %s", name, st.display_url)
        else:
            st.acquire_lease(info.id, owner)
        try:
            if info.minimize != minimize:
                raise ConfigError(
                    f"experiment {name!r} in the store minimises={info.minimize}, but this run "
                    f"has minimize={minimize}; use another name for the other direction"
                )
            interrupted = st.interrupt_orphans(info.id, stale_after=0.0)
            st.interrupt_nights(info.id)
            records = st.trials(info.id)
            # what carried earlier trials into later spaces, then this run's baseline
            defaults = {**(baseline or {}), **stored_defaults(st, info)}
            if info.fingerprint != space.fingerprint():
                try:
                    defaults.update(cls._accept_change(st, info, name, space, spec,
                                                       records, defaults))
                except SpaceChangedError:
                    if any(r.status in ("completed", "failed") for r in records):
                        raise
                    # Nothing ever ran to an outcome (a first trial the evaluator refused,
                    # say): no result is lost by starting over. The old record is kept.
                    archived = archive_name(st, name)
                    st.rename_experiment(info.id, archived)
                    st.release_lease(info.id, owner)
                    logger.warning(
                        "experiment %r: the search space changed and no stored trial had "
                        "finished, so it starts anew (the earlier record is kept as %r)",
                        name, archived)
                    return cls.open(store, name, space=space, spec=spec, minimize=minimize,
                                    seed=seed, baseline=baseline, session=session)
                info = st.get_experiment(name)
            before = (info.spec or {}).get("baseline")
            if records and baseline is not None and before is not None and \
                    dict(baseline) != dict(before):
                logger.warning(
                    "experiment %r: the baseline given, %s, differs from the stored one, %s; "
                    "a baseline runs only as an experiment's first trial, so it is not run "
                    "(use another name to start with it)", name, dict(baseline), dict(before))
            if info.spec != spec:  # the latest spec as given (a raised budget, say)
                st.update_experiment(info.id, spec=spec, status="running")
            else:
                st.update_experiment(info.id, status="running")
        except BaseException:
            st.release_lease(info.id, owner)
            raise
        stored = cls(st, info, owner, records, space, defaults, session)
        stored.interrupted = interrupted
        if interrupted:
            logger.warning("experiment %r: trial(s) %s were running when their process "
                           "stopped; marked interrupted", name, interrupted)
        return stored

    @staticmethod
    def _accept_change(st: Any, info: Any, name: str, space: SearchSpace,
                       spec: Mapping[str, Any], records: list[TrialRecord],
                       defaults: Mapping[str, Any]) -> dict[str, Any]:
        from bo_hpo.space.compat import compare_spaces

        stored_space = st.space_versions(info.id)[-1]["space"]
        old = SearchSpace.from_dict(stored_space)
        change = compare_spaces(old, space, [r.config for r in records], defaults=defaults)
        if not change.compatible:
            raise SpaceChangedError(
                f"experiment {name!r}: the search space changed since it was stored. "
                + change.describe(name=name)
            )
        version = st.add_space_version(info.id, fingerprint=space.fingerprint(),
                                       space=space.to_dict(), spec=spec,
                                       change="; ".join(change.changes),
                                       defaults={k: v for k, v in {**defaults,
                                                                   **change.defaults}.items()
                                                 if k in space.params})
        logger.warning("experiment %r: search space version %d: %s", name, version,
                       "; ".join(change.changes))
        return dict(change.defaults)

    def carried(self, records: list[TrialRecord]) -> list[TrialRecord]:
        """The stored records with configs in today's space (new parameters at their
        defaults)."""
        return carry_records(records, self.space, self.defaults)

    # ------------------------------------------------------------------ the with block
    def __enter__(self) -> StoredExperiment:
        from bo_hpo.store import Heartbeat

        if self.session.nightly:
            self.night = self.store.start_night(self.info.id)
        self._heartbeat = Heartbeat(self.store, self.info.id, self.owner).__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if self._heartbeat is not None:
                self._heartbeat.__exit__(None, None, None)
            if exc_type is not None:
                status = ("interrupted" if issubclass(exc_type, KeyboardInterrupt)
                          else "stopped")
                if status == "stopped":  # why, for load() and status: the error's words
                    result = getattr(exc, "result", None)
                    reason = (getattr(result, "stop_reason", None)
                              or f"error: {exc_type.__name__}: {exc}")
                    summary = {**(self.store.get_experiment(self.info.name).summary or {}),
                               "stop_reason": reason[:2000]}
                    self.store.update_experiment(self.info.id, status=status, summary=summary)
                else:
                    self.store.update_experiment(self.info.id, status=status)
                if self.night is not None:
                    self.store.end_night(self.info.id, self.night, status=status,
                                         n_trials=self._session_trials(),
                                         detail=f"{exc_type.__name__}: {exc}"[:2000])
        finally:
            try:
                self.store.release_lease(self.info.id, self.owner)
            except StoreError as err:  # the lease goes stale by itself; say so
                logger.warning("could not release the lease: %s", err)

    def _session_trials(self) -> int:
        return sum(1 for r in self.store.trials(self.info.id)
                   if r.night == self.night and r.status in ("completed", "failed"))

    # ------------------------------------------------------------------ writing
    def add(self, record: TrialRecord) -> None:
        record.night = self.night
        record.worker = record.worker or f"{self.owner.host}:{self.owner.pid}"
        number = self.store.add_trial(self.info.id, record, owner=self.owner,
                                      space_version=self.info.space_version)
        if number != record.trial:
            raise StoreError(
                f"trial {record.trial} of {self.info.name!r} was written as {number}: another "
                f"process is writing to this experiment without its lease"
            )

    def add_step(self, trial: int, step: int, value: float) -> None:
        """An intermediate value of a running trial; a failed write is logged, not raised
        (the trial itself matters more than its learning curve)."""
        try:
            self.store.add_step(self.info.id, trial, step, value)
        except Exception as err:  # noqa: BLE001
            logger.warning("could not store step %d of trial %d: %s", step, trial, err)

    def finish(self, record: TrialRecord, tracker: Any) -> None:
        self.store.finish_trial(self.info.id, record)
        spent = self._seconds_at_open + (time.monotonic() - self._opened_at)
        self.store.update_experiment(self.info.id, seconds_spent=spent)

    def interrupt(self, records: list[TrialRecord], why: str) -> None:
        """Trials in flight when the run stopped (Ctrl-C, an error): marked interrupted so
        that the next run re-runs them."""
        for r in records:
            if r.status != "running":
                continue
            r.status, r.reason, r.detail, r.ended_at = "interrupted", "interrupted", why, \
                time.time()
            try:
                self.store.finish_trial(self.info.id, r)
            except StoreError as err:
                logger.warning("could not mark trial %d interrupted: %s", r.trial, err)

    def describe(self) -> dict[str, Any]:
        """What the report shows about the stored experiment (plain data)."""
        return describe_experiment(self.store, self.store.get_experiment(self.info.name))

    def save_result(self, result: Any, session_trials: int) -> None:
        """Keep the model's predictions and the recommendation (a cache: they can be
        recomputed from the trials), and close the night."""
        predictions = {r.trial: (r.predicted_mean, r.predicted_sem) for r in result.records
                       if r.predicted_mean is not None}
        self.store.set_predictions(self.info.id, predictions)
        previous = (self.store.get_experiment(self.info.name).summary or {})
        summary = {
            "final": previous.get("final"),  # kept: the runner reuses it if still current
            "best_trial": result.best_trial, "best_config": result.best_config,
            "best_predicted": None if result.best_predicted is None else
            [result.best_predicted.mean, result.best_predicted.sem],
            "best_observed": result.best_observed, "improvement": result.improvement,
            "stop_reason": result.stop_reason,
            "recommendation_source": result.recommendation_source,
        }
        done = result.stop_reason.startswith("error") is False
        self.store.update_experiment(self.info.id, summary=summary,
                                     status="done" if done else "stopped")
        if self.night is not None:
            best_after = _best(result.records, result.minimize)
            sign = 1.0 if result.minimize else -1.0
            improvement = (None if self._best_before is None or best_after is None
                           else sign * (self._best_before - best_after))
            self.store.end_night(
                self.info.id, self.night, status="done", n_trials=session_trials,
                best_before=self._best_before, best_after=best_after,
                improvement=improvement, recommended_trial=result.best_trial,
                recommended_config=result.best_config,
                predicted_mean=None if result.best_predicted is None
                else result.best_predicted.mean,
                predicted_sem=None if result.best_predicted is None
                else result.best_predicted.sem,
                recommendation_changed=(self._previous_recommendation is not None and
                                        self._previous_recommendation != result.best_trial),
                detail=result.stop_reason,
            )


def describe_experiment(store: Any, info: Any) -> dict[str, Any]:
    """A stored experiment's facts for the report: name, spec, versions, seed, device,
    store (password hidden), nights and final scores."""
    from dataclasses import asdict

    spec = info.spec or {}
    summary = info.summary or {}
    file = spec.get("file") or {}
    raw = file.get("raw") or {}
    return {
        "name": info.name, "source": info.source, "seed": info.seed, "device": info.device,
        "versions": info.versions, "store": store.display_url, "status": info.status,
        "created_at": info.created_at, "updated_at": info.updated_at,
        "seconds_spent": info.seconds_spent, "space_version": info.space_version,
        "budget": spec.get("budget"), "method": spec.get("method"),
        "constraints": (spec.get("space") or {}).get("constraints", []),
        "rules": raw.get("invalid_if", []), "evaluator": raw.get("evaluator"),
        "evaluator_settings": raw.get("evaluator_settings", {}),
        "nightly_budget": raw.get("nightly"), "experiment_file": file.get("path"),
        "nights": [asdict(n) for n in store.nights(info.id)],
        "space_versions": store.space_versions(info.id),
        "final": (summary.get("final") or {}).get("scores"),
        "final_trial": (summary.get("final") or {}).get("best_trial"),
    }


def _best(records: list[TrialRecord], minimize: bool) -> float | None:
    values = [r.mean for r in records if r.status == "completed" and r.mean is not None]
    if not values:
        return None
    return min(values) if minimize else max(values)
