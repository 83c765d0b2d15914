"""Self-contained HTML reports of a tuning run: ``write_report(result, path)``.

The report reads plain trial records (a finished ``tune()``, a stored experiment, a nightly
job with many nights) and writes one HTML file with plotly.js embedded once, so it opens
offline from a file or an e-mail attachment. Needs the ``report`` extra
(``pip install 'bo-hpo[report]'``), imported only when a report is built.

Layout. Pure, records -> plain data: :mod:`.data` (shared helpers, the run's facts),
:mod:`.answer` (the answer and its verdict), :mod:`.trials` (trace, trial table, parallel
coordinates, failures, nights), :mod:`.model` (importance, slices and contour from a
``predict`` callable), :mod:`.advice` (what to widen, narrow or fix). Then :mod:`.build`
(fits the model once, gathers the sections), :mod:`.figures` (the thin plotly layer),
:mod:`.html` and :mod:`.template` (the page), :mod:`.refine` (the advice as a new
experiment file).
"""

from __future__ import annotations

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


__all__ = ["INSTALL_HINT", "build_report_html", "write_report"]
