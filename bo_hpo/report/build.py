"""A result's report data, section by section: the one place that fits the model and calls
the pure functions of :mod:`~bo_hpo.report.answer`, :mod:`~bo_hpo.report.data`,
:mod:`~bo_hpo.report.trials`, :mod:`~bo_hpo.report.model` and
:mod:`~bo_hpo.report.advice`. No plotly here."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from bo_hpo.report import data as d
from bo_hpo.report import trials as t
from bo_hpo.report.advice import Advice, advise, baseline_advice
from bo_hpo.report.answer import Answer, answer_data
from bo_hpo.report.model import ModelView, Predict, fit_predictor, model_view

logger = logging.getLogger(__name__)


@dataclass
class ReportData:
    """Everything the page shows, as plain data (see each section's type)."""

    title: str
    generated_at: float
    objective: str
    answer: Answer
    run: d.RunInfo
    trace: t.TraceData
    model: ModelView
    parallel: t.ParallelData | None
    table: list[t.TableRow]
    params: list[str]
    failures: t.FailureData
    nights: list[t.NightRow]
    advice: list[Advice]
    refine_command: str | None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step


def objective_label(info: dict[str, Any]) -> tuple[str, bool]:
    """What the values measure, and whether they are fractions read as points
    (``("validation error rate", True)`` for the MLP evaluator)."""
    name = info.get("evaluator")
    label = None
    if isinstance(name, str) and ":" not in name:
        from bo_hpo.evaluators import available_evaluators, get_evaluator

        if name in available_evaluators():
            label = get_evaluator(name).objective.split(" (")[0]
    label = label or info.get("metric") or "objective value"
    return label, "error rate" in label or "accuracy" in label


def collect(result: Any, predict: Predict | None | bool = True) -> ReportData:
    """The report's data for ``result``.

    Args:
        result: a :class:`~bo_hpo.TuningResult`.
        predict: the model as a callable (see :mod:`bo_hpo.report.model`); ``True`` fits
            it from the records (Ax), ``None`` or ``False`` leaves the model's views out.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    info = dict(result.info or {})
    objective, as_percent = objective_label(info)
    space = result.space
    records = list(result.records)
    if predict is True:
        predict = fit_predictor(result)
    timings["fit"] = time.perf_counter() - t0
    start = time.perf_counter()
    if space is not None and result.recommendation_source != "none":
        view = model_view(space, result.best_config, records, predict or None)
    else:
        view = ModelView(False, note="No search space or no completed trial: no model views.")
    timings["model views"] = time.perf_counter() - start
    start = time.perf_counter()
    answer = answer_data(result, objective, as_percent, view.order)
    importance = {name: share for name, share, _ in view.importance} if view.available \
        else None
    advice: list[Advice] = []
    if space is not None and result.recommendation_source != "none":
        advice = advise(space, records, result.best_config, importance, result.minimize)
        if any(a.kind != "note" for a in advice):
            advice.append(baseline_advice(result.best_config, result.best_trial))
    name = info.get("name")
    refine = None
    if name and info.get("source") in (None, "file") and info.get("store"):
        refine = f"bo-hpo refine {name} -o experiments/{name}_refined.toml"
    report = ReportData(
        title=str(name or "tuning run"), generated_at=time.time(), objective=objective,
        answer=answer, run=d.run_data(result),
        trace=t.trace_data(records, result.minimize, objective,
                           None if result.recommendation_source == "none"
                           else result.best_trial),
        model=view,
        parallel=None if space is None else t.parallel_data(records, space, objective,
                                                            result.minimize),
        table=t.table_rows(records, None if result.recommendation_source == "none"
                           else result.best_trial),
        params=list(space.params) if space is not None else sorted(
            {k for r in records for k in r.config}),
        failures=t.failure_data(records, space, info.get("rules") or ()),
        nights=t.night_rows(info.get("nights") or []),
        advice=advice, refine_command=refine, timings=timings)
    timings["data"] = time.perf_counter() - start
    return report
