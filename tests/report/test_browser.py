"""The report in a real browser: headless Chromium (Debian's chromium-headless-shell)
driven by Playwright, offline. No page error, no request but the file itself, an SVG in
every chart, no alert from a hostile string, and a full-page screenshot.

Playwright's own browser download is not used: the browser is found on the machine
(``$BO_HPO_CHROMIUM``, else the usual Debian paths). Without one the test is skipped, except
under CI (``$CI`` set), where a missing browser fails it: CI must run it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bo_hpo.report import write_report

from .helpers import RecordingPredict, hostile_result

pytestmark = pytest.mark.browser

CANDIDATES = ("/usr/bin/chromium-headless-shell", "/usr/lib/chromium/chromium-headless-shell",
              "/usr/bin/chromium", "/usr/lib/chromium/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must run the browser test (apt-get install "
                    f"chromium-headless-shell; pip install playwright)")
    pytest.skip(why)


def chromium_path() -> str:
    explicit = os.environ.get("BO_HPO_CHROMIUM")
    found = [explicit] if explicit else []
    found += [p for p in CANDIDATES if Path(p).is_file()]
    found += [shutil.which(n) or "" for n in ("chromium-headless-shell", "chromium")]
    path = next((p for p in found if p and os.access(p, os.X_OK)), None)
    if path is None:
        _unavailable("no Chromium found (set BO_HPO_CHROMIUM to its executable)")
    return str(path)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    executable = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _open(browser, path: Path, screenshot: Path) -> dict:
    """Load ``path`` in an offline context; what happened on the page."""
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("request", lambda req: requests.append(req.url))

    def dismiss(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.plotly-graph-div'))"
        ".every(d => d.classList.contains('js-plotly-plot'))", timeout=30_000)
    plots = page.evaluate(
        "Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => ["
        "d.classList.contains('js-plotly-plot'), d.querySelectorAll('svg').length])")
    sorted_ok = page.evaluate(
        "(() => { const th = document.querySelector('table.sortable th:nth-child(4)');"
        " th.click(); th.click();"
        " return th.classList.contains('desc'); })()")
    page.screenshot(full_page=True, path=str(screenshot))
    context.close()
    return {"errors": errors, "requests": requests, "dialogs": dialogs, "plots": plots,
            "sorted": sorted_ok}


def test_the_three_night_report_draws_every_chart_offline(browser, three_nights, tmp_path):
    shot = tmp_path / "three_nights.png"
    seen = _open(browser, three_nights["report"], shot)
    assert seen["errors"] == []
    assert seen["requests"] == [three_nights["report"].as_uri()]
    assert len(seen["plots"]) >= 7  # trace, importance, slices, contour, parallel, ..., nights
    assert all(drawn and svgs > 0 for drawn, svgs in seen["plots"]), seen["plots"]
    assert seen["sorted"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000


def test_a_hostile_report_runs_no_script_of_its_own(browser, tmp_path):
    path = write_report(hostile_result(), tmp_path / "hostile.html",
                        predict=RecordingPredict())
    seen = _open(browser, path, tmp_path / "hostile.png")
    assert seen["dialogs"] == []  # alert(1) never ran
    assert seen["errors"] == []
    assert seen["requests"] == [path.as_uri()]
    assert all(drawn and svgs > 0 for drawn, svgs in seen["plots"])
