"""The store contract: every test runs on SQLite and on PostgreSQL (``store_url`` fixture).

What one backend does, the other must do identically: JSON and floats round-trip exactly,
trial numbers stay unique, leases are taken over only from a gone owner, orphaned trials are
interrupted, the migrated schema is exactly ``bo_hpo.store.schema.metadata``, and a store of
a newer schema is refused without a byte changed.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

import bo_hpo.store.sql as store_sql
from bo_hpo.errors import LockedError, StoreError
from bo_hpo.store import ExperimentInfo, NightInfo, Owner, SQLStore, open_store
from bo_hpo.store.schema import VERSION_TABLE, leases, metadata, trials
from bo_hpo.trial import TrialRecord

EXACT = 0.1 + 0.2  # 0.30000000000000004: must come back bit for bit, not as 0.3

SPEC: dict[str, Any] = {
    "search_space": {"lr": ["log_uniform", 1e-05, 0.1], "opt": ["choice", ["SGD", "Adam"]]},
    "exact": EXACT,
    "tiny": 5e-324,
    "big_int": 2**53 + 1,
    "nothing": None,
    "nested": [[1, 2.5, [True, False, None]], [], {"k": [EXACT, -0.0]}],
    "unicode": "λ → 実験 ✓ \"quoted\" \\ tab\t",
}
SPACE: dict[str, Any] = {"lr": {"type": "log_uniform", "low": 1e-05, "high": 0.1}}
VERSIONS: dict[str, Any] = {"python": "3.12.1", "bo_hpo": "0.1.0", "torch": None, "ünï": "ß"}


def make_experiment(store: SQLStore, name: str = "exp", *, owner: Owner | None = None,
                    minimize: bool = True) -> ExperimentInfo:
    return store.create_experiment(
        name, spec=SPEC, fingerprint="f" * 64, source="python", minimize=minimize, seed=7,
        device="cpu", versions=VERSIONS, space=SPACE, owner=owner,
    )


def running(number: int = 0, **kw: Any) -> TrialRecord:
    values: dict[str, Any] = dict(
        trial=number,
        config={"lr": EXACT, "batch_size": 128, "use_bn": True, "act": "gelu", "extra": None,
                "name": "résumé ✓"},
        status="running", generator="sobol", started_at=time.time(), proposal_seconds=EXACT,
    )
    values.update(kw)
    return TrialRecord(**values)


def finished(record: TrialRecord, **kw: Any) -> TrialRecord:
    values = record.as_dict()
    values.update(ended_at=time.time(), eval_seconds=1.25)
    values.update(kw)
    return TrialRecord(**values)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped (so is gone, not a zombie)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def live_other_owner() -> Owner:
    """An owner on this host whose pid is alive but is not this process (our parent)."""
    return Owner(socket.gethostname(), os.getppid(), "parent0000")


def set_columns(store: SQLStore, table: Any, where: Any, **values: Any) -> None:
    with store.engine.begin() as conn:
        assert conn.execute(table.update().where(where).values(**values)).rowcount >= 1


def column(store: SQLStore, col: Any, where: Any) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(col).where(where)).scalars())


# ------------------------------------------------------------------ experiments
def test_create_and_get_experiment_round_trip_json_exactly(store: SQLStore) -> None:
    before = time.time()
    info = make_experiment(store, "exp-λ-実験")
    assert info.name == "exp-λ-実験"
    assert info.spec == SPEC
    assert info.spec["exact"] == EXACT and info.spec["exact"] != 0.3
    assert info.spec["tiny"] == 5e-324 and info.spec["big_int"] == 2**53 + 1
    assert math.copysign(1.0, info.spec["nested"][2]["k"][1]) == -1.0
    assert info.versions == VERSIONS
    assert (info.source, info.fingerprint, info.space_version) == ("python", "f" * 64, 1)
    assert (info.device, info.seed, info.minimize) == ("cpu", 7, True)
    assert (info.status, info.seconds_spent, info.summary) == ("created", 0.0, None)
    assert before <= info.created_at == info.updated_at <= time.time()

    assert store.get_experiment("exp-λ-実験") == info
    assert store.get_experiment("missing") is None
    assert store.space_versions(info.id) == [{
        "version": 1, "fingerprint": "f" * 64, "space": SPACE, "change": None,
        "created_at": info.created_at, "defaults": {},
    }]


def test_update_experiment_round_trips_summary(store: SQLStore) -> None:
    info = make_experiment(store)
    summary = {"best": {"config": {"lr": EXACT}, "mean": EXACT, "sem": None},
               "trials": [0, 1, [2, None]], "note": "ok ✓"}
    store.update_experiment(info.id, summary=summary, status="running")
    store.add_seconds(info.id, EXACT)
    got = store.get_experiment("exp")
    assert got is not None
    assert got.summary == summary and got.status == "running"
    assert got.seconds_spent == EXACT
    assert got.updated_at >= info.updated_at
    assert got.spec == SPEC  # untouched columns stay


def test_add_space_version_numbers_and_updates_experiment(store: SQLStore) -> None:
    info = make_experiment(store)
    new_space = {"lr": {"type": "log_uniform", "low": 1e-06, "high": 0.5}}
    new_spec = {**SPEC, "exact": 1.0}
    assert store.add_space_version(info.id, fingerprint="e" * 64, space=new_space,
                                   spec=new_spec, change="widened lr") == 2
    versions = store.space_versions(info.id)
    assert [(v["version"], v["fingerprint"], v["space"], v["change"]) for v in versions] == [
        (1, "f" * 64, SPACE, None), (2, "e" * 64, new_space, "widened lr")]
    got = store.get_experiment("exp")
    assert got is not None
    assert (got.space_version, got.fingerprint, got.spec) == (2, "e" * 64, new_spec)


def test_list_experiments_counts_trials_nights_and_best(store: SQLStore) -> None:
    low = make_experiment(store, "low", minimize=True)
    time.sleep(0.01)  # created_at orders the listing
    high = make_experiment(store, "high", minimize=False)
    for exp_id in (low.id, high.id):
        for n, mean in enumerate([EXACT, 2.0, -1.5]):
            store.add_trial(exp_id, finished(running(n), status="completed", mean=mean))
        store.add_trial(exp_id, finished(running(3), status="failed", mean=-99.0,
                                         reason="diverged"))
        store.add_trial(exp_id, running(4))
    store.start_night(low.id)
    listing = store.list_experiments()
    assert [e["name"] for e in listing] == ["low", "high"]
    by_name = {e["name"]: e for e in listing}
    assert by_name["low"]["trials"] == {"completed": 3, "failed": 1, "running": 1}
    assert by_name["low"]["best_observed"] == -1.5  # the failed -99 does not count
    assert by_name["high"]["best_observed"] == 2.0
    assert (by_name["low"]["nights"], by_name["high"]["nights"]) == (1, 0)
    assert by_name["low"]["minimize"] is True and by_name["high"]["minimize"] is False


def test_create_duplicate_name_raises_locked_error_and_keeps_the_first(store: SQLStore) -> None:
    first = make_experiment(store, "dup")
    store.add_trial(first.id, running(0))
    with pytest.raises(LockedError, match="dup"):
        store.create_experiment("dup", spec={"other": 1}, fingerprint="0" * 64, source="file",
                                minimize=False, seed=None, device=None, versions={}, space={})
    assert [e["name"] for e in store.list_experiments()] == ["dup"]
    assert store.get_experiment("dup") == first
    assert len(store.space_versions(first.id)) == 1
    assert [t.trial for t in store.trials(first.id)] == [0]


def test_rename_experiment_keeps_its_trials(store: SQLStore) -> None:
    info = make_experiment(store, "old")
    store.add_trial(info.id, running(0))
    store.rename_experiment(info.id, "new ✓")
    assert store.get_experiment("old") is None
    renamed = store.get_experiment("new ✓")
    assert renamed is not None and renamed.id == info.id and renamed.spec == SPEC
    assert [t.trial for t in store.trials(renamed.id)] == [0]
    # the old name is free again
    assert make_experiment(store, "old").id != info.id


# ------------------------------------------------------------------ trials
def test_running_trial_round_trips_field_by_field(store: SQLStore) -> None:
    exp = make_experiment(store)
    owner = Owner.current()
    record = running(0, is_baseline=True, night=1, worker="node-1:gpu0", fallback="sobol ✓",
                     retry_of=None)
    assert store.add_trial(exp.id, record, owner=owner, space_version=1) == 0
    assert store.trials(exp.id) == [record]
    (row,) = store.running_trials(exp.id)
    assert row["trial"] == 0 and row["owner"] == str(owner)
    assert row["started_at"] == record.started_at
    assert time.time() - 5 < row["heartbeat_at"] <= time.time()
    assert column(store, trials.c.space_version, trials.c.number == 0) == [1]


def test_finish_completed_round_trips_metrics_as_tuples(store: SQLStore) -> None:
    exp = make_experiment(store)
    record = running(0)
    store.add_trial(exp.id, record, owner=Owner.current())
    done = finished(
        record, status="completed", mean=EXACT, sem=1e-300,
        metrics={"acc": (0.9, 0.01), "loss": (EXACT, None), "λ": (-0.0, 2.5)},
        metadata={"epochs": 3, "curve": [EXACT, None, 1.5], "note": "✓", "ok": True,
                  "nested": {"a": [{"b": None}]}},
        predicted_mean=0.25, predicted_sem=0.05,
    )
    store.finish_trial(exp.id, done)
    (got,) = store.trials(exp.id)
    assert got == done
    assert got.mean == EXACT and got.sem == 1e-300
    assert all(type(v) is tuple for v in got.metrics.values())
    assert got.metrics["loss"] == (EXACT, None)
    assert store.running_trials(exp.id) == []
    assert column(store, trials.c.heartbeat_at, trials.c.number == 0) == [None]


def test_finish_failed_keeps_reason_and_detail(store: SQLStore) -> None:
    exp = make_experiment(store)
    record = running(0)
    store.add_trial(exp.id, record)
    failed = finished(record, status="failed", reason="out_of_memory",
                      detail="CUDA OOM ✗\n  at line 3\ttab 'quoted' \"dq\"")
    store.finish_trial(exp.id, failed)
    assert store.trials(exp.id) == [failed]


def test_invalid_trial_added_directly_is_final(store: SQLStore) -> None:
    exp = make_experiment(store)
    record = TrialRecord(trial=0, config={"lr": 1e-5, "batch_size": 256}, status="invalid",
                         generator="gp", reason="is_valid", detail="rejected by is_valid")
    assert store.add_trial(exp.id, record, owner=Owner.current()) == 0
    assert store.trials(exp.id) == [record]
    assert store.running_trials(exp.id) == []
    assert column(store, trials.c.heartbeat_at, trials.c.number == 0) == [None]


def test_trial_numbers_are_unique_ordered_and_per_experiment(store: SQLStore) -> None:
    exp = make_experiment(store, "a")
    other = make_experiment(store, "b")
    for n in (2, 0, 1):
        assert store.add_trial(exp.id, running(n, generator=f"g{n}")) == n
    assert [t.trial for t in store.trials(exp.id)] == [0, 1, 2]
    assert [t.generator for t in store.trials(exp.id)] == ["g0", "g1", "g2"]
    # numbering is per experiment
    assert store.add_trial(other.id, running(0)) == 0
    assert [t.trial for t in store.trials(other.id)] == [0]


def test_add_trial_with_a_taken_number_uses_the_next_free_one(store: SQLStore) -> None:
    exp = make_experiment(store)
    for n in range(3):
        store.add_trial(exp.id, running(n))
    late = running(1, config={"lr": 0.5}, generator="late")
    assert store.add_trial(exp.id, late) == 3
    got = store.trials(exp.id)
    assert [t.trial for t in got] == [0, 1, 2, 3]
    assert got[1].generator == "sobol" and got[1].config != {"lr": 0.5}  # 1 untouched
    assert got[3].config == {"lr": 0.5} and got[3].generator == "late"


def test_finish_trial_of_an_unknown_trial_raises_store_error(store: SQLStore) -> None:
    exp = make_experiment(store)
    store.add_trial(exp.id, running(0))
    with pytest.raises(StoreError, match="trial 5"):
        store.finish_trial(exp.id, finished(running(5), status="completed", mean=1.0))
    with pytest.raises(StoreError):  # the trial exists, but in another experiment
        store.finish_trial(exp.id + 1000, finished(running(0), status="completed", mean=1.0))
    assert [t.status for t in store.trials(exp.id)] == ["running"]


def test_finish_trial_needs_a_final_status(store: SQLStore) -> None:
    exp = make_experiment(store)
    store.add_trial(exp.id, running(0))
    with pytest.raises(ValueError, match="final status"):
        store.finish_trial(exp.id, running(0))


def test_set_predictions(store: SQLStore) -> None:
    exp = make_experiment(store)
    for n in range(3):
        store.add_trial(exp.id, finished(running(n), status="completed", mean=float(n)))
    store.set_predictions(exp.id, {0: (EXACT, 0.01), 2: (-1.0, 0.5)})
    store.set_predictions(exp.id, {})  # nothing to do, no error
    got = store.trials(exp.id)
    assert [(t.predicted_mean, t.predicted_sem) for t in got] == [
        (EXACT, 0.01), (None, None), (-1.0, 0.5)]
    assert [t.mean for t in got] == [0.0, 1.0, 2.0]


def test_non_finite_means_sems_and_predictions_are_stored_as_none(store: SQLStore) -> None:
    exp = make_experiment(store)
    for n, (mean, sem) in enumerate([(math.nan, 0.1), (math.inf, math.nan),
                                     (-math.inf, math.inf)]):
        store.add_trial(exp.id, running(n))
        store.finish_trial(exp.id, finished(running(n), status="failed", reason="non_finite",
                                            mean=mean, sem=sem))
    store.set_predictions(exp.id, {0: (math.nan, math.inf), 1: (1.0, -math.inf)})
    got = store.trials(exp.id)
    assert [(t.mean, t.sem) for t in got] == [(None, 0.1), (None, None), (None, None)]
    assert [(t.predicted_mean, t.predicted_sem) for t in got] == [
        (None, None), (1.0, None), (None, None)]


# ------------------------------------------------------------------ steps
def test_steps_come_back_ordered_by_step(store: SQLStore) -> None:
    exp = make_experiment(store)
    store.add_trial(exp.id, running(0))
    store.add_trial(exp.id, running(1))
    for step, value in [(3, 0.5), (1, EXACT), (2, math.nan), (10, -1.0)]:
        store.add_step(exp.id, 0, step, value)
    store.add_step(exp.id, 1, 1, 7.0)
    assert store.steps(exp.id, 0) == [(1, EXACT), (2, None), (3, 0.5), (10, -1.0)]
    assert store.steps(exp.id, 1) == [(1, 7.0)]


def test_steps_of_an_unknown_trial(store: SQLStore) -> None:
    exp = make_experiment(store)
    store.add_trial(exp.id, running(0))
    with pytest.raises(StoreError, match="trial 9"):
        store.add_step(exp.id, 9, 1, 0.5)
    with pytest.raises(StoreError):
        store.add_step(exp.id + 1000, 0, 1, 0.5)
    assert store.steps(exp.id, 9) == []  # reading an unknown trial's steps: nothing, no error
    assert store.steps(exp.id, 0) == []


# ------------------------------------------------------------------ nights
def test_nights_start_end_list(store: SQLStore) -> None:
    exp = make_experiment(store)
    other = make_experiment(store, "other")
    assert [store.start_night(exp.id) for _ in range(3)] == [1, 2, 3]
    assert store.start_night(other.id) == 1  # numbered per experiment
    store.end_night(exp.id, 1, status="done", n_trials=12, best_before=1.0, best_after=EXACT,
                    improvement=math.inf, recommended_trial=7,
                    recommended_config={"lr": EXACT, "opt": "Adam", "x": None},
                    predicted_mean=0.25, predicted_sem=math.nan, recommendation_changed=True,
                    detail="fine ✓")
    store.end_night(exp.id, 2, status="stopped", recommendation_changed=False)
    nights = store.nights(exp.id)
    assert [n.number for n in nights] == [1, 2, 3]
    first = nights[0]
    assert first == NightInfo(
        number=1, status="done", started_at=first.started_at, ended_at=first.ended_at,
        n_trials=12, best_before=1.0, best_after=EXACT, improvement=None, recommended_trial=7,
        recommended_config={"lr": EXACT, "opt": "Adam", "x": None}, predicted_mean=0.25,
        predicted_sem=None, recommendation_changed=True, detail="fine ✓",
    )
    assert first.ended_at is not None and first.started_at <= first.ended_at <= time.time()
    assert nights[1].status == "stopped" and nights[1].recommendation_changed is False
    assert nights[2].status == "running" and nights[2].ended_at is None
    assert [n.number for n in store.nights(other.id)] == [1]


def test_interrupt_nights_marks_only_running_ones(store: SQLStore) -> None:
    exp = make_experiment(store)
    other = make_experiment(store, "other")
    store.start_night(exp.id)
    store.end_night(exp.id, 1, status="done")
    store.start_night(exp.id)
    store.start_night(other.id)
    store.interrupt_nights(exp.id)
    nights = store.nights(exp.id)
    assert [(n.number, n.status) for n in nights] == [(1, "done"), (2, "interrupted")]
    assert nights[0].detail is None and nights[1].detail
    assert [n.status for n in store.nights(other.id)] == ["running"]
    assert store.start_night(exp.id) == 3


# ------------------------------------------------------------------ leases
def test_lease_is_exclusive_and_names_its_holder(store: SQLStore) -> None:
    exp = make_experiment(store)
    assert store.lease(exp.id) is None
    a, b = live_other_owner(), Owner.current()
    store.acquire_lease(exp.id, a)
    store.acquire_lease(exp.id, a)  # re-acquiring one's own lease is fine
    lease = store.lease(exp.id)
    assert lease is not None
    assert (lease["owner"], lease["pid"], lease["alive"]) == (str(a), a.pid, True)
    with pytest.raises(LockedError) as err:
        store.acquire_lease(exp.id, b)
    assert err.value.holder["pid"] == a.pid and err.value.holder["owner"] == str(a)
    assert f"pid {a.pid}" in str(err.value)
    assert store.lease(exp.id) == lease


def test_create_experiment_with_owner_holds_the_lease(store: SQLStore) -> None:
    a = live_other_owner()
    exp = make_experiment(store, owner=a)
    lease = store.lease(exp.id)
    assert lease is not None and lease["owner"] == str(a)
    with pytest.raises(LockedError):
        store.acquire_lease(exp.id, Owner.current())


def test_lease_with_an_old_heartbeat_is_taken_over(store: SQLStore) -> None:
    exp = make_experiment(store)
    a, b = live_other_owner(), Owner.current()
    store.acquire_lease(exp.id, a)
    set_columns(store, leases, leases.c.experiment_id == exp.id,
                heartbeat_at=time.time() - 3600)
    store.acquire_lease(exp.id, b)
    lease = store.lease(exp.id)
    assert lease is not None and lease["owner"] == str(b) and lease["pid"] == b.pid
    assert time.time() - lease["heartbeat_at"] < 5
    with pytest.raises(LockedError):  # and now a is the one locked out
        store.acquire_lease(exp.id, a)


def test_lease_of_another_host_is_judged_by_heartbeat_only(store: SQLStore) -> None:
    exp = make_experiment(store)
    remote = Owner("elsewhere.invalid", dead_pid(), "remote0000")  # that pid means nothing here
    store.acquire_lease(exp.id, remote)
    with pytest.raises(LockedError):
        store.acquire_lease(exp.id, Owner.current())
    set_columns(store, leases, leases.c.experiment_id == exp.id,
                heartbeat_at=time.time() - 3600)
    me = Owner.current()
    store.acquire_lease(exp.id, me)
    assert store.lease(exp.id)["owner"] == str(me)  # type: ignore[index]


def test_lease_of_a_dead_pid_on_this_host_is_taken_over_despite_fresh_heartbeat(
    store: SQLStore,
) -> None:
    exp = make_experiment(store)
    dead = Owner(socket.gethostname(), dead_pid(), "dead000000")
    store.acquire_lease(exp.id, dead)
    lease = store.lease(exp.id)
    assert lease is not None and lease["alive"] is False
    assert time.time() - lease["heartbeat_at"] < 5  # fresh: only the dead pid gives it away
    b = Owner.current()
    store.acquire_lease(exp.id, b)
    assert store.lease(exp.id)["owner"] == str(b)  # type: ignore[index]


def test_release_then_reacquire(store: SQLStore) -> None:
    exp = make_experiment(store)
    a, b = live_other_owner(), Owner.current()
    store.acquire_lease(exp.id, a)
    store.release_lease(exp.id, b)  # not b's to release: nothing happens
    assert store.lease(exp.id)["owner"] == str(a)  # type: ignore[index]
    with pytest.raises(LockedError):
        store.acquire_lease(exp.id, b)
    store.release_lease(exp.id, a)
    assert store.lease(exp.id) is None
    store.acquire_lease(exp.id, b)
    assert store.lease(exp.id)["owner"] == str(b)  # type: ignore[index]
    store.release_lease(exp.id, b)
    store.acquire_lease(exp.id, a)
    assert store.lease(exp.id)["owner"] == str(a)  # type: ignore[index]


def test_two_threads_racing_for_a_stale_lease_exactly_one_wins(
    store: SQLStore, store_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    exp = make_experiment(store)
    store.acquire_lease(exp.id, Owner(socket.gethostname(), dead_pid(), "stale00000"))
    # Both threads must have judged the old holder gone before either writes: the
    # take-over itself (one conditional UPDATE) is what has to pick the single winner.
    both_judged = threading.Barrier(2, timeout=20)
    real_owner_gone = store_sql.owner_gone

    def owner_gone_then_wait(*args: Any, **kwargs: Any) -> bool:
        gone = real_owner_gone(*args, **kwargs)
        both_judged.wait()
        return gone

    monkeypatch.setattr(store_sql, "owner_gone", owner_gone_then_wait)
    owners = [Owner.current(), Owner.current()]
    stores = [open_store(store_url), open_store(store_url)]
    outcomes: list[Any] = [None, None]

    def take(i: int) -> None:
        try:
            stores[i].acquire_lease(exp.id, owners[i])
            outcomes[i] = "won"
        except BaseException as err:  # noqa: BLE001 - reported by the assertions below
            outcomes[i] = err

    threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    monkeypatch.undo()
    for st in stores:
        st.close()
    assert not any(t.is_alive() for t in threads)
    winners = [i for i in range(2) if outcomes[i] == "won"]
    losers = [i for i in range(2) if isinstance(outcomes[i], LockedError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert store.lease(exp.id)["owner"] == str(owners[winners[0]])  # type: ignore[index]


# ------------------------------------------------------------------ orphans and heartbeats
def test_interrupt_orphans_marks_dead_owners_trials_only(store: SQLStore) -> None:
    exp = make_experiment(store)
    dead = Owner(socket.gethostname(), dead_pid(), "dead000000")
    me = Owner.current()
    remote = Owner("elsewhere.invalid", 4242, "remote0000")
    store.add_trial(exp.id, running(0), owner=dead)  # fresh heartbeat, dead pid
    store.add_trial(exp.id, running(1), owner=me)  # alive, fresh heartbeat
    store.add_trial(exp.id, running(2), owner=remote)  # other host, fresh: alive
    store.add_trial(exp.id, running(3), owner=remote)  # other host, stale heartbeat
    set_columns(store, trials, trials.c.number == 3, heartbeat_at=time.time() - 3600)
    store.add_trial(exp.id, finished(running(4), status="completed", mean=1.0), owner=dead)

    before = time.time()
    assert sorted(store.interrupt_orphans(exp.id)) == [0, 3]
    got = {t.trial: t for t in store.trials(exp.id)}
    assert [got[n].status for n in range(5)] == [
        "interrupted", "running", "running", "interrupted", "completed"]
    assert got[0].reason == "interrupted" and str(dead) in (got[0].detail or "")
    assert str(remote) in (got[3].detail or "")
    assert got[0].ended_at is not None and got[0].ended_at >= before
    assert sorted(t["trial"] for t in store.running_trials(exp.id)) == [1, 2]
    assert store.interrupt_orphans(exp.id) == []  # idempotent


def test_heartbeat_refreshes_lease_and_own_running_trials(store: SQLStore) -> None:
    me, other = Owner.current(), live_other_owner()
    exp = make_experiment(store, owner=me)
    store.add_trial(exp.id, running(0), owner=me)
    store.add_trial(exp.id, running(1), owner=other)
    old = time.time() - 1000
    set_columns(store, leases, leases.c.experiment_id == exp.id, heartbeat_at=old)
    set_columns(store, trials, trials.c.experiment_id == exp.id, heartbeat_at=old)

    before = time.time()
    store.heartbeat(exp.id, me)
    lease = store.lease(exp.id)
    assert lease is not None and lease["heartbeat_at"] >= before
    beats = {t["trial"]: t["heartbeat_at"] for t in store.running_trials(exp.id)}
    assert beats[0] >= before
    assert beats[1] == old  # another owner's trial is not ours to renew

    store.heartbeat(exp.id, other)  # other does not hold the lease: only its trial beats
    assert store.lease(exp.id)["owner"] == str(me)  # type: ignore[index]
    assert {t["trial"]: t["heartbeat_at"] for t in store.running_trials(exp.id)}[1] >= before


# ------------------------------------------------------------------ schema
def test_migrated_schema_matches_the_metadata(store: SQLStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        # No noise filter needed: the migration names its indexes as the metadata's
        # ``index=True`` does, on both backends.
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() is not None


def test_opening_twice_is_a_no_op_and_keeps_data(
    store: SQLStore, store_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    exp = make_experiment(store)
    record = finished(running(0), status="completed", mean=EXACT)
    store.add_trial(exp.id, record)
    store.close()
    before = _row_counts(store_url)

    import alembic.command

    def no_upgrade(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an up-to-date store must not be migrated again")

    monkeypatch.setattr(alembic.command, "upgrade", no_upgrade)
    again = open_store(store_url)
    try:
        assert again.get_experiment("exp") == exp
        assert again.trials(exp.id) == [record]
        assert _row_counts(store_url) == before  # same rows, same schema revision
    finally:
        again.close()


def test_a_store_of_the_first_revision_is_migrated_and_keeps_its_rows(store_url: str) -> None:
    """A store written by a bo_hpo of schema 0001 (before space versions kept their carry
    defaults): opening it upgrades it to head in place, and its rows read as before."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location",
                           str(Path(store_sql.__file__).parent / "migrations"))
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            assert conn.exec_driver_sql(
                f"SELECT version_num FROM {VERSION_TABLE}").scalar_one() == "0001"
            conn.exec_driver_sql(
                "INSERT INTO bo_hpo_experiments (name, created_at, updated_at, source, spec, "
                "fingerprint, space_version, versions, seed, minimize, status, seconds_spent) "
                "VALUES ('old', 1.0, 1.0, 'python', '{\"baseline\": {\"x\": 0.5}}', 'f', 1, "
                "'{}', 0, true, 'done', 0.0)")
            exp_id = conn.exec_driver_sql("SELECT id FROM bo_hpo_experiments").scalar_one()
            conn.exec_driver_sql(
                "INSERT INTO bo_hpo_space_versions (experiment_id, version, fingerprint, space, "
                f"change, created_at) VALUES ({exp_id}, 1, 'f', '{{}}', NULL, 1.0)")
    finally:
        engine.dispose()
    store = open_store(store_url)
    try:
        head = ScriptDirectory.from_config(config).get_current_head()
        assert _row_counts(store_url)["version"] == head != "0001"
        info = store.get_experiment("old")
        assert info is not None and info.spec == {"baseline": {"x": 0.5}}
        (version,) = store.space_versions(info.id)
        assert version["version"] == 1 and version["defaults"] == {}
        store.add_space_version(info.id, fingerprint="g", space={}, spec=info.spec,
                                change="added y", defaults={"y": 0.2})
        assert [v["defaults"] for v in store.space_versions(info.id)] == [{}, {"y": 0.2}]
    finally:
        store.close()


