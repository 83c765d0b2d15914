"""The coarse-to-fine step, done for the user: which ranges to widen, shift, narrow or fix.

Pure: the search space, the trial records, the recommendation and the model's importance in;
a list of :class:`Advice` out, each with the parameter's new spec entry, which
:mod:`bo_hpo.report.refine` writes into a new experiment file.

The rules, on each parameter's own scale (log for log-scaled ones), with the "best configs"
being the recommendation plus the best fifth of the completed trials (at least three):

- **widen** when the recommendation sits in the outer 10% at one end and at least half the
  best configs lie in the outer 20% there: that end moves out by a quarter of the range (not
  past 0 for a range that starts at or above 0, nor past 1 for one inside [0, 1]);
- **shift** as widen, when every best config is in the near half: the far end also moves in
  by a quarter;
- **narrow** when the best configs crowd into at most a third of the range away from the
  ends: the new range spans them plus 15% of the old range on each side;
- **fix** when the model's importance of a parameter is under 5% and the model has seen at
  least two completed trials per searched parameter: it does not matter, so it is fixed at
  the recommended value;
- an ordered list of numbers (batch sizes, widths) whose best value is its last or first
  gets the next value of its progression.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bo_hpo.report.data import fmt, round_sig, unit_position
from bo_hpo.space import Choice, Fixed, Float, Int, SearchSpace
from bo_hpo.trial import TrialRecord

#: Below this share of the total importance a parameter "does not matter".
FIX_BELOW = 0.05
#: Completed trials needed before any range advice.
MIN_COMPLETED = 6
EDGE = 0.10
STEP = 0.25
CROWD = 1 / 3
MARGIN = 0.15


@dataclass
class Advice:
    """One proposed change.

    Attributes:
        kind: ``widen``, ``shift``, ``narrow``, ``extend`` (an ordered list gets a value),
            ``fix``, ``baseline`` (the recommendation becomes the new baseline) or ``note``.
        param: the parameter, or ``None`` for notes and the baseline.
        message: one sentence a person reads.
        new: the parameter's new spec entry in the file's list form
            (``["log_uniform", 1e-4, 1e-2]``, ``["fixed", 0.1]``); ``None`` for notes.
    """

    kind: str
    param: str | None
    message: str
    new: list[Any] | None = None


def advise(space: SearchSpace, records: Sequence[TrialRecord], recommended: Mapping[str, Any],
           importance: Mapping[str, float] | None, minimize: bool = True) -> list[Advice]:
    """What to change for the next, finer round of tuning (see the module docstring)."""
    completed = sorted((r for r in records if r.status == "completed" and r.mean is not None),
                       key=lambda r: (1 if minimize else -1) * r.mean)
    if len(completed) < MIN_COMPLETED or not recommended:
        return [Advice("note", None,
                       f"Only {len(completed)} trials completed; advice on ranges needs at "
                       f"least {MIN_COMPLETED}.")]
    k = max(3, math.ceil(0.2 * len(completed)))
    best = [r.config for r in completed[:k]]
    if dict(recommended) not in best:
        best.append(dict(recommended))
    constrained = {n for c in space.constraints for n in c.names}
    searched = [n for n, p in space.params.items() if not isinstance(p, Fixed)]
    enough = len(completed) >= 2 * len(searched)
    out: list[Advice] = []
    if importance is not None and not enough:
        out.append(Advice(
            "note", None,
            f"Only {len(completed)} trials completed; saying that a parameter does not matter "
            f"needs {2 * len(searched)} (two per searched parameter)."))
    for name, p in space.params.items():
        if isinstance(p, Fixed) or name not in recommended:
            continue
        share = None if importance is None else importance.get(name)
        if share is not None and share < FIX_BELOW and enough and name not in constrained:
            value = _rounded(p, recommended[name])
            out.append(Advice(
                "fix", name,
                f"{name} hardly matters (importance {share:.0%}): fix it at {fmt(value)}.",
                ["fixed", value]))
            continue
        if isinstance(p, (Float, Int)):
            item = _range_advice(name, p, recommended[name],
                                 [c[name] for c in best if name in c], len(completed))
        elif isinstance(p, Choice) and p.modelled_as_ordered and p.is_numeric:
            item = _list_advice(name, p, recommended[name], [c[name] for c in best if name in c])
        else:
            item = None
        if item is not None:
            out.append(item)
    return out


def _range_advice(name: str, p: Float | Int, rec: float, best: list[float],
                  n_completed: int) -> Advice | None:
    if len(best) < 3:
        return None
    u_rec = unit_position(p, rec)
    us = [unit_position(p, v) for v in best]
    lo_t, hi_t = _t(p, p.low), _t(p, p.high)
    width = hi_t - lo_t
    for side in ("high", "low"):
        near = (u_rec >= 1 - EDGE) if side == "high" else (u_rec <= EDGE)
        crowd = sum((u >= 1 - 2 * EDGE) if side == "high" else (u <= 2 * EDGE) for u in us)
        if not near or crowd * 2 < len(us):
            continue
        new_lo, new_hi = lo_t, hi_t
        if side == "high":
            new_hi = hi_t + STEP * width
        else:
            new_lo = lo_t - STEP * width
        shift = all((u >= 0.5) if side == "high" else (u <= 0.5) for u in us)
        if shift:
            if side == "high":
                new_lo = lo_t + STEP * width
            else:
                new_hi = hi_t - STEP * width
        low, high = _clamp(p, _from_t(p, new_lo), _from_t(p, new_hi), rec)
        if (low, high) == (p.low, p.high):
            return Advice("note", name,
                          f"{name}: the best configs sit at the {side} end of its range "
                          f"[{fmt(p.low)}, {fmt(p.high)}], which cannot go further.")
        kind = verb = "shift" if shift else "widen"
        return Advice(kind, name,
                      f"{name}: the best configs sit at the {side} end of "
                      f"[{fmt(p.low)}, {fmt(p.high)}]; {verb} it to [{fmt(low)}, {fmt(high)}].",
                      [p.kind, low, high])
    if n_completed < 8 or max(us) - min(us) > CROWD:
        return None
    lo_u, hi_u = max(0.0, min(us) - MARGIN), min(1.0, max(us) + MARGIN)
    if hi_u - lo_u > 0.7:
        return None
    low, high = _clamp(p, _from_t(p, lo_t + lo_u * width), _from_t(p, lo_t + hi_u * width),
                       rec)
    if not low < high or (low, high) == (p.low, p.high):
        return None
    return Advice("narrow", name,
                  f"{name}: the best configs crowd into [{fmt(min(best))}, {fmt(max(best))}] "
                  f"of [{fmt(p.low)}, {fmt(p.high)}]; narrow it to [{fmt(low)}, {fmt(high)}].",
                  [p.kind, low, high])


def _list_advice(name: str, p: Choice, rec: Any, best: list[Any]) -> Advice | None:
    values = sorted(float(v) for v in p.values)
    if len(values) < 2 or len(best) < 3:
        return None
    for side, edge in (("high", values[-1]), ("low", values[0])):
        if float(rec) != edge or sum(float(v) == edge for v in best) * 2 < len(best):
            continue
        nxt = _next_in_progression(values, side)
        if nxt is None:
            return None
        new_values = list(p.values) + [nxt] if side == "high" else [nxt] + list(p.values)
        which = "largest" if side == "high" else "smallest"
        return Advice("extend", name,
                      f"{name}: the best configs use its {which} value "
                      f"{fmt(p.canonical(rec))}; add {fmt(nxt)}.",
                      [p.kind, new_values])
    return None


def _next_in_progression(values: list[float], side: str) -> float | int | None:
    """The next value past the end of an arithmetic or geometric list, or ``None``."""
    integer = all(float(v).is_integer() for v in values)
    a, b = (values[-2], values[-1]) if side == "high" else (values[1], values[0])
    ratios = {round(y / x, 9) for x, y in zip(values, values[1:], strict=False) if x > 0}
    steps = {round(y - x, 9) for x, y in zip(values, values[1:], strict=False)}
    if len(ratios) == 1 and all(v > 0 for v in values) and next(iter(ratios)) != 1:
        nxt = b * b / a
    elif len(steps) == 1:
        nxt = b + (b - a)
    else:
        return None
    if nxt <= 0 and all(v > 0 for v in values):
        return None
    return int(round(nxt)) if integer else round_sig(nxt, 3)


def _t(p: Float | Int, v: float) -> float:
    return math.log(v) if p.log else float(v)


def _from_t(p: Float | Int, t: float) -> float:
    return math.exp(t) if p.log else t


def _clamp(p: Float | Int, low: float, high: float, rec: float) -> tuple[Any, Any]:
    """Nice numbers around ``[low, high]`` (rounded outward), kept where the old range
    says a natural bound lies (0 and 1), and still holding ``rec``."""
    if p.low >= 0:
        low = max(low, 0.0 if not p.log else low)
    if p.low >= 0 and p.high <= 1:
        high = min(high, 1.0)
    low, high = min(low, rec), max(high, rec)
    if isinstance(p, Int):
        lo, hi = math.floor(low), math.ceil(high)
        if p.log or p.low >= 1:
            lo = max(lo, 1)
        return int(lo), int(hi)
    if p.log:
        return round_sig(low, 1, "down"), round_sig(high, 1, "up")
    span = high - low
    step = 10 ** math.floor(math.log10(span)) / 10 if span > 0 else 1.0
    lo = math.floor(low / step + 1e-9) * step
    hi = math.ceil(high / step - 1e-9) * step
    lo, hi = round_sig(lo, 6), round_sig(hi, 6)
    if p.low >= 0:
        lo = max(lo, 0.0)
    if p.low >= 0 and p.high <= 1:
        hi = min(hi, 1.0)
    return float(lo), float(hi)


def _rounded(p: Any, value: Any) -> Any:
    if isinstance(p, Float):
        return round_sig(float(value), 3)
    return value


def baseline_advice(recommended: Mapping[str, Any], trial: int | None) -> Advice:
    """The recommendation becomes the next round's baseline: the point to beat."""
    return Advice("baseline", None,
                  f"The recommendation (trial {trial}) becomes the baseline, the point the "
                  f"refined search has to beat.")
