"""When to stop: trials, wall clock, device-hours, and no-improvement patience."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bo_hpo.errors import ConfigError


@dataclass(frozen=True)
class Budget:
    """How much tuning may spend; the first limit reached stops it.

    Attributes:
        max_trials: evaluations (completed or failed, the baseline included). Invalid
            proposals rejected by ``is_valid`` are not evaluated and do not count.
        max_seconds: wall-clock seconds from the start; no new trial starts after it.
        max_device_hours: summed evaluation time of all trials, in hours, times the devices
            each used (one per trial unless the executor says otherwise).
        patience: stop after this many completed trials in a row that do not improve the
            best observed value by more than ``min_improvement``. ``None``: never.
        min_improvement: the smallest change that counts as an improvement (objective units).
    """

    max_trials: int | None = None
    max_seconds: float | None = None
    max_device_hours: float | None = None
    patience: int | None = None
    min_improvement: float = 0.0

    def __post_init__(self) -> None:
        for name in ("max_trials", "patience"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigError(f"Budget.{name} must be a positive integer, got {value!r}")
        for name in ("max_seconds", "max_device_hours"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value <= 0
            ):
                raise ConfigError(f"Budget.{name} must be a positive number, got {value!r}")
        if (
            isinstance(self.min_improvement, bool)
            or not isinstance(self.min_improvement, (int, float))
            or not math.isfinite(self.min_improvement) or self.min_improvement < 0
        ):
            raise ConfigError(
                f"Budget.min_improvement must be >= 0, got {self.min_improvement!r}"
            )
        if self.max_trials is None and self.max_seconds is None and self.max_device_hours is None:
            raise ConfigError(
                "a Budget needs at least one of max_trials, max_seconds or max_device_hours, "
                "got none (patience alone may never stop)"
            )


class BudgetTracker:
    """Counts what was spent and says why to stop (or ``None`` to go on)."""

    def __init__(
        self, budget: Budget, minimize: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.budget = budget
        self.minimize = minimize
        self._clock = clock
        self._start = clock()
        self.trials = 0
        self.device_seconds = 0.0
        self.best: float | None = None
        self.since_improvement = 0
        self._earlier_seconds = 0.0
        #: Where the limits apply, said in the stop reason: "" for the whole experiment,
        #: "this night's " when a nightly job's budget is the night's alone.
        self.scope = ""

    @property
    def seconds(self) -> float:
        return self._clock() - self._start + self._earlier_seconds

    def restore(self, records: Iterable[Any], seconds: float = 0.0) -> None:
        """Count what earlier sessions of a stored experiment spent: their evaluated
        trials, device time, wall-clock ``seconds``, and the no-improvement streak."""
        for r in records:
            if r.status in ("completed", "failed"):
                self.record(r.eval_seconds or 0.0, 1,
                            r.mean if r.status == "completed" else None)
        self._earlier_seconds = float(seconds)

    def record(self, eval_seconds: float, devices: int = 1, value: float | None = None) -> None:
        """Count one evaluated trial; ``value`` is its objective when it completed."""
        self.trials += 1
        self.device_seconds += eval_seconds * devices
        if value is None:
            return
        sign = 1.0 if self.minimize else -1.0
        if self.best is None or sign * (self.best - value) > self.budget.min_improvement:
            self.best = value
            self.since_improvement = 0
        else:
            self.since_improvement += 1

    def stop_reason(self, in_flight: int = 0) -> str | None:
        b = self.budget
        if b.max_trials is not None and self.trials + in_flight >= b.max_trials:
            return f"{self.scope}max_trials ({b.max_trials}) reached"
        if b.max_seconds is not None and self.seconds >= b.max_seconds:
            return f"{self.scope}max_seconds ({b.max_seconds:g} s) reached"
        if b.max_device_hours is not None and self.device_seconds / 3600 >= b.max_device_hours:
            return f"{self.scope}max_device_hours ({b.max_device_hours:g} h) reached"
        if b.patience is not None and self.since_improvement >= b.patience:
            return f"no improvement in {b.patience} trials"
        return None

    def spent(self) -> dict[str, float]:
        return {
            "trials": self.trials,
            "seconds": round(self.seconds, 3),
            "device_hours": self.device_seconds / 3600,
        }
