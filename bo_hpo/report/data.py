"""What the report shows, as plain data: records in, dataclasses of lists and strings out.

Every function here is pure (no plotly, no Ax, no I/O), so the unit tests check the
numbers a chart will draw rather than the chart. The model-based views (importance, slices,
contour) are in :mod:`bo_hpo.report.model` and the advice in :mod:`bo_hpo.report.advice`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bo_hpo.space import Choice, Fixed, Float, Int, Rule, SearchSpace
from bo_hpo.trial import TrialRecord

#: How each failure reason reads in a sentence ("4 of 20 trials diverged").
REASON_VERBS = {
    "diverged": "diverged", "out_of_memory": "ran out of memory", "timeout": "timed out",
    "exception": "raised an error", "non_finite": "returned NaN or inf",
    "shape": "had incompatible shapes", "invalid": "broke a rule and were skipped",
}


# --------------------------------------------------------------------------- formatting
def fmt(value: Any, digits: int = 4) -> str:
    """A number as a person reads it (``0.0012``, ``3e-05``, ``512``); other values as text."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.{max(1, digits - 1)}g}"
    return f"{value:.{digits}g}"


def round_sig(value: float, digits: int = 2, mode: str = "nearest") -> float:
    """``value`` to ``digits`` significant digits, rounded down, up or to nearest."""
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)
    op = {"down": math.floor, "up": math.ceil, "nearest": round}[mode]
    # round(…, 6) first: 9.9999999e-06 (1e-5 through a log and back) is 1e-5, not 9e-6.
    return float(f"{op(round(value / scale, 6)) * scale:.{digits + 1}g}")


def is_numeric_param(p: Any) -> bool:
    """Float, Int, or a choice of numbers (which the model treats as ordered)."""
    return isinstance(p, (Float, Int)) or (
        isinstance(p, Choice) and p.is_numeric and p.modelled_as_ordered)


def is_log(p: Any) -> bool:
    return bool(getattr(p, "log", False))


