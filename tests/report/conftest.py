"""Fixtures for the report tests: a hand-built result (exact numbers, no model fit) and one
three-night experiment built through ``bo-hpo nightly`` (shared by the nights, refine and
browser tests)."""

from __future__ import annotations

from typing import Any

import pytest

from bo_hpo.result import TuningResult

from .helpers import HERE, NIGHTLY_FILE, make_result


def pytest_configure(config) -> None:
    # Also registered in pyproject.toml; repeated here so these tests run on their own.
    config.addinivalue_line(
        "markers", "browser: opens the HTML report in headless Chromium (Playwright); "
                   "fails under CI without the browser")


@pytest.fixture
def result() -> TuningResult:
    return make_result()


@pytest.fixture(scope="session")
def three_nights(tmp_path_factory) -> dict[str, Any]:
    """Three ``bo-hpo nightly`` runs of one file (8 trials a night), each writing its report.
    Returns the paths, the store URL and each night's output."""
    import os
    import sys

    from click.testing import CliRunner

    from bo_hpo.cli import main

    root = tmp_path_factory.mktemp("nights")
    path = root / "three_nights.toml"
    path.write_text(NIGHTLY_FILE)
    store = f"sqlite:///{root / 'store.db'}"
    outputs = []
    old_cwd, old_path = os.getcwd(), list(sys.path)
    os.chdir(root)
    sys.path.insert(0, str(HERE))
    try:
        runner = CliRunner()
        for _ in range(3):
            out = runner.invoke(main, ["nightly", str(path), "--store", store])
            assert out.exit_code == 0, out.output
            outputs.append(out.output)
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
    return {"root": root, "file": path, "store": store, "outputs": outputs,
            "report": root / "reports" / "three_nights.html"}
