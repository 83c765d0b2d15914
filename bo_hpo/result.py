"""Trial records (plain data) and the TuningResult handed back by ``tune``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

Status = Literal["completed", "failed", "invalid"]

#: Columns of ``TuningResult.trials`` besides the parameters.
COLUMNS = (
    "trial", "status", "generator", "is_baseline", "mean", "sem", "reason", "detail",
    "proposal_seconds", "eval_seconds", "started_at",
)


@dataclass
class TrialRecord:
    """One proposal and what became of it; plain data, no Ax objects.

    ``status`` is ``completed`` (measured), ``failed`` (raised, returned NaN/inf, timed out;
    ``reason`` says which) or ``invalid`` (rejected by ``is_valid``, never evaluated).
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
    metrics: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    fallback: str | None = None  # why the model's proposal was replaced, if it was

    def row(self, param_names: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {c: getattr(self, c) for c in COLUMNS}
        for name in param_names:
            key = f"param_{name}" if name in COLUMNS else name
            out[key] = self.config.get(name)
        for name, (m, s) in self.metrics.items():
            out[f"metric_{name}"] = m
            out[f"metric_{name}_sem"] = s
        out["fallback"] = self.fallback
        return out


@dataclass(frozen=True)
class Prediction:
    """The model's belief about one configuration: mean and standard error."""

    mean: float
    sem: float

    def __iter__(self):  # allows ``mean, sem = result.best_predicted``
        return iter((self.mean, self.sem))


@dataclass
class TuningResult:
    """What ``tune`` found.

    Attributes:
        best_config: the evaluated configuration the model believes best (in-sample, as
            Ax's best parameterization); the best observed one when no model was fit.
        best_predicted: the model's mean and SEM at ``best_config``; ``None`` when no model.
        best_trial: the trial number of ``best_config``.
        best_observed: the best raw measurement (config, mean, sem, trial); with noise it
            is often a lucky draw, which is why the recommendation is the model's.
        baseline: the baseline trial (config, observed and predicted values) or ``None``.
        improvement: how much ``best_config`` beats the baseline, positive when better, in
            objective units (predicted vs predicted when a model exists).
        trials: one row per proposal (completed, failed and invalid), parameters as columns.
        budget_spent: ``{"trials", "seconds", "device_hours"}`` actually used.
        stop_reason: why the loop stopped.
        recommendation_source: ``"model"`` or ``"observed"``.
    """

    best_config: dict[str, Any]
    best_predicted: Prediction | None
    best_trial: int
    best_observed: dict[str, Any]
    baseline: dict[str, Any] | None
    improvement: float | None
    records: list[TrialRecord]
    param_names: list[str]
    budget_spent: dict[str, float]
    stop_reason: str
    minimize: bool
    recommendation_source: str
    notes: list[str] = field(default_factory=list)

    @property
    def trials(self) -> pd.DataFrame:
        return trials_frame(self.records, self.param_names)

    @property
    def failures(self) -> list[TrialRecord]:
        return [r for r in self.records if r.status == "failed"]

    def summary(self) -> str:
        sign = "lower" if self.minimize else "higher"
        lines = [f"best config (trial {self.best_trial}, {self.recommendation_source}):"]
        lines += [f"  {k} = {_fmt(v)}" for k, v in self.best_config.items()]
        if self.best_predicted is not None:
            lines.append(
                f"predicted: {self.best_predicted.mean:.4g} ± {self.best_predicted.sem:.3g} "
                f"({sign} is better)"
            )
        obs = self.best_observed
        lines.append(f"best observed: {obs['mean']:.4g} (trial {obs['trial']})")
        if self.baseline is not None and self.improvement is not None:
            lines.append(
                f"baseline: {self.baseline['mean']:.4g} observed; improvement over it: "
                f"{self.improvement:+.4g}"
            )
        counts = {s: sum(r.status == s for r in self.records) for s in
                  ("completed", "failed", "invalid")}
        lines.append(
            f"trials: {counts['completed']} completed, {counts['failed']} failed, "
            f"{counts['invalid']} invalid; stopped: {self.stop_reason}"
        )
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def trials_frame(records: list[TrialRecord], param_names: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([r.row(param_names) for r in records])


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
        return f"{value:.3e}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def as_plain(config: Mapping[str, Any]) -> dict[str, Any]:
    """numpy scalars -> Python scalars, so configs print and serialise cleanly."""
    out = {}
    for k, v in config.items():
        out[k] = v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v
    return out