def _completed(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    return [r for r in records if r.status == "completed" and r.mean is not None
            and math.isfinite(r.mean)]


def _sign(minimize: bool) -> float:
    return 1.0 if minimize else -1.0


# --------------------------------------------------------------------------- 1. the answer
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
    relative = (improvement / abs(baseline_value)
                if improvement is not None and baseline_value not in (None, 0) else None)
    confidence = None
    if pred is not None and base_pred is not None and improvement is not None and \
            base.get("trial") != result.best_trial:
        spread = math.hypot(pred.sem, base_pred.sem)
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


def failure_region(failed: Sequence[TrialRecord], records: Sequence[TrialRecord],
                   space: SearchSpace | None) -> str | None:
    """Where in the space ``failed`` happened, when one numeric parameter separates them
    from the completed trials: ``"lr above 0.03"``. ``None`` for fewer than two failures
    or no clean separation."""
    if space is None or len(failed) < 2:
        return None
    completed = _completed(records)
    best: tuple[float, str] | None = None
    for name, p in space.params.items():
        if not is_numeric_param(p) or isinstance(p, Fixed):
            continue
        bad = [float(r.config[name]) for r in failed if name in r.config]
        good = [float(r.config[name]) for r in completed if name in r.config]
        if len(bad) != len(failed) or not good:
            continue
        low, high = _bounds(p)
        width = _t(p, high) - _t(p, low) or 1.0
        lo_bad, hi_bad = min(bad), max(bad)
        # Share of the range beyond the threshold that holds no completed trial: bigger is a
        # cleaner, more useful statement.
        if all(g < lo_bad for g in good):
            score = (_t(p, lo_bad) - _t(p, max(good))) / width
            edge = round_sig(lo_bad, 2, "down")
            text = f"{name} {'above' if edge < lo_bad else '≥'} {fmt(edge)}"
            if best is None or score > best[0]:
                best = (score, text)
        if all(g > hi_bad for g in good):
            score = (_t(p, min(good)) - _t(p, hi_bad)) / width
            edge = round_sig(hi_bad, 2, "up")
            text = f"{name} {'below' if edge > hi_bad else '≤'} {fmt(edge)}"
            if best is None or score > best[0]:
                best = (score, text)
    return None if best is None else best[1]


def _bounds(p: Any) -> tuple[float, float]:
    if isinstance(p, (Float, Int)):
        return float(p.low), float(p.high)
    values = [float(v) for v in p.values_list()]
    return min(values), max(values)


def _t(p: Any, value: float) -> float:
    """A value on the parameter's own scale (log for log-scaled ones)."""
    return math.log(value) if is_log(p) and value > 0 else float(value)


def unit_position(p: Any, value: float) -> float:
    """Where ``value`` lies in the parameter's range, 0 (low) to 1 (high), on its scale."""
    low, high = _bounds(p)
    span = _t(p, high) - _t(p, low)
    return 0.5 if span == 0 else (_t(p, float(value)) - _t(p, low)) / span


# --------------------------------------------------------------------------- 2. the run
@dataclass
class SpecRow:
    """One parameter of the search space, as the spec table shows it."""

    name: str
    kind: str
    range: str
    scale: str
    condition: str
    recommended: str
    baseline: str


@dataclass
class RunInfo:
    """Facts about the run: label/value pairs, the spec table, constraints and rules."""

    facts: list[tuple[str, str]]
    spec: list[SpecRow]
    constraints: list[str]
    rules: list[str]
    versions: list[tuple[str, str]]


def run_data(result: Any) -> RunInfo:
    """The experiment, spec, budget given and used, stop reason, seed, device, versions and
    store, from ``result.info`` and ``result.space``."""
    info = result.info or {}
    space: SearchSpace | None = result.space
    facts: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value not in (None, "", {}, []):
            facts.append((label, value if isinstance(value, str) else fmt(value)))

    add("experiment", info.get("name"))
    add("evaluator", info.get("evaluator"))
    add("objective", ("minimise" if result.minimize else "maximise")
        + (f" {info['metric']}" if info.get("metric") else ""))
    add("method", {"bo": "Bayesian optimisation (Ax, BoTorch GP)",
                   "random": "quasi-random search"}.get(info.get("method"), info.get("method")))
    if space is not None:
        try:
            size = space.size()
            add("size of the space", "infinite (continuous parameters)" if math.isinf(size)
                else f"{int(size):,} configurations")
        except Exception:  # too many tied combinations to count; the page says so
            add("size of the space", "too many configurations to count")
    add("budget given", budget_text(info.get("budget") or {}))
    if info.get("nightly_budget"):
        add("each night", budget_text(info["nightly_budget"]))
    spent = result.budget_spent or {}
    used = [f"{int(spent.get('trials', 0))} trials"]
    if spent.get("seconds"):
        used.append(f"{spent['seconds']:.0f} s")
    if (spent.get("device_hours") or 0) >= 0.001:
        used.append(f"{spent['device_hours']:.3g} device-hours")
    add("budget used", ", ".join(used))
    add("stopped because", result.stop_reason)
    add("seed", info.get("seed"))
    add("device", info.get("device"))
    add("store", info.get("store"))
    add("experiment file", info.get("experiment_file"))
    add("status", info.get("status"))
    counts: dict[str, int] = {}
    for r in result.records:
        counts[r.status] = counts.get(r.status, 0) + 1
    add("trials", ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1])))
    spec = [] if space is None else spec_rows(space, result.best_config,
                                              (result.baseline or {}).get("config") or {})
    versions = [(k, str(v)) for k, v in (info.get("versions") or {}).items() if v]
    constraints = list(info.get("constraints") or
                       ([c.text for c in space.constraints] if space is not None else []))
    return RunInfo(facts, spec, constraints, list(info.get("rules") or []), versions)


def budget_text(budget: Mapping[str, Any]) -> str:
    """``{"max_trials": 20, "max_seconds": 420}`` -> ``"20 trials, 420 s"``."""
    parts = []
    if budget.get("max_trials"):
        parts.append(f"{budget['max_trials']} trials")
    if budget.get("max_seconds"):
        parts.append(f"{fmt(float(budget['max_seconds']))} s")
    if budget.get("max_device_hours"):
        parts.append(f"{fmt(float(budget['max_device_hours']))} device-hours")
    if budget.get("patience"):
        parts.append(f"stop after {budget['patience']} trials without improvement")
    return ", ".join(parts)


