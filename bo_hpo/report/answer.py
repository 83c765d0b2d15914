"""The answer first (section 1): the recommendation against the baseline, the final
evaluation's scores, and one plain-language sentence of verdict. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bo_hpo.report.data import failure_region, fmt, is_numeric_param, round_sig
from bo_hpo.space import Choice, Fixed, Float, SearchSpace
from bo_hpo.trial import TrialRecord

#: How each failure reason reads in a sentence ("4 of 20 trials diverged").
REASON_VERBS = {
    "diverged": "diverged", "out_of_memory": "ran out of memory", "timeout": "timed out",
    "exception": "raised an error", "non_finite": "returned NaN or inf",
    "shape": "had incompatible shapes", "invalid": "broke a rule and were skipped",
}


@dataclass
class FinalScore:
    """One score of the final evaluation (retrained once, scored on the held-out set)."""

    which: str  # "recommended" or "baseline"
    measure: str  # e.g. "test_error"
    value: float
    sem: float | None


@dataclass
class Answer:
    """The recommendation against the baseline, and a one-sentence verdict."""

    objective: str
    minimize: bool
    as_percent: bool
    source: str  # "model", "observed" or "none"
    trial: int | None
    config: dict[str, Any]
    predicted: tuple[float, float] | None  # (mean, sem)
    interval: tuple[float, float] | None  # 95%: mean ± 1.96 sem
    observed: tuple[float, float | None] | None  # the recommended trial's own measurement
    best_observed: tuple[float, int] | None  # the luckiest draw (mean, trial)
    baseline_trial: int | None
    baseline_observed: tuple[float, float | None] | None
    baseline_predicted: tuple[float, float] | None
    improvement: float | None  # positive = better than the baseline
    relative: float | None  # improvement / |baseline value|
    confidence: str | None  # "confident", "fairly sure", "unsure"
    final: list[FinalScore] = field(default_factory=list)
    final_note: str | None = None
    verdict: str = ""
    notes: list[str] = field(default_factory=list)


def answer_data(result: Any, objective: str = "objective", as_percent: bool = False,
                importance_order: Sequence[str] = ()) -> Answer:
    """The recommendation, its prediction and interval, the baseline and the verdict.

    Args:
        result: a :class:`~bo_hpo.TuningResult` (only its plain fields are read).
        objective: what the values measure, for sentences ("validation error rate").
        as_percent: the values are fractions (error rates); differences read in points.
        importance_order: parameter names, most important first (from the model), used to
            describe the recommendation in the verdict.
    """
    records = list(result.records)
    source = result.recommendation_source
    pred = result.best_predicted
    rec = next((r for r in records if r.trial == result.best_trial), None)
    base = result.baseline
    base_pred = base.get("predicted") if base else None
    improvement = result.improvement
    baseline_value = None
    if base is not None:
        baseline_value = base_pred.mean if (base_pred is not None and pred is not None) \
            else base.get("mean")
    # a share of the baseline only where both values lie on the same side of zero: for
    # an objective that crosses it (a log-likelihood, a difference) a percentage means
    # nothing ("+100.7% of the baseline")
    value = pred.mean if pred is not None else (rec.mean if rec is not None else None)
    relative = (improvement / abs(baseline_value)
                if improvement is not None and baseline_value not in (None, 0)
                and value is not None and (value > 0) == (baseline_value > 0) else None)
    confidence = None
    if pred is not None and base is not None and improvement is not None and \
            base.get("trial") != result.best_trial:
        # a baseline with no prediction (its value was clipped as far worse than most
        # before the fit) is compared as measured, with its own SEM if it has one
        spread = math.hypot(pred.sem, base_pred.sem if base_pred is not None
                            else (base.get("sem") or 0.0))
        z = improvement / spread if spread > 0 else math.inf
        confidence = "confident" if z >= 2 else "fairly sure" if z >= 1 else "unsure"
    best_obs = result.best_observed or {}
    answer = Answer(
        objective=objective, minimize=result.minimize, as_percent=as_percent, source=source,
        trial=None if source == "none" else result.best_trial,
        config=dict(result.best_config),
        predicted=None if pred is None else (pred.mean, pred.sem),
        interval=None if pred is None else (pred.mean - 1.96 * pred.sem,
                                            pred.mean + 1.96 * pred.sem),
        observed=None if rec is None or rec.mean is None else (rec.mean, rec.sem),
        best_observed=None if best_obs.get("mean") is None else
        (best_obs["mean"], best_obs["trial"]),
        baseline_trial=None if base is None else base.get("trial"),
        baseline_observed=None if base is None else (base.get("mean"), base.get("sem")),
        baseline_predicted=None if base_pred is None else (base_pred.mean, base_pred.sem),
        improvement=improvement, relative=relative, confidence=confidence,
        notes=list(result.notes),
    )
    answer.final, answer.final_note = final_scores(result.info, result.best_trial)
    answer.verdict = verdict(answer, records, result.space, importance_order)
    return answer


def final_scores(info: Mapping[str, Any], best_trial: int | None
                 ) -> tuple[list[FinalScore], str | None]:
    """The final evaluation's main score for the recommendation and the baseline."""
    final = info.get("final") or {}
    out = []
    for which in ("recommended", "baseline"):
        scores = final.get(which)
        if not isinstance(scores, Mapping):
            continue
        key = next((k for k in ("test_error", "test_loss", "val_loss", "val_error")
                    if k in scores), None)
        if key is None:
            key = next((k for k in scores if not k.endswith("_sem")
                        and isinstance(scores[k], (int, float))), None)
        if key is None:
            continue
        out.append(FinalScore(which, key, float(scores[key]), scores.get(f"{key}_sem")))
    note = None
    scored = info.get("final_trial")
    if out and scored is not None and best_trial is not None and scored != best_trial:
        note = (f"the final scores are for trial {scored}, the recommendation when they were "
                f"computed; trial {best_trial} is recommended now")
    return out, note


