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
