"""The TuningResult handed back by ``tune`` (trial records live in :mod:`bo_hpo.trial`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bo_hpo.trial import (  # noqa: F401 - re-exported for existing imports
    COLUMNS,
    Prediction,
    Status,
    TrialRecord,
    as_plain,
    is_finite_number,
)

if TYPE_CHECKING:
    import pandas as pd

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
    space: Any = field(default=None, repr=False)  # the SearchSpace searched
    #: What the report shows about the run: name, seed, budget, method, device, versions,
    #: store (password hidden), nights and final scores, when known. Plain data.
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    def report(self, path: str | Any) -> Any:
        """Write this result's self-contained HTML report to ``path`` (needs plotly:
        ``pip install 'bo-hpo[report]'``); returns the path."""
        from bo_hpo.report import write_report

        return write_report(self, path)

    @property
    def trials(self) -> pd.DataFrame:
        return trials_frame(self.records, self.param_names)

    @property
    def failures(self) -> list[TrialRecord]:
        return [r for r in self.records if r.status == "failed"]

    def summary(self) -> str:
        sign = "lower" if self.minimize else "higher"
        counts = {s: sum(r.status == s for r in self.records) for s in
                  ("completed", "failed", "invalid", "interrupted")}
        tally = (f"trials: {counts['completed']} completed, {counts['failed']} failed, "
                 f"{counts['invalid']} invalid"
                 + (f", {counts['interrupted']} interrupted" if counts["interrupted"] else "")
                 + (f"; {_NOT_STOPPED[self.stop_reason]}" if self.stop_reason in _NOT_STOPPED
                    else f"; stopped: {self.stop_reason}"))
        if self.recommendation_source == "none":
            return "\n".join([tally] + [f"note: {note}" for note in self.notes])
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
            base_pred = self.baseline.get("predicted")
            if base_pred is not None and self.best_predicted is not None:
                # both sides predicted, so the numbers on the line add up
                lines.append(
                    f"baseline: {self.baseline['mean']:.4g} observed, {base_pred.mean:.4g} "
                    f"predicted; improvement over it (predicted): {self.improvement:+.4g}"
                )
            else:
                lines.append(
                    f"baseline: {self.baseline['mean']:.4g} observed; improvement over it: "
                    f"{self.improvement:+.4g}"
                )
        lines.append(tally)
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


#: A stored experiment's status where no run has stopped it (``load`` of an ask/tell
#: experiment, or of one a run holds or a kill left): what the summary says instead.
_NOT_STOPPED = {"created": "open: its trials come from ask and tell",
                "running": "a run holds it, or one was killed (`bo-hpo status` says which)"}


def trials_frame(records: list[TrialRecord], param_names: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([r.row(param_names) for r in records])


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
        return f"{value:.3e}"
    if isinstance(value, float):  # a whole float keeps its point: 0.0 is not the int 0
        text = f"{value:.4g}"
        return text + ".0" if text.lstrip("-").isdigit() else text
    return repr(value)
