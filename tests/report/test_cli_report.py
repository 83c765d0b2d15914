"""``bo-hpo run`` writes the report after the run; a report that cannot be written is a
warning and leaves the exit code alone."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from bo_hpo.cli import main

from .helpers import HERE, NIGHTLY_FILE

pytest.importorskip("plotly")


@pytest.fixture
def experiment(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "three_nights.toml"
    path.write_text(NIGHTLY_FILE.replace("max_trials = 100", "max_trials = 6"))
    return path, f"sqlite:///{tmp_path / 'store.db'}"


def test_run_writes_the_report(experiment, tmp_path):
    path, store = experiment
    res = CliRunner().invoke(main, ["run", str(path), "--store", store])
    assert res.exit_code == 0, res.output
    report = (tmp_path / "reports" / "three_nights.html").resolve()
    assert f"report: {report}" in res.output
    assert report.stat().st_size > 1_000_000
    out = tmp_path / "elsewhere"
    res = CliRunner().invoke(main, ["run", str(path), "--store", store, "--trials", "7",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.html").is_file() and (out / "trials.csv").is_file()


def test_a_report_that_fails_is_a_warning_not_an_exit_code(experiment, monkeypatch, tmp_path):
    path, store = experiment
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    res = CliRunner().invoke(main, ["run", str(path), "--store", store])
    assert res.exit_code == 0, res.output
    assert "warning: the HTML report was not written" in res.output  # stderr, mixed in
    assert "pip install 'bo-hpo[report]'" in res.output
    assert not (tmp_path / "reports" / "three_nights.html").exists()
