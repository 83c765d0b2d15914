"""The trials as plain data: the optimization trace (section 3), the trial table and
parallel coordinates (5), failures (6) and nights (7). Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bo_hpo.report.data import (
    completed_trials,
    failure_region,
    fmt,
    is_log,
    is_numeric_param,
    round_sig,
    sign,
    unit_position,
)
from bo_hpo.space import Choice, Fixed, Rule, SearchSpace
from bo_hpo.trial import TrialRecord


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
    completed = sorted(completed_trials(records), key=lambda r: r.trial)
    direction = sign(minimize)
    best_trials, best_values = [], []
    best = None
    for r in completed:
        if best is None or direction * r.mean < direction * best:
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
    worker: str | None = None  # the process, thread or node that ran it


def table_rows(records: Sequence[TrialRecord], recommended_trial: int | None) -> list[TableRow]:
    return [TableRow(r.trial, r.night, r.status, r.generator, r.mean, r.sem, r.predicted_mean,
                     r.reason, r.detail, round(r.eval_seconds, 3), dict(r.config),
                     r.is_baseline, r.trial == recommended_trial, r.worker)
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
    completed = sorted(completed_trials(records), key=lambda r: r.trial)
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
    completed = completed_trials(records)
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
    ranked = sorted(scored, key=lambda s: (-s[0], s[1]))
    # The clearest one always; others only when they set failures apart too.
    chosen = [n for k, (score, n) in enumerate(ranked[:max_strips]) if k == 0 or score >= 0.25]
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
