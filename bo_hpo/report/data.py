"""What the report shows, as plain data: records in, dataclasses of lists and strings out.

Every function of the report's data modules is pure (no plotly, no Ax, no I/O), so the unit
tests check the numbers a chart will draw rather than the chart. This module holds the
helpers they share and the run's facts (section 2); :mod:`~bo_hpo.report.answer` the answer
and its verdict (1), :mod:`~bo_hpo.report.trials` the trace, the trial table, parallel
coordinates, failures and nights (3, 5-7), :mod:`~bo_hpo.report.model` what the fitted model
says (4) and :mod:`~bo_hpo.report.advice` the advice (8).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bo_hpo.space import Choice, Fixed, Float, Int, SearchSpace
from bo_hpo.trial import TrialRecord


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


def completed_trials(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    return [r for r in records if r.status == "completed" and r.mean is not None
            and math.isfinite(r.mean)]


def sign(minimize: bool) -> float:
    return 1.0 if minimize else -1.0


def failure_region(failed: Sequence[TrialRecord], records: Sequence[TrialRecord],
                   space: SearchSpace | None) -> str | None:
    """Where in the space ``failed`` happened, when one numeric parameter separates them
    from the completed trials: ``"lr above 0.03"``. ``None`` for fewer than two failures
    or no clean separation."""
    if space is None or len(failed) < 2:
        return None
    completed = completed_trials(records)
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
    if info.get("nights") and info.get("nightly_budget"):
        add("budget each night", budget_text(info["nightly_budget"]))
    else:  # a nightly job's stored budget is its last night's, shown above
        add("budget given", budget_text(info.get("budget") or {}))
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