def spec_rows(space: SearchSpace, recommended: Mapping[str, Any],
              baseline: Mapping[str, Any]) -> list[SpecRow]:
    rows = []
    for name, p in space.params.items():
        if isinstance(p, (Float, Int)):
            rng, scale = f"[{fmt(p.low)}, {fmt(p.high)}]", "log" if p.log else "linear"
        elif isinstance(p, Choice):
            rng = ", ".join(str(v) for v in p.values)
            scale = "ordered" if p.modelled_as_ordered else "categorical"
        else:
            rng, scale = fmt(p.value), "—"  # type: ignore[union-attr]
        condition = " and ".join(f"{k} in {{{', '.join(str(v) for v in vs)}}}"
                                 for k, vs in p.when.items())
        rows.append(SpecRow(name, p.kind, rng, scale, condition,
                            fmt(recommended.get(name)) if name in recommended else "—",
                            fmt(baseline.get(name)) if name in baseline else "—"))
    return rows


# --------------------------------------------------------------------------- 3. the trace
@dataclass
class TraceData:
    """Every trial's value, the best so far, the baseline, failures and nights."""

    objective: str
    minimize: bool
    trials: list[int]  # completed trials
    values: list[float]
    sems: list[float | None]
    labels: list[str]  # hover text (generator, config)
    best_trials: list[int]  # the best-so-far step line
    best_values: list[float]
    baseline: float | None
    recommended: tuple[int, float] | None
    problems: dict[str, list[int]]  # "failed: diverged" / "invalid" -> trial numbers
    problem_y: float | None  # where problem markers sit: the worst value seen
    nights: list[tuple[int, float, float]]  # (night, first trial - 0.5, last trial + 0.5)
    log_y: bool


def trace_data(records: Sequence[TrialRecord], minimize: bool, objective: str = "objective",
               recommended_trial: int | None = None) -> TraceData:
    completed = sorted(_completed(records), key=lambda r: r.trial)
    sign = _sign(minimize)
    best_trials, best_values = [], []
    best = None
    for r in completed:
        if best is None or sign * r.mean < sign * best:
            best = r.mean
        best_trials.append(r.trial)
        best_values.append(best)
    baseline = next((r.mean for r in completed if r.is_baseline), None)
    problems: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: r.trial):
        if r.status in ("failed", "invalid", "interrupted"):
            key = "invalid" if r.status == "invalid" else (
                f"{r.status}: {r.reason}" if r.reason else r.status)
            problems.setdefault(key, []).append(r.trial)
    values = [r.mean for r in completed]
    worst = (max(values) if minimize else min(values)) if values else None
    nights: dict[int, list[int]] = {}
    for r in records:
        if r.night is not None:
            nights.setdefault(r.night, []).append(r.trial)
    rec = next(((r.trial, r.mean) for r in completed if r.trial == recommended_trial), None)
    positive = [v for v in values if v > 0]
    log_y = len(positive) == len(values) and len(values) >= 3 and \
        max(positive) / min(positive) > 100
    return TraceData(
        objective=objective, minimize=minimize, trials=[r.trial for r in completed],
        values=values, sems=[r.sem for r in completed],
        labels=[_hover(r) for r in completed], best_trials=best_trials,
        best_values=best_values, baseline=baseline, recommended=rec, problems=problems,
        problem_y=worst,
        nights=[(n, min(ts) - 0.5, max(ts) + 0.5) for n, ts in sorted(nights.items())],
        log_y=log_y)


def _hover(r: TrialRecord) -> str:
    head = f"trial {r.trial} ({r.generator}{', baseline' if r.is_baseline else ''})"
    return "\n".join([head] + [f"{k} = {fmt(v)}" for k, v in r.config.items()])


# --------------------------------------------------------------------------- 5. all trials
@dataclass
class TableRow:
    """One trial in the sortable table."""

    trial: int
    night: int | None
    status: str
    generator: str
    mean: float | None
    sem: float | None
    predicted: float | None
    reason: str | None
    detail: str | None
    seconds: float
    config: dict[str, Any]
    is_baseline: bool
    is_recommended: bool


def table_rows(records: Sequence[TrialRecord], recommended_trial: int | None) -> list[TableRow]:
    return [TableRow(r.trial, r.night, r.status, r.generator, r.mean, r.sem, r.predicted_mean,
                     r.reason, r.detail, round(r.eval_seconds, 3), dict(r.config),
                     r.is_baseline, r.trial == recommended_trial)
            for r in sorted(records, key=lambda r: r.trial)]


