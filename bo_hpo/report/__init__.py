"""Self-contained HTML reports of a tuning run: ``write_report(result, path)``.

The report reads plain trial records (a finished ``tune()``, a stored experiment, a nightly
job with many nights) and writes one HTML file with plotly.js embedded once, so it opens
offline from a file or an e-mail attachment. Needs the ``report`` extra
(``pip install 'bo-hpo[report]'``), imported only when a report is built.

Layout: :mod:`.data` (records -> plain data), :mod:`.model` (the fitted model's importance,
slices and contour, as plain data), :mod:`.advice` (what to widen, narrow or fix),
:mod:`.build` (fits the model once and gathers the sections), :mod:`.html` (thin plotly
figures and the page), :mod:`.refine` (the advice as a new experiment file).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

from bo_hpo.errors import ConfigError

INSTALL_HINT = "pip install 'bo-hpo[report]'"


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as err:
        raise ConfigError(
            f"the HTML report needs plotly; install it with `{INSTALL_HINT}`") from err
    return get_plotlyjs()


def build_report_html(result: Any, predict: Any = True) -> str:
    """The report of ``result`` as one HTML document (a string).

    Args:
        result: a :class:`~bo_hpo.TuningResult`.
        predict: ``True`` fits the model from the records; ``None`` leaves the model's
            views out; or a callable ``configs -> [(mean, sem), ...]`` (tests).

    Raises:
        ConfigError: plotly is not installed (the message says how to install it).
    """
    plotly_js = _plotly_js()
    from bo_hpo.report.build import collect
    from bo_hpo.report.html import render

    return render(collect(result, predict), plotly_js)


def write_report(result: Any, path: str | Path, predict: Any = True) -> Path:
    """Write the report of ``result`` to ``path`` (parent folders are created); returns it.

    Raises:
        ConfigError: plotly is not installed (the message says how to install it).
    """
    text = build_report_html(result, predict)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a report
    return path


class _CallableModule(types.ModuleType):
    """``bo_hpo.report(step, value)`` is the progress reporter of :mod:`bo_hpo.progress`.
    Importing this subpackage makes Python set the attribute ``bo_hpo.report`` to the
    subpackage, which would shadow that function; calling the subpackage forwards to it,
    so objectives that call ``bo_hpo.report(...)`` keep working after a report is built."""

    def __call__(self, step: int, value: float, total: int | None = None) -> None:
        from bo_hpo.progress import report

        report(step, value, total)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["INSTALL_HINT", "build_report_html", "write_report"]
