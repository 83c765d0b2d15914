"""What the fitted model says: parameter importance, slices and a contour, as plain data.

The functions take the model as a ``predict`` callable (configs in the user's terms ->
``(mean, sem)`` pairs, or ``None`` when there is no model), so they stay pure and the tests
hand them a known function. :func:`fit_predictor` builds that callable from Ax, once per
report; each view asks it once, in one batch (50 points a slice, 25 x 25 for the contour).

Importance here is the spread of the model's predicted mean along each parameter's slice
through the recommended config (max minus min, in objective units), as a share of the
total over all parameters: how much changing that parameter alone would move the result.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bo_hpo.report.data import is_numeric_param
from bo_hpo.space import Choice, Fixed, Float, Int, SearchSpace
from bo_hpo.trial import TrialRecord

logger = logging.getLogger(__name__)

Predict = Callable[[list[dict[str, Any]]], "list[tuple[float, float]] | None"]

IMPORTANCE_TEXT = (
    "how far the model's predicted {objective} moves when one parameter sweeps its whole "
    "range while the others stay at the recommended config (max minus min along the slice), "
    "as a share of the total over all parameters"
)


@dataclass
class Slice:
    """The model's mean and uncertainty along one parameter, the others at the best config."""

    name: str
    categorical: bool  # x holds labels, not numbers
    log: bool
    x: list[Any]
    mean: list[float | None]  # None where the config breaks a constraint
    sem: list[float | None]
    at: Any  # the recommended config's value
    observed_x: list[Any]  # completed trials (the other parameters differ)
    observed_y: list[float]
    spread: float | None = None  # max - min of the mean, objective units
    importance: float | None = None  # share of the total spread


@dataclass
class Contour:
    """The model's mean over the two most important numeric parameters."""

    x_name: str
    y_name: str
    x_log: bool
    y_log: bool
    x: list[float]
    y: list[float]
    mean: list[list[float | None]]  # mean[j][i] at (x[i], y[j])
    sem: list[list[float | None]]
    at: tuple[float, float]
    observed: list[tuple[float, float, float]]  # completed trials (x, y, value)


@dataclass
class ModelView:
    """Importance, slices (most important first) and a contour; empty without a model."""

    available: bool
    slices: list[Slice] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)  # not active at the recommendation
    fixed: list[str] = field(default_factory=list)
    contour: Contour | None = None
    note: str = ""

    @property
    def importance(self) -> list[tuple[str, float, float]]:
        """(name, share, spread), most important first."""
        return [(s.name, s.importance or 0.0, s.spread or 0.0) for s in self.slices
                if s.importance is not None]

    @property
    def order(self) -> list[str]:
        return [s.name for s in self.slices]


def model_view(space: SearchSpace, best_config: Mapping[str, Any],
               records: Sequence[TrialRecord], predict: Predict | None, *,
               n_slice: int = 50, n_contour: int = 25) -> ModelView:
    """Slices along every searched parameter active at ``best_config``, importance from
    their spreads, and the contour of the two most important numeric parameters."""
    fixed = [n for n, p in space.params.items() if isinstance(p, Fixed)]
    if predict is None or not best_config:
        return ModelView(False, fixed=fixed,
                         note="No model was fitted (too few completed trials).")
    fill = _fill_values(space, records)
    names = [n for n, p in space.params.items()
             if not isinstance(p, Fixed) and n in best_config
             and not (isinstance(p, Choice) and len(p.values) == 1)]
    inactive = [n for n, p in space.params.items()
                if not isinstance(p, Fixed) and n not in best_config]
    grids = {n: grid(space.params[n], n_slice) for n in names}
    configs: list[dict[str, Any]] = []
    where: list[tuple[str, int]] = []
    for n in names:
        for i, v in enumerate(grids[n]):
            c = with_value(space, best_config, n, v, fill)
            if c is not None:
                configs.append(c)
                where.append((n, i))
    preds = predict(configs) if configs else []
    if preds is None:
        return ModelView(False, fixed=fixed, note="The model could not predict.")
    table: dict[str, list[tuple[float, float] | None]] = {n: [None] * len(grids[n])
                                                          for n in names}
    for (n, i), p in zip(where, preds, strict=True):
        table[n][i] = (float(p[0]), float(p[1]))
    completed = [r for r in records if r.status == "completed" and r.mean is not None]
    slices = []
    for n in names:
        p = space.params[n]
        cells = table[n]
        means = [None if c is None else c[0] for c in cells]
        valid = [m for m in means if m is not None]
        spread = (max(valid) - min(valid)) if valid else None
        seen = [r for r in completed if n in r.config]
        categorical = isinstance(p, Choice)
        slices.append(Slice(
            name=n, categorical=categorical, log=bool(getattr(p, "log", False)),
            x=[str(v) for v in grids[n]] if categorical else list(grids[n]),
            mean=means, sem=[None if c is None else c[1] for c in cells],
            at=str(best_config[n]) if categorical else best_config[n],
            observed_x=[str(r.config[n]) if categorical else r.config[n] for r in seen],
            observed_y=[float(r.mean) for r in seen], spread=spread))
    total = sum(s.spread or 0.0 for s in slices)
    for s in slices:
        if s.spread is not None:
            s.importance = s.spread / total if total > 0 else 0.0
    slices.sort(key=lambda s: (-(s.importance or 0.0), s.name))
    contour = contour_data(space, best_config, records, predict, slices, n_contour, fill)
    return ModelView(True, slices, inactive, fixed, contour, "")