@dataclass
class ParallelData:
    """Parallel coordinates of the completed trials: one axis a parameter, then the value.

    Categorical values become positions ``0..k-1`` with their labels as ticks; log-scaled
    parameters are drawn as log10 with the real values as ticks; a conditional parameter
    that is inactive in a trial sits on an extra tick ``"inactive"`` below its range.
    """

    dimensions: list[dict[str, Any]]  # label, values, tickvals, ticktext, range
    color: list[float]
    objective: str
    minimize: bool


def parallel_data(records: Sequence[TrialRecord], space: SearchSpace, objective: str,
                  minimize: bool) -> ParallelData:
    completed = sorted(_completed(records), key=lambda r: r.trial)
    dims = []
    for name, p in space.params.items():
        if isinstance(p, Fixed):
            continue
        dims.append(_dimension(name, p, [r.config.get(name) for r in completed]))
    values = [r.mean for r in completed]
    dims.append({"label": objective, "values": values, "tickvals": None, "ticktext": None,
                 "range": None})
    return ParallelData(dims, values, objective, minimize)


def _dimension(name: str, p: Any, column: list[Any]) -> dict[str, Any]:
    missing = any(v is None for v in column)
    if isinstance(p, Choice):
        labels = [str(v) for v in p.values]
        positions = list(range(len(labels)))
        values: list[float] = [float(positions[_index(p, v)]) if v is not None else -1.0
                               for v in column]
        ticks, text = positions, labels
        low, high = 0.0, float(len(labels) - 1)
    else:
        log = p.log
        f = (lambda v: math.log10(v)) if log else float  # noqa: E731
        low, high = f(p.low), f(p.high)
        values = [f(v) if v is not None else math.nan for v in column]
        if log:
            decades = list(range(math.ceil(low - 1e-9), math.floor(high + 1e-9) + 1))
            ticks, text = decades, [fmt(10.0 ** d) for d in decades]
        else:
            ticks, text = None, None
    span = (high - low) or 1.0
    if missing:
        below = low - 0.15 * span
        values = [below if (v is None) else x for v, x in zip(column, values, strict=True)]
        ticks = (list(ticks) if ticks is not None else _linear_ticks(low, high)) + [below]
        text = (list(text) if text is not None else [fmt(t) for t in ticks[:-1]]) + ["inactive"]
        low = below
    return {"label": name, "values": values, "tickvals": ticks, "ticktext": text,
            "range": [low, high]}


def _index(p: Choice, value: Any) -> int:
    for i, v in enumerate(p.values):
        if p.contains(value) and p.canonical(value) is v:
            return i
    return 0


def _linear_ticks(low: float, high: float, n: int = 5) -> list[float]:
    return [round_sig(low + (high - low) * i / (n - 1), 3) for i in range(n)]


# --------------------------------------------------------------------------- 6. failures
@dataclass
class FailureGroup:
    """The trials that failed (or were invalid) for one reason."""

    reason: str
    status: str
    count: int
    trials: list[int]
    details: list[str]  # distinct messages, at most three
    where: str | None  # "lr above 0.03" when one parameter separates them


@dataclass
class FailureStrip:
    """Where failures sit along one numeric parameter: values per outcome."""

    name: str
    log: bool
    points: dict[str, list[float]]  # "completed" / "failed: diverged" / "invalid" -> values
    trials: dict[str, list[int]]


@dataclass
class FailureData:
    groups: list[FailureGroup]
    strips: list[FailureStrip]
    total: int  # trials proposed


