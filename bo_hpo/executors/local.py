"""The default executor: one trial at a time, in this process."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from bo_hpo.executors.base import Outcome

logger = logging.getLogger(__name__)


class SequentialExecutor:
    """Runs each trial in this process, one at a time.

    Without a timeout the objective runs in the calling thread. With one it runs in a
    daemon thread; a trial past its limit is reported as timed out and abandoned. Python
    cannot kill a thread, so an abandoned objective keeps running in the background until
    it returns: evaluators should also stop themselves (bo_hpo's evaluators take a
    ``time_limit``).
    """

    capacity = 1
    in_process = True  # the objective runs here: bo_hpo.report reaches the loop

    def __init__(self) -> None:
        self._pending: list[tuple[int, Callable[[dict[str, Any]], Any], dict[str, Any],
                                  float | None]] = []

    def submit(
        self, trial: int, fn: Callable[[dict[str, Any]], Any], config: Mapping[str, Any],
        timeout: float | None,
    ) -> None:
        if self._pending:
            raise RuntimeError("SequentialExecutor runs one trial at a time")
        self._pending.append((trial, fn, dict(config), timeout))

    def in_flight(self) -> int:
        return len(self._pending)

    def wait(self) -> list[Outcome]:
        if not self._pending:
            return []
        trial, fn, config, timeout = self._pending.pop()
        started_at = time.time()
        t0 = time.perf_counter()
        if timeout is None:
            try:
                value = fn(config)
            except Exception as err:  # any objective error becomes a failed trial
                return [Outcome(trial, error=err, seconds=time.perf_counter() - t0,
                                started_at=started_at)]
            return [Outcome(trial, value=value, seconds=time.perf_counter() - t0,
                            started_at=started_at)]
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn(config)
            except BaseException as err:  # noqa: BLE001 - reported to the loop
                box["error"] = err

        thread = threading.Thread(target=target, name=f"bo_hpo-trial-{trial}", daemon=True)
        thread.start()
        thread.join(timeout)
        seconds = time.perf_counter() - t0
        if thread.is_alive():
            logger.warning(
                "trial %d ran past its %.1f s limit; marked failed (timeout) and left "
                "running in a background thread", trial, timeout,
            )
            return [Outcome(trial, timed_out=True, seconds=seconds, started_at=started_at)]
        return [Outcome(trial, value=box.get("value"), error=box.get("error"),
                        seconds=seconds, started_at=started_at)]

    def shutdown(self) -> None:
        self._pending.clear()


class ThreadExecutor:
    """Runs up to ``workers`` trials at once in threads of this process: parallelism for a
    closure, for objectives that wait (on a GPU, a subprocess, a remote service) rather
    than compute in Python. A trial past its timeout is reported and abandoned, as with
    :class:`SequentialExecutor`; use the process executor to stop it for real."""

    def __init__(self, workers: int) -> None:
        import queue

        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            from bo_hpo.errors import ConfigError

            raise ConfigError(f"workers must be a positive integer, got {workers!r}")
        self.capacity = workers
        self.in_process = True
        self._slots: dict[int, int] = {}  # trial -> worker slot, for the trial table
        self._done: queue.Queue[Outcome] = queue.Queue()
        self._running: dict[int, tuple[float, float | None, float]] = {}

    def submit(
        self, trial: int, fn: Callable[[dict[str, Any]], Any], config: Mapping[str, Any],
        timeout: float | None,
    ) -> None:
        if len(self._running) >= self.capacity:
            raise RuntimeError("ThreadExecutor: every worker is busy")
        started, started_at = time.perf_counter(), time.time()
        self._running[trial] = (started, None if timeout is None else started + timeout,
                                started_at)
        taken = set(self._slots.values())
        slot = next(i for i in range(self.capacity + len(taken) + 1) if i not in taken)
        self._slots[trial] = slot
        config = dict(config)

        def target() -> None:
            try:
                outcome = Outcome(trial, value=fn(config))
            except BaseException as err:  # noqa: BLE001 - reported to the loop
                outcome = Outcome(trial, error=err)
            outcome.seconds = time.perf_counter() - started
            outcome.started_at = started_at
            outcome.worker = f"thread {slot}"
            self._done.put(outcome)

        threading.Thread(target=target, name=f"bo_hpo-trial-{trial}", daemon=True).start()

    def in_flight(self) -> int:
        return len(self._running)

    def wait(self) -> list[Outcome]:
        import queue

        if not self._running:
            return []
        while True:
            deadlines = [d for _, d, _ in self._running.values() if d is not None]
            timeout = None if not deadlines else max(0.0, min(deadlines) - time.perf_counter())
            try:
                outcome = self._done.get(timeout=timeout)
            except queue.Empty:
                outcome = None
            outcomes = []
            if outcome is not None and outcome.trial in self._running:
                del self._running[outcome.trial]
                self._slots.pop(outcome.trial, None)
                outcomes.append(outcome)
            now = time.perf_counter()
            for trial, (started, deadline, started_at) in list(self._running.items()):
                if deadline is not None and now >= deadline:
                    logger.warning("trial %d ran past its time limit; marked failed (timeout) "
                                   "and left running in a background thread", trial)
                    del self._running[trial]
                    self._slots.pop(trial, None)  # its thread may go on; the slot is free
                    outcomes.append(Outcome(trial, timed_out=True, seconds=now - started,
                                            started_at=started_at))
            if outcomes:
                return outcomes

    def shutdown(self) -> None:
        self._running.clear()
        self._slots.clear()