def grid(p: Any, n: int) -> list[Any]:
    """Values along one parameter: ``n`` points (geometric when log-scaled), every integer
    of a small int range, every value of a choice."""
    if isinstance(p, Choice):
        return list(p.values)
    if isinstance(p, Int):
        if p.high - p.low + 1 <= n:
            return list(range(p.low, p.high + 1))
        pts = np.geomspace(p.low, p.high, n) if p.log else np.linspace(p.low, p.high, n)
        return sorted({int(round(v)) for v in pts})
    if isinstance(p, Float):
        pts = np.geomspace(p.low, p.high, n) if p.log else np.linspace(p.low, p.high, n)
        return [float(v) for v in pts]
    return [p.value]


def with_value(space: SearchSpace, base: Mapping[str, Any], name: str, value: Any,
               fill: Mapping[str, Any]) -> dict[str, Any] | None:
    """``base`` with ``name`` set to ``value``; parameters that become active take their
    ``fill`` value, those that become inactive are dropped. ``None`` when the result breaks
    a constraint (the model is not asked about configs that cannot run)."""
    config: dict[str, Any] = {}
    for n, p in space.params.items():
        if not space.is_active(n, config):
            continue
        if n == name:
            config[n] = value
        elif n in base:
            config[n] = base[n]
        elif n in fill:
            config[n] = fill[n]
        elif isinstance(p, Fixed):
            config[n] = p.value
    try:
        return space.check_config(config)
    except Exception:  # outside the space or breaking a constraint: no prediction there
        return None


def _fill_values(space: SearchSpace, records: Sequence[TrialRecord]) -> dict[str, Any]:
    """For each conditional parameter, the value it had in the best completed trial where it
    was active (else the middle of its range): what a slice uses when it switches it on."""
    out: dict[str, Any] = {}
    completed = sorted((r for r in records if r.status == "completed" and r.mean is not None),
                       key=lambda r: r.mean)
    for n, p in space.params.items():
        if not p.when:
            continue
        hit = next((r.config[n] for r in completed if n in r.config), None)
        if hit is None:
            hit = middle(p)
        out[n] = hit
    return out


def middle(p: Any) -> Any:
    if isinstance(p, Float):
        return math.sqrt(p.low * p.high) if p.log else (p.low + p.high) / 2
    if isinstance(p, Int):
        return int(round(math.sqrt(p.low * p.high) if p.log else (p.low + p.high) / 2))
    if isinstance(p, Choice):
        return p.values[len(p.values) // 2]
    return p.value


def contour_data(space: SearchSpace, best_config: Mapping[str, Any],
                 records: Sequence[TrialRecord], predict: Predict, slices: Sequence[Slice],
                 n: int = 25, fill: Mapping[str, Any] | None = None) -> Contour | None:
    """The predicted mean over a grid of the two most important Float/Int parameters (one
    batched prediction); ``None`` when fewer than two such parameters are active."""
    pair = [s.name for s in slices if isinstance(space.params[s.name], (Float, Int))
            and s.spread is not None][:2]
    if len(pair) < 2:
        pair = [s.name for s in slices if is_numeric_param(space.params[s.name])
                and s.spread is not None][:2]
    if len(pair) < 2:
        return None
    xn, yn = pair
    xs, ys = grid(space.params[xn], n), grid(space.params[yn], n)
    fill = fill or {}
    configs, where = [], []
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            c = with_value(space, {**best_config, yn: y}, xn, x, fill)
            if c is not None:
                configs.append(c)
                where.append((j, i))
    preds = predict(configs) if configs else []
    if preds is None:
        return None
    mean: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    sem: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    for (j, i), p in zip(where, preds, strict=True):
        mean[j][i], sem[j][i] = float(p[0]), float(p[1])
    observed = [(float(r.config[xn]), float(r.config[yn]), float(r.mean)) for r in records
                if r.status == "completed" and r.mean is not None
                and xn in r.config and yn in r.config]
    return Contour(xn, yn, _log(space.params[xn]), _log(space.params[yn]),
                   [float(x) for x in xs], [float(y) for y in ys], mean, sem,
                   (float(best_config[xn]), float(best_config[yn])), observed)


def _log(p: Any) -> bool:
    return bool(getattr(p, "log", False))


def fit_predictor(result: Any) -> Predict | None:
    """The GP that the run itself would fit, rebuilt from ``result.records`` (Ax is imported
    here, once); ``None`` when it cannot be fitted. Failures are logged, not raised: the
    report then shows everything but the model's views."""
    space = result.space
    completed = [r for r in result.records if r.status == "completed"]
    if space is None or len(completed) < 2:
        return None
    try:
        from bo_hpo.propose import AxProposer

        proposer = AxProposer(space, minimize=result.minimize,
                              seed=(result.info or {}).get("seed"))
        proposer.replay(result.records)
    except Exception as err:  # the report goes on without the model's views; logged
        logger.warning("report: could not rebuild the model from the trials: %s", err)
        return None

    def predict(configs: list[dict[str, Any]]) -> list[tuple[float, float]] | None:
        try:
            preds = proposer.predict_configs(configs)
        except Exception as err:  # the report goes on without this view; logged
            logger.warning("report: the model could not predict: %s", err)
            return None
        return None if preds is None else [(p.mean, p.sem) for p in preds]

    return predict