def failure_data(records: Sequence[TrialRecord], space: SearchSpace | None,
                 rules: Sequence[str] = (), max_strips: int = 3) -> FailureData:
    """Failures and invalid proposals grouped by reason, with the numeric parameters along
    which they stand out from the completed trials (at most ``max_strips``)."""
    parsed = []
    for text in rules:
        try:
            parsed.append(Rule.parse(text))
        except Exception:  # a rule the current code cannot parse is simply not named
            continue
    groups: dict[tuple[str, str], list[TrialRecord]] = {}
    for r in records:
        if r.status not in ("failed", "invalid", "interrupted"):
            continue
        reason = r.reason or r.status
        if r.status == "invalid":
            rule = next((rule.text for rule in parsed if _holds(rule, r.config)), None)
            reason = f"invalid: {rule}" if rule else "invalid"
        groups.setdefault((r.status, reason), []).append(r)
    out = []
    for (status, reason), rs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        details: list[str] = []
        for r in rs:
            d = (r.detail or "").strip()
            if d and d not in details and len(details) < 3:
                details.append(d if len(d) <= 300 else d[:297] + "...")
        out.append(FailureGroup(reason, status, len(rs), [r.trial for r in rs], details,
                                failure_region(rs, records, space)))
    strips = [] if space is None or not out else _strips(records, space, out, max_strips)
    return FailureData(out, strips, len(records))


def _holds(rule: Rule, config: Mapping[str, Any]) -> bool:
    try:
        return bool(rule(config))
    except Exception:  # a rule naming an inactive parameter does not hold
        return False


def _strips(records: Sequence[TrialRecord], space: SearchSpace, groups: list[FailureGroup],
            max_strips: int) -> list[FailureStrip]:
    completed = _completed(records)
    bad = [r for r in records if r.status in ("failed", "invalid", "interrupted")]
    scored = []
    for name, p in space.params.items():
        if not is_numeric_param(p) or isinstance(p, Fixed):
            continue
        u_bad = [unit_position(p, r.config[name]) for r in bad if name in r.config]
        u_good = [unit_position(p, r.config[name]) for r in completed if name in r.config]
        if not u_bad:
            continue
        separation = abs(_median(u_bad) - _median(u_good)) if u_good else 0.5
        # A parameter inactive in some failures explains only those it is active in.
        scored.append((separation * len(u_bad) / len(bad), name))
    chosen = [n for _, n in sorted(scored, key=lambda s: (-s[0], s[1]))[:max_strips]]
    by_trial = {r.trial: r for r in records}
    strips = []
    for name in chosen:
        points: dict[str, list[float]] = {"completed": [], }
        trials: dict[str, list[int]] = {"completed": []}
        for r in completed:
            if name in r.config:
                points["completed"].append(float(r.config[name]))
                trials["completed"].append(r.trial)
        for g in groups:
            label = g.reason if g.status != "failed" else f"failed: {g.reason}"
            for t in g.trials:
                config = by_trial[t].config
                if name in config:
                    points.setdefault(label, []).append(float(config[name]))
                    trials.setdefault(label, []).append(t)
        strips.append(FailureStrip(name, is_log(space.params[name]), points, trials))
    return strips


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


# --------------------------------------------------------------------------- 7. nights
@dataclass
class NightRow:
    """One night of a nightly job."""

    number: int
    status: str
    started_at: float | None
    ended_at: float | None
    n_trials: int
    best_after: float | None
    improvement: float | None
    recommended_trial: int | None
    predicted: tuple[float, float] | None
    drift: bool | None  # the recommendation changed this night
    changes: list[str]  # "lr 0.001 -> 0.003" against the previous night's recommendation


def night_rows(nights: Sequence[Mapping[str, Any]]) -> list[NightRow]:
    """One row a night, in order, with what changed in the recommended config."""
    rows = []
    previous: Mapping[str, Any] | None = None
    for n in sorted(nights, key=lambda n: n.get("number") or 0):
        config = n.get("recommended_config") or None
        changes = []
        if previous is not None and config is not None:
            for k in sorted(set(previous) | set(config), key=lambda k: (
                    list(config).index(k) if k in config else len(config))):
                a, b = previous.get(k), config.get(k)
                if a != b:
                    changes.append(f"{k} {fmt(a)} → {fmt(b)}")
        pm, ps = n.get("predicted_mean"), n.get("predicted_sem")
        rows.append(NightRow(
            number=int(n.get("number") or 0), status=str(n.get("status") or ""),
            started_at=n.get("started_at"), ended_at=n.get("ended_at"),
            n_trials=int(n.get("n_trials") or 0), best_after=n.get("best_after"),
            improvement=n.get("improvement"), recommended_trial=n.get("recommended_trial"),
            predicted=None if pm is None else (pm, ps or 0.0),
            drift=n.get("recommendation_changed"), changes=changes))
        if config is not None:
            previous = config
    return rows
