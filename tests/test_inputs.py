"""Bad input gets a clear error and loses nothing: each case found trying the project as a new
user (names that escape the output folder, non-UTF-8 files, huge constraints, wrong types),
plus what the command line says during long trials and the final evaluation."""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

import bo_hpo
from bo_hpo import ConfigError, SearchSpace, SearchSpaceError, TuningError
from bo_hpo.cli import EXIT_BAD_INPUT, main
from bo_hpo.experiment import load_experiment

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

FILE = """
name = {name!r}
evaluator = "objectives:bowl"
[space]
lr = ["log_uniform", 1e-5, 1e-1]
dropout = {dropout}
optimizer = ["choice", ["sgd", "adam"]]
[budget]
max_trials = 3
"""


def _file(tmp_path, name="ok", dropout='["uniform", 0.0, 0.5]', raw: bytes | None = None):
    path = tmp_path / "exp.toml"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(FILE.format(name=name, dropout=dropout))
    return path


@pytest.mark.parametrize("name", ["../../../tmp/x", "a/b", "..", "", "x y", "é"])
def test_an_unsafe_experiment_name_is_refused_and_nothing_is_written(tmp_path, monkeypatch,
                                                                     name):
    monkeypatch.chdir(tmp_path)
    path = _file(tmp_path, name=name)
    with pytest.raises(ConfigError, match="`name`: an experiment name must be"):
        load_experiment(path)
    before = set(Path("/tmp").iterdir())
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == EXIT_BAD_INPUT and "Traceback" not in result.output
    assert set(Path("/tmp").iterdir()) - before <= {tmp_path}
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("raw", [b"\xff\xfe" + "name = 'x'".encode("utf-16-le"),
                                 bytes(range(256))])
def test_a_file_that_is_not_utf8_exits_2_saying_so(tmp_path, raw):
    result = CliRunner().invoke(main, ["check", str(_file(tmp_path, raw=raw))])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "not a UTF-8 text file" in result.output and "Traceback" not in result.output


def test_huge_and_deep_constraints_are_refused_with_the_limit():
    space = {"x": ("uniform", 0.0, 1.0), "y": ("uniform", 0.0, 1.0)}
    with pytest.raises(SearchSpaceError, match="at most 2,000 are accepted"):
        SearchSpace(space, constraints=["x" + " + x" * 50_000 + " <= 1"])
    with pytest.raises(SearchSpaceError, match="nested more than 50 levels"):
        SearchSpace(space, constraints=["x" + " + y" * 120 + " <= 1000"])
    with pytest.raises(SearchSpaceError):
        bo_hpo.space.Rule.parse("x" + " or x" * 60_000)


def test_a_bare_string_is_one_constraint():
    space = SearchSpace({"x": ("uniform", 0.0, 1.0), "y": ("uniform", 0.0, 1.0)},
                        constraints="x + y <= 0.9")
    assert [c.text for c in space.constraints] == ["x + y <= 0.9"]


def test_mixed_choice_types_are_allowed_with_a_warning():
    with pytest.warns(UserWarning, match="mixed types"):
        SearchSpace({"a": ("choice", [1, "a", None])})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SearchSpace({"a": ("choice", ["x", "y", None])})  # one type plus None: no warning


def test_a_divisor_range_that_includes_zero_is_refused():
    with pytest.raises(SearchSpaceError, match="divisor 'k' must be positive.*includes 0"):
        SearchSpace({"h": ("int", 8, 64), "k": ("int", 0, 8)}, constraints=["h % k == 0"])
    with pytest.raises(SearchSpaceError, match="must be positive"):
        SearchSpace({"h": ("int", 8, 64), "k": ("choice", [-2, 2, 4])},
                    constraints=["h % k == 0"])


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"minimize": "yes"}, "minimize must be True or False, got minimize='yes'"),
    ({"seed": "abc"}, "seed must be an integer >= 0 or None, got seed='abc'"),
    ({"seed": 2**64}, "seed=18446744073709551616"),
    ({"seed": 1.5}, "seed=1.5"),
    ({"is_valid": lambda c: None}, "is_valid must return True or False, got None"),
    ({"is_valid": "yes"}, "is_valid must be a function"),
    ({"metric": 3}, "metric must be a string"),
    ({"parallelism": 0}, "parallelism must be a positive integer"),
    ({"executor": "gpu"}, "executor must be None, 'process', 'ray'"),
])
def test_wrong_argument_types_name_the_argument(kwargs, needle):
    with pytest.raises(ConfigError) as err:
        bo_hpo.tune(lambda c: c["x"], {"x": ("uniform", 0.0, 1.0)}, budget=2, **kwargs)
    assert needle in str(err.value)


