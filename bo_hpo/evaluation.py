"""What an objective or evaluator hands back for one trial: plain data, no Ax, no torch."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Evaluation:
    """One trial's measured objective.

    Attributes:
        mean: the objective's value (for example validation error); lower or higher is
            better as the ``tune`` call says.
        sem: standard error of ``mean``; ``None`` when unknown (the model then infers noise).
        metrics: further named metrics, each ``(mean, sem)`` or a bare number (no sem);
            recorded, not optimised.
        metadata: anything worth keeping beside the trial (seconds, epochs, device, ...).
    """

    mean: float
    sem: float | None = None
    metrics: Mapping[str, tuple[float, float | None] | float] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def is_finite(self) -> bool:
        return math.isfinite(self.mean) and (self.sem is None or math.isfinite(self.sem))
