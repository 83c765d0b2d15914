"""A nightly job over three nights, through ``bo-hpo nightly``: each night writes the
report; the last one shows the nights and the drift of the recommendation; ``report`` and
``refine`` work on the stored experiment."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

import bo_hpo
from bo_hpo.cli import main
from bo_hpo.experiment import load_experiment
from bo_hpo.report.build import collect

from .helpers import HERE

pytest.importorskip("plotly")


def test_each_night_writes_the_report(three_nights):
    for out in three_nights["outputs"]:
        assert f"report: {three_nights['report']}" in out
    assert "warning" not in "".join(three_nights["outputs"])
    page = three_nights["report"].read_text(encoding="utf-8")
    assert ">Nights</h2>" in page
    for night in (1, 2, 3):
        assert f"night {night}" in page


def test_the_nights_table_matches_the_store(three_nights):
    result = bo_hpo.load("three_nights", store=three_nights["store"])
    report = collect(result, predict=None)
    stored = result.info["nights"]
    assert [n.number for n in report.nights] == [1, 2, 3]
    assert [n.n_trials for n in report.nights] == [8, 8, 8]
    assert [n.drift for n in report.nights] == [n["recommendation_changed"] for n in stored]
    assert report.nights[0].drift is False  # nothing to change from on the first night
    for previous, row in zip(report.nights, report.nights[1:], strict=False):
        if row.drift:
            assert row.changes, "a changed recommendation lists what changed"
            assert row.recommended_trial != previous.recommended_trial
        else:
            assert row.changes == []
    best = [n.best_after for n in report.nights]
    assert best == sorted(best, reverse=True)  # the best so far never gets worse
    assert report.trace.nights == [(1, -0.5, 7.5), (2, 7.5, 15.5), (3, 15.5, 23.5)]
    page = three_nights["report"].read_text(encoding="utf-8")
    assert ("<span class='tag drift'>changed</span>" in page) == any(
        n.drift for n in report.nights)


def test_the_report_command_writes_the_file(three_nights, tmp_path):
    out = tmp_path / "again.html"
    res = CliRunner().invoke(main, ["report", "three_nights", "--store", three_nights["store"],
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert f"written: {out}" in res.output
    assert out.stat().st_size > 1_000_000


def test_the_report_command_on_an_unknown_experiment(three_nights):
    res = CliRunner().invoke(main, ["report", "nope", "--store", three_nights["store"]])
    assert res.exit_code == 2 and "no experiment 'nope'" in res.output


def test_report_without_plotly_says_how_to_install_it(three_nights, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    res = CliRunner().invoke(main, ["report", "three_nights", "--store", three_nights["store"],
                                    "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 2
    assert "pip install 'bo-hpo[report]'" in res.output


def test_refine_writes_a_file_that_check_accepts_and_changes_what_the_advice_says(
        three_nights, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    out = tmp_path / "three_nights_refined.toml"
    res = CliRunner().invoke(main, ["refine", "three_nights", "--store", three_nights["store"],
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    check = CliRunner().invoke(main, ["check", str(out)])
    assert check.exit_code == 0, check.output
    original = load_experiment(three_nights["file"])
    refined = load_experiment(out)
    assert refined.name == "three_nights_refined"
    result = bo_hpo.load("three_nights", store=three_nights["store"])
    from bo_hpo.report.refine import refine_result

    plan = refine_result(result, store=three_nights["store"])
    changed = {a.param for a in plan.applied if a.param}
    assert changed, plan.applied  # warmup's best lies past its range: at least that one
    assert "warmup" in changed
    for name, p in original.space.params.items():
        if name in changed:
            assert refined.space.params.get(name) != p, name
        else:
            assert refined.space.params[name] == p, name
    for item in plan.applied:
        if item.kind in ("widen", "shift", "narrow"):
            new = refined.space.params[item.param]
            assert [new.kind, new.low, new.high] == item.new
        elif item.kind == "fix":
            assert refined.space.params[item.param].kind == "fixed"
    assert refined.baseline == {  # the recommendation, with fixed parameters at their value
        k: p.value if p.kind == "fixed" else result.best_config[k]
        for k, p in refined.space.params.items()}
    again = CliRunner().invoke(main, ["refine", "three_nights", "--store",
                                      three_nights["store"], "-o", str(out)])
    assert again.exit_code == 2 and "--force" in again.output


def test_refine_reads_the_stored_file_when_the_original_is_gone(three_nights, monkeypatch):
    from bo_hpo.report.refine import original_tables

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    monkeypatch.syspath_prepend(str(HERE))
    result = bo_hpo.load("three_nights", store=three_nights["store"])
    result.info["experiment_file"] = str(three_nights["root"] / "moved.toml")
    assert original_tables(result, three_nights["store"]) == tomllib.loads(
        three_nights["file"].read_text())
