"""Several processes writing one SQLite store at once: no "database is locked", no lost or
duplicated trial numbers. Each process opens the file itself (``spawn``: nothing inherited)
and adds and finishes trials as fast as it can while heart-beating."""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from pathlib import Path
from typing import Any

from bo_hpo.store import Owner, open_store
from bo_hpo.trial import TrialRecord

PROCESSES = 4
TRIALS_EACH = 60


def _writer(url: str, exp_id: int, index: int, start: Any, results: Any) -> None:
    """Add and finish ``TRIALS_EACH`` trials; report ("ok", numbers) or ("error", text)."""
    try:
        store = open_store(url)
        owner = Owner.current()
        numbers = []
        start.wait(timeout=60)
        for i in range(TRIALS_EACH):
            record = TrialRecord(trial=0, config={"proc": index, "i": i}, status="running",
                                 generator=f"proc{index}", started_at=time.time())
            number = store.add_trial(exp_id, record, owner=owner)
            store.heartbeat(exp_id, owner)
            record.trial, record.status = number, "completed"
            record.mean, record.ended_at = float(index * 1000 + i), time.time()
            store.finish_trial(exp_id, record)
            numbers.append(number)
        store.close()
        results.put((index, "ok", numbers))
    except BaseException:  # noqa: BLE001 - everything goes back to the parent
        results.put((index, "error", traceback.format_exc()))


def test_four_processes_write_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    store = open_store(url)
    exp = store.create_experiment("shared", spec={}, fingerprint="0" * 64, source="python",
                                  minimize=True, seed=None, device=None, versions={}, space={})
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(url, exp.id, i, start, results))
             for i in range(PROCESSES)]
    for p in procs:
        p.start()
    start.set()

    reports: dict[int, tuple[str, Any]] = {}
    deadline = time.monotonic() + 120
    while len(reports) < PROCESSES and time.monotonic() < deadline:
        try:
            index, kind, payload = results.get(timeout=1)
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and results.empty():
                break
            continue
        reports[index] = (kind, payload)
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    errors = {i: payload for i, (kind, payload) in reports.items() if kind != "ok"}
    assert not errors, "\n".join(errors.values())
    assert sorted(reports) == list(range(PROCESSES)), f"some writers never reported: {reports}"
    assert [p.exitcode for p in procs] == [0] * PROCESSES

    stored = store.trials(exp.id)
    total = PROCESSES * TRIALS_EACH
    assert len(stored) == total
    assert [t.trial for t in stored] == list(range(total))
    assert sorted(n for _, numbers in reports.values() for n in numbers) == list(range(total))
    assert store.running_trials(exp.id) == []
    assert {t.status for t in stored} == {"completed"}
    for t in stored:  # each number carries the trial its writer finished under it
        assert t.mean == t.config["proc"] * 1000 + t.config["i"]
    store.close()