def describe_difference(value: float, objective: str, as_percent: bool,
                        relative: float | None = None) -> str:
    """``"3.4 points of validation error rate (21%)"`` or ``"0.034 in validation loss"``."""
    text = (f"{fmt(value * 100, 2)} points of {objective}" if as_percent
            else f"{fmt(value, 3)} in {objective}")
    return text + (f" ({abs(relative):.0%})" if relative is not None else "")


def verdict(answer: Answer, records: Sequence[TrialRecord], space: SearchSpace | None,
            importance_order: Sequence[str] = ()) -> str:
    """One plain-language sentence: what is recommended, by how much it beats the baseline,
    how sure the model is, and what went wrong where."""
    if answer.source == "none":
        return "No trial completed, so there is no recommendation yet."
    parts = [_describe_config(answer, space, importance_order)]
    if answer.baseline_trial is not None and answer.baseline_trial == answer.trial:
        parts[0] = "The baseline itself is still the best configuration"
    elif answer.improvement is not None and answer.baseline_trial is not None:
        if answer.improvement > 0:
            parts[0] += (" beats the baseline by "
                         + describe_difference(answer.improvement, answer.objective,
                                               answer.as_percent, answer.relative))
        else:
            parts[0] += (" does not beat the baseline (it is worse by "
                         + describe_difference(-answer.improvement, answer.objective,
                                               answer.as_percent) + ")")
    elif answer.predicted is not None:
        parts[0] += f" reaches a predicted {fmt(answer.predicted[0])} {answer.objective}"
    elif answer.observed is not None:
        parts[0] += f" reached {fmt(answer.observed[0])} {answer.objective}"
    if answer.source == "observed":
        parts.append("no model could be fitted, so this is the best observed trial")
    elif answer.confidence == "confident":
        parts.append("the model is confident")
    elif answer.confidence == "fairly sure":
        parts.append("the model is fairly sure (the gap is 1 to 2 standard errors)")
    elif answer.confidence == "unsure":
        parts.append("the difference is within the model's uncertainty")
    trouble = _trouble(records, space)
    if trouble:
        parts.append(trouble)
    return "; ".join(parts) + "."


def _describe_config(answer: Answer, space: SearchSpace | None,
                     importance_order: Sequence[str]) -> str:
    if space is None or not importance_order:
        return f"The recommended configuration (trial {answer.trial})"
    words = []
    label = next((n for n in importance_order if n in answer.config
                  and isinstance(space.params.get(n), Choice)
                  and not is_numeric_param(space.params[n])), None)
    if label is not None:
        value = answer.config[label]
        words.append(str(value) if isinstance(value, str) else f"{label} = {value}")
    numeric = [n for n in importance_order if n in answer.config and n != label
               and not isinstance(space.params.get(n), Fixed)][: 2 if label is None else 1]
    described = [f"{n} near {fmt(round_sig(answer.config[n], 2))}"
                 if isinstance(space.params[n], Float) else f"{n} = {answer.config[n]}"
                 for n in numeric]
    if not words and not described:
        return f"The recommended configuration (trial {answer.trial})"
    head = words[0] if words else ""
    tail = " and ".join(described)
    return f"{head} with {tail}" if head and tail else head or tail


def _trouble(records: Sequence[TrialRecord], space: SearchSpace | None) -> str:
    evaluated = [r for r in records if r.status in ("completed", "failed")]
    failed = [r for r in records if r.status == "failed"]
    invalid = [r for r in records if r.status == "invalid"]
    out = []
    if failed:
        counts: dict[str, int] = {}
        for r in failed:
            counts[r.reason or "failed"] = counts.get(r.reason or "failed", 0) + 1
        reason = max(counts, key=lambda k: counts[k])
        verb = REASON_VERBS.get(reason, f"failed ({reason})")
        text = f"{counts[reason]} of {len(evaluated)} trials {verb}"
        where = failure_region([r for r in failed if (r.reason or "failed") == reason],
                               records, space)
        if where:
            text += f" at {where}"
        others = len(failed) - counts[reason]
        if others:
            text += f" and {others} more failed otherwise"
        out.append(text)
    if invalid:
        out.append(f"{len(invalid)} proposal{'s' if len(invalid) != 1 else ''} broke a rule "
                   f"and {'were' if len(invalid) != 1 else 'was'} skipped")
    return "; ".join(out)