def _row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                      for t in metadata.sorted_tables}
            counts["version"] = conn.exec_driver_sql(
                f"SELECT version_num FROM {VERSION_TABLE}").scalar_one()
        return counts
    finally:
        engine.dispose()


def test_newer_schema_is_refused_and_nothing_changes(store: SQLStore, store_url: str) -> None:
    exp = make_experiment(store, owner=Owner.current())
    store.add_trial(exp.id, running(0), owner=Owner.current())
    store.start_night(exp.id)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff_future'")
    store.close()

    before = _row_counts(store_url)
    assert before["version"] == "ffff_future" and before["bo_hpo_trials"] == 1
    path = Path(make_url(store_url).database or "") if store_url.startswith("sqlite") else None
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path else None

    with pytest.raises(StoreError, match="newer") as err:
        open_store(store_url)
    assert "ffff_future" in str(err.value)
    if path is not None:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert _row_counts(store_url) == before


def test_renaming_onto_a_taken_name_is_a_store_error(store) -> None:
    common = dict(spec={}, fingerprint="f", source="python", minimize=True, seed=0,
                  device=None, versions={}, space={})
    a = store.create_experiment("a", **common)
    store.create_experiment("b", **common)
    with pytest.raises(StoreError, match="exists"):
        store.rename_experiment(a.id, "b")
    assert store.get_experiment("a") is not None


def test_a_step_reported_twice_keeps_the_latest_value(store) -> None:
    from bo_hpo.trial import TrialRecord

    exp = store.create_experiment("s", spec={}, fingerprint="f", source="python",
                                  minimize=True, seed=0, device=None, versions={}, space={})
    store.add_trial(exp.id, TrialRecord(trial=0, config={"x": 1}, status="running",
                                        generator="sobol"))
    store.add_step(exp.id, 0, 1, 0.5)
    store.add_step(exp.id, 0, 1, 0.25)
    assert store.steps(exp.id, 0) == [(1, 0.25)]