def test_a_fixed_string_named_like_a_kind_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="bo_hpo.experiment"):
        load_experiment(_file(tmp_path, dropout='"uniform"'))
    assert "dropout = 'uniform' is a fixed string" in caplog.text


def test_when_every_trial_fails_the_error_says_why_and_keeps_the_trials():
    with pytest.raises(TuningError) as err:
        bo_hpo.tune(lambda c: "oops", {"x": ("uniform", 0.0, 1.0)}, budget=4, seed=0)
    message = str(err.value)
    assert "4 failed (bad_result 4)" in message
    assert "the first, trial 0: bad_result: objective must return a number" in message
    result = err.value.result
    assert result is not None and len(result.records) == 4
    assert all(r.status == "failed" for r in result.records)
    assert "no recommendation" in result.summary()


def test_check_takes_several_files_and_checks_them_against_the_evaluator(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('evaluator = "mlp_fashion"\n[space]\nlearning_rate = ["log_uniform", 1e-4, '
                   '1e-1]\nepochs = "eight"\n')
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('evaluator = "mlp_fashion"\n[space]\nwidth_typo = ["int", 8, 64]\n')
    good = ROOT / "experiments" / "mlp_fashion.toml"
    result = CliRunner().invoke(main, ["check", str(bad), str(good), str(unknown)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "epochs must be an integer, got 'eight'" in result.output
    assert "unknown ['width_typo']" in result.output
    assert "2 of 3 files have errors" in result.output
    assert "budget: 20 trials, 420 s" in result.output  # readable, not a dataclass repr
    assert "Budget(" not in result.output


def test_reports_inside_a_trial_are_stored_and_shown(tmp_path, monkeypatch):
    store = f"sqlite:///{tmp_path / 'store.db'}"

    def objective(config):
        for epoch in range(1, 4):
            bo_hpo.report_step(epoch, 1.0 / epoch, total=3)
        return config["x"]

    bo_hpo.tune(objective, {"x": ("uniform", 0.0, 1.0)}, budget=2, seed=0, store=store,
                name="curves")
    st = bo_hpo.store.open_store(store)
    info = st.get_experiment("curves")
    assert st.steps(info.id, 1) == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]
    bo_hpo.report_step(1, 0.5)  # outside tune: goes nowhere, raises nothing


def test_the_cli_shows_steps_of_long_trials_and_of_the_final_evaluation(tmp_path, monkeypatch):
    from bo_hpo import cli

    monkeypatch.setattr(cli._ProgressPrinter, "STEP_EVERY", 0.0)
    path = tmp_path / "tiny.toml"
    path.write_text('name = "tiny"\nevaluator = "mlp_fashion"\nseed = 0\n[space]\n'
                    'learning_rate = ["log_uniform", 1e-3, 1e-2]\nhidden_dim = 16\n'
                    'num_layers = 1\nepochs = 2\nbatch_size = 256\n[budget]\nmax_trials = 1\n'
                    '[evaluator_settings]\ndevice = "cpu"\n')
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    trial_line = next(i for i, line in enumerate(lines) if line.startswith("[trial   0]"))
    assert "step 2/2, training loss" in lines[trial_line - 1]
    final = next(i for i, line in enumerate(lines) if line.startswith("final evaluation"))
    assert "step 1/2" in lines[final + 1]
    # the recommendation is the only trial, and there is no baseline: trained once
    assert result.output.count("final evaluation: retraining") == 1


def test_the_makefile_lets_a_user_choose_the_torch_index():
    done = subprocess.run(["make", "-n", "-B", "setup", "TORCH_INDEX=https://example.invalid/cpu"],
                          cwd=ROOT, capture_output=True, text=True)
    assert "--index-url https://example.invalid/cpu" in done.stdout
    plain = subprocess.run(["make", "-n", "-B", "setup"], cwd=ROOT, capture_output=True,
                           text=True)
    assert "--index-url" not in plain.stdout and '"torch==2.13.0"' in plain.stdout


def test_trial_timeouts_grow_with_the_first_trials_time(monkeypatch, tmp_path):
    """On a slow machine the first trial's time raises the limit (4x) for the others."""
    from bo_hpo import runner
    from bo_hpo.evaluation import Evaluation

    seen = []

    class Slow:
        name, objective, final_eval_scores_on, final_eval = "fake", "x", "validation", None

        def load_data(self, *a, **k):
            return None

        def evaluate(self, config, *, time_limit=None, **_):
            seen.append(time_limit)
            return Evaluation(config["lr"], None)

    spec = load_experiment(_file(tmp_path))
    import dataclasses

    spec = dataclasses.replace(spec, trial_timeout=1.0, final_eval=False)
    monkeypatch.setattr("bo_hpo.evaluators.get_evaluator", lambda name: Slow())
    real_finish = bo_hpo.loop._Loop._finish

    def finish(self, record, outcome):
        outcome.seconds = 10.0  # as if the first trial took 10 s
        return real_finish(self, record, outcome)

    monkeypatch.setattr(bo_hpo.loop._Loop, "_finish", finish)
    runner.run_experiment(spec, store=f"sqlite:///{tmp_path / 's.db'}")
    assert seen[0] == 1.0 and seen[1:] == [40.0, 40.0]


def test_running_a_finished_experiment_again_says_so_and_reads_no_test_set(tmp_path):
    path = tmp_path / "done.toml"
    path.write_text('name = "done"\nevaluator = "mlp_fashion"\nseed = 0\n[space]\n'
                    'learning_rate = ["log_uniform", 1e-3, 1e-2]\nhidden_dim = 16\n'
                    'num_layers = 1\nepochs = 1\nbatch_size = 256\n[budget]\nmax_trials = 2\n'
                    '[evaluator_settings]\ndevice = "cpu"\n')
    runner = CliRunner()
    first = runner.invoke(main, ["run", str(path), "--out", str(tmp_path / "out")])
    assert first.exit_code == 0, first.output
    assert "final evaluation: retraining" in first.output
    again = runner.invoke(main, ["run", str(path), "--out", str(tmp_path / "out")])
    assert again.exit_code == 0, again.output
    assert "note: nothing to run: the budget is spent (2 trials evaluated)" in again.output
    assert "final evaluation: retraining" not in again.output  # the cached scores are shown
    assert "recommended  test_error" in again.output


def test_a_sqlite_url_with_two_slashes_is_explained(tmp_path):
    result = CliRunner().invoke(main, ["list", "--store", "sqlite://tuning.db"])
    assert result.exit_code == 4 and "Traceback" not in result.output
    assert "three slashes" in result.output and "sqlite:///tuning.db" in result.output


@pytest.mark.parametrize("with_sem", [lambda i: i == 2, lambda i: i != 2],
                         ids=["one-sem-among-bare", "one-bare-among-sems"])
def test_results_with_and_without_a_sem_mixed_still_fit_the_model(with_sem, caplog):
    """A mix was NaN in the GP's noise: every fit failed and every later proposal was
    random. Now the first result decides: known SEMs (a missing one is their median) or
    inferred noise (a given SEM is dropped), said once."""
    calls = iter(range(1, 100))

    def objective(config):
        value = (config["x"] - 0.3) ** 2
        return (value, 0.01) if with_sem(next(calls)) else value

    with caplog.at_level(logging.WARNING, logger="bo_hpo.propose"):
        result = bo_hpo.tune(objective, {"x": ("uniform", 0.0, 1.0)}, budget=8, seed=0,
                             n_initial=4)
    gp = result.trials[result.trials["generator"] == "gp"]
    assert len(gp) == 4 and gp["fallback"].isna().all()
    assert gp["predicted_mean"].notna().all() and result.recommendation_source == "model"
    assert caplog.text.count("among results with") == 1


@pytest.mark.parametrize("value", ["0.5", None, True])
def test_a_baseline_value_that_is_not_a_number_is_called_that(value):
    with pytest.raises(SearchSpaceError, match=rf"baseline: x={value!r} is not a number"):
        bo_hpo.tune(lambda c: c["x"], {"x": ("uniform", 0.0, 1.0)}, budget=2,
                    baseline={"x": value})


def test_the_summary_shows_a_whole_float_as_a_float():
    from bo_hpo.result import _fmt

    assert [_fmt(v) for v in (0.0, 3.0, -2.0, 0.5, 3)] == ["0.0", "3.0", "-2.0", "0.5", "3"]


def test_a_trial_failed_with_a_reason_that_is_not_text_is_recorded_as_text():
    def objective(config):
        raise bo_hpo.TrialFailed(42, 3)

    with pytest.raises(TuningError) as caught:
        bo_hpo.tune(objective, {"x": ("uniform", 0.0, 1.0)}, budget=3, max_failures=1)
    assert {(r.reason, r.detail) for r in caught.value.result.records} == {("42", "3")}
