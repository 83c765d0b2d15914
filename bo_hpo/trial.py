"""Trial records: the plain data that the loop writes, the store keeps, and the report and
the proposer's ``replay`` read. No Ax objects, no torch."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

Status = Literal["running", "completed", "failed", "invalid", "interrupted"]

#: Statuses a trial can end in; ``running`` is the only one that changes.
FINAL_STATUSES = frozenset({"completed", "failed", "invalid", "interrupted"})

#: Failure reasons that say something about the configuration itself; the model is told
#: the worst value seen so far for them, so it learns to avoid the region.
PENALISED_REASONS = frozenset({"diverged", "non_finite", "out_of_memory", "timeout", "shape"})

#: Columns of ``TuningResult.trials`` besides the parameters.
COLUMNS = (
    "trial", "status", "generator", "is_baseline", "mean", "sem", "reason", "detail",
    "proposal_seconds", "eval_seconds", "started_at", "ended_at", "night", "retry_of",
    "predicted_mean", "predicted_sem", "worker",
)


@dataclass
class TrialRecord:
    """One proposal and what became of it; plain data, no Ax objects.

    ``status`` is ``running`` (being evaluated), ``completed`` (measured), ``failed``
    (raised, returned NaN/inf, timed out; ``reason`` says which), ``invalid`` (rejected by
    ``is_valid``, never evaluated) or ``interrupted`` (its process died mid-evaluation; the
    config is re-run as a new trial whose ``retry_of`` points back here).
    """

    trial: int
    config: dict[str, Any]
    status: Status
    generator: str
    is_baseline: bool = False
    mean: float | None = None
    sem: float | None = None
    reason: str | None = None
    detail: str | None = None
    proposal_seconds: float = 0.0
    eval_seconds: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    metrics: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    fallback: str | None = None  # why the model's proposal was replaced, if it was
    night: int | None = None  # the nightly run it belongs to
    retry_of: int | None = None  # the interrupted trial whose config this one re-runs
    predicted_mean: float | None = None  # the model's belief, from the last fit
    predicted_sem: float | None = None
    worker: str | None = None  # which process or node ran it

    @property
    def evaluated(self) -> bool:
        """Whether it counts against the trial budget (completed or failed)."""
        return self.status in ("completed", "failed")

    def row(self, param_names: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {c: getattr(self, c) for c in COLUMNS}
        for name in param_names:
            key = f"param_{name}" if name in COLUMNS else name
            out[key] = self.config.get(name)
        for name, value in self.metrics.items():
            # (mean, sem); a bare number where an older version stored one as given
            m, s = value if isinstance(value, (tuple, list)) else (value, None)
            out[f"metric_{name}"] = m
            out[f"metric_{name}_sem"] = s
        out["fallback"] = self.fallback
        return out

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Prediction:
    """The model's belief about one configuration: mean and standard error."""

    mean: float
    sem: float

    def __iter__(self):  # allows ``mean, sem = result.best_predicted``
        return iter((self.mean, self.sem))


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def as_plain(config: Mapping[str, Any]) -> dict[str, Any]:
    """numpy scalars -> Python scalars, so configs print and serialise cleanly."""
    out = {}
    for k, v in config.items():
        out[k] = v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v
    return out
