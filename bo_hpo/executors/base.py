"""The executor contract."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class Outcome:
    """What running one trial gave: the objective's return value or the error it raised.

    Attributes:
        trial: the loop's trial number.
        value: whatever the objective returned (normalised later by the loop).
        error: the exception raised, if any.
        timed_out: True when the trial ran past its time limit.
        seconds: wall-clock seconds the evaluation took.
        started_at: Unix time the evaluation started.
        devices: how many devices the trial held (for device-hours).
        worker: which process, thread or node ran it (for the trial table).
    """

    trial: int
    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    seconds: float = 0.0
    started_at: float = 0.0
    devices: int = 1
    worker: str | None = None


class WorkerLost(Exception):
    """The process or node running a trial died (killed, crashed, node lost); the loop
    fails the trial with reason ``worker_lost`` and retries its config."""


class Executor(Protocol):
    """Runs trials; ``capacity`` of them may be in flight at once."""

    capacity: int

    def submit(
        self, trial: int, fn: Callable[[dict[str, Any]], Any], config: Mapping[str, Any],
        timeout: float | None,
    ) -> None: ...

    def wait(self) -> list[Outcome]:
        """Block until at least one submitted trial finishes; return the finished ones."""
        ...

    def in_flight(self) -> int: ...

    def shutdown(self) -> None: ...
