"""The page: one file, plotly.js embedded once, nothing fetched, every user string escaped."""

from __future__ import annotations

import html
import re
import sys

import pytest

from bo_hpo.errors import ConfigError
from bo_hpo.report import build_report_html, write_report

from .helpers import PAYLOAD, RecordingPredict, hostile_result, make_result

pytest.importorskip("plotly")


def test_user_strings_appear_only_escaped():
    page = build_report_html(hostile_result(), predict=RecordingPredict())
    assert PAYLOAD not in page
    assert "<script>alert" not in page
    escaped = html.escape(PAYLOAD)
    assert f"<h1>{escaped}</h1>" in page  # the name
    assert f"RuntimeError: {escaped}" in page  # the failure message
    assert f"<b>opt</b> {escaped}</span>" in page  # the choice value, in the recommendation
    plots = page.count('class="plotly-graph-div"')
    assert plots >= 6
    # our scripts only: plotly.js, one per figure, the table sorter
    assert len(re.findall(r"<script\b", page)) == plots + 2


def test_result_report_writes_one_self_contained_file(tmp_path):
    path = make_result().report(tmp_path / "out" / "run.html")  # fits the model with Ax
    assert path == tmp_path / "out" / "run.html"
    assert [p.name for p in path.parent.iterdir()] == ["run.html"]
    page = path.read_text(encoding="utf-8")
    assert page.count("* plotly.js v") == 1  # the library, once
    from plotly.offline import get_plotlyjs

    ours = page.replace(get_plotlyjs(), "")  # the page without the library's own source
    assert len(ours) < len(page) - 1_000_000
    assert not re.search(r"<(script|img|iframe)\b[^>]*\ssrc=", ours)
    assert not re.search(r"<link\b", ours)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", ours)
    assert "default-src 'none'" in page  # the page forbids itself any fetch
    for section in ("The run", "Optimization trace", "What mattered", "All trials",
                    "Failures", "Advice for the next round"):
        assert f">{section}</h2>" in page
    assert "Nights</h2>" not in page  # not a nightly job


def test_sections_hold_the_answer_and_the_trials():
    page = build_report_html(make_result(), predict=RecordingPredict())
    assert "adam with lr near 0.002 beats the baseline by 0.08 in objective value (28%)" in page
    assert "class='s-failed'" in page and "class='s-invalid'" in page
    assert "class='s-completed rec'" in page and "class='s-completed base'" in page
    assert "diverged</b>: 2 of 8" in page
    assert "Importance is how far the model" in page


def test_without_plotly_the_error_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    with pytest.raises(ConfigError, match=r"pip install 'bo-hpo\[report\]'"):
        write_report(make_result(), tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_importing_the_report_package_leaves_report_step_alone():
    import bo_hpo
    import bo_hpo.report  # noqa: F401

    seen = []
    from bo_hpo.progress import reporting

    with reporting(lambda step, value, total: seen.append((step, value, total))):
        bo_hpo.report_step(3, 0.5, 10)
    assert seen == [(3, 0.5, 10)]


def test_a_run_where_nothing_completed_still_has_a_report():
    import bo_hpo

    def broken(config):
        raise RuntimeError("CUDA error: device-side assert")

    with pytest.raises(bo_hpo.TuningError) as caught:
        bo_hpo.tune(broken, {"x": ("uniform", 0.0, 1.0)}, budget=3, max_failures=2, seed=0)
    page = build_report_html(caught.value.result)
    assert "No trial completed, so there is no recommendation yet." in page
    assert "CUDA error: device-side assert" in page
    assert "No model was fitted" in page or "no model views" in page
