"""Experiment files whose evaluator is a function of the user's (``"module:function"``), and
the commands that read a stored experiment with nothing completed: what a new user met."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

import bo_hpo
from bo_hpo.cli import EXIT_BAD_INPUT, main
from bo_hpo.errors import ConfigError
from bo_hpo.evaluators import get_evaluator
from bo_hpo.experiment import load_experiment
from bo_hpo.runner import run_experiment

FILE = """
name = "{name}"
evaluator = "{evaluator}"
seed = 0

[space]
x = ["uniform", 0.0, 1.0]

[baseline]
x = 0.25

[budget]
max_trials = {trials}

[evaluator_settings]
trial_timeout = {timeout}
"""

HANGS = """
import time

def hang_above_half(config):
    if config["x"] > 0.5:
        time.sleep(30)
    return config["x"]
"""


def _experiment(tmp_path, evaluator, *, name="fn", trials=6, timeout=1.5):
    path = tmp_path / f"{name}.toml"
    path.write_text(FILE.format(name=name, evaluator=evaluator, trials=trials,
                                timeout=timeout))
    return path


def test_a_function_of_the_working_directory_imports_and_is_held_to_trial_timeout(
        tmp_path, monkeypatch):
    # the module sits in the working directory only, as a user's train.py would
    (tmp_path / "userobj.py").write_text(HANGS)
    monkeypatch.chdir(tmp_path)
    spec = load_experiment(_experiment(tmp_path, "userobj:hang_above_half"))
    start = time.perf_counter()
    outcome = run_experiment(spec, store=f"sqlite:///{tmp_path / 'store.db'}")
    seconds = time.perf_counter() - start
    records = outcome.result.records
    slow = [r for r in records if r.config["x"] > 0.5]
    assert slow, "the search never went past x = 0.5; the test checks nothing"
    assert all(r.status == "failed" and r.reason == "timeout" for r in slow)
    assert all(r.status == "completed" for r in records if r.config["x"] <= 0.5)
    # each hanging trial was abandoned at the limit, not waited out for 30 s
    assert seconds < 25 * len(slow)


def test_a_module_that_fails_to_import_is_a_config_error_naming_the_line(tmp_path,
                                                                          monkeypatch):
    (tmp_path / "broken_syntax.py").write_text("x = 1\ndef f(:\n")
    (tmp_path / "broken_run.py").write_text("a = 1\nb = 1 / 0\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"broken_syntax\.py:2: SyntaxError"):
        get_evaluator("broken_syntax:f")
    with pytest.raises(ConfigError, match=r"broken_run\.py:2: ZeroDivisionError"):
        get_evaluator("broken_run:f")
    result = CliRunner().invoke(main, ["check", str(_experiment(tmp_path, "broken_run:f"))])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "ZeroDivisionError" in result.output and "Traceback" not in result.output


def _all_failed(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    with pytest.raises(bo_hpo.TuningError):
        bo_hpo.tune(lambda c: "not a number", {"x": ("uniform", 0.0, 1.0)}, budget=3,
                    seed=0, store=store, name="allfail")
    return store


def test_load_and_report_of_an_experiment_with_no_completed_trial(tmp_path):
    store = _all_failed(tmp_path)
    result = bo_hpo.load("allfail", store=store)
    assert result.best_trial == -1 and result.recommendation_source == "none"
    assert [r.status for r in result.records] == ["failed"] * 3
    assert len(result.trials) == 3
    out = tmp_path / "allfail.html"
    done = CliRunner().invoke(main, ["report", "allfail", "--store", store, "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "no trial completed" in out.read_text()


def test_refine_of_an_experiment_with_no_completed_trial_exits_2(tmp_path):
    store = _all_failed(tmp_path)
    out = tmp_path / "refined.toml"
    done = CliRunner().invoke(main, ["refine", "allfail", "--store", store, "-o", str(out)])
    assert done.exit_code == EXIT_BAD_INPUT, done.output
    assert "no completed trial" in done.output and "Traceback" not in done.output
    assert not out.exists()


def test_bare_numbers_among_an_evaluations_metrics_are_kept_without_sem():
    result = bo_hpo.tune(
        lambda c: bo_hpo.Evaluation(c["x"], 0.01, {"acc": 1 - c["x"], "f1": (0.5, 0.1)}),
        {"x": ("uniform", 0.0, 1.0)}, budget=3, seed=0)
    frame = result.trials
    assert list(frame["metric_acc"]) == pytest.approx([1 - x for x in frame["x"]])
    assert frame["metric_acc_sem"].isna().all()
    assert list(frame["metric_f1_sem"]) == [0.1] * 3


def test_a_metric_that_is_not_a_number_fails_the_trial_naming_it():
    with pytest.raises(bo_hpo.TuningError) as caught:
        bo_hpo.tune(lambda c: bo_hpo.Evaluation(c["x"], None, {"acc": "high"}),
                    {"x": ("uniform", 0.0, 1.0)}, budget=2, seed=0)
    records = caught.value.result.records
    assert {(r.reason, r.detail.split(":")[0]) for r in records} == {("bad_result",
                                                                      "metric 'acc'")}


def test_metrics_returned_without_metric_stop_at_once_with_the_trials_so_far():
    """A setup error, like an evaluator's unknown key: it failed every trial up to
    max_failures before. Now it stops at the first mapping, and the trials come along."""
    calls = iter(range(100))

    def objective(config):
        return config["x"] if next(calls) < 2 else {"loss": config["x"], "acc": 0.5}

    with pytest.raises(ConfigError, match=r"returned metrics \['acc', 'loss'\]; pass metric=") \
            as caught:
        bo_hpo.tune(objective, {"x": ("uniform", 0.0, 1.0)}, budget=8, seed=0)
    assert [r.status for r in caught.value.result.records] == ["completed"] * 2 + ["interrupted"]


def test_a_named_metric_the_objective_does_not_return_says_so():
    with pytest.raises(bo_hpo.TuningError) as caught:
        bo_hpo.tune(lambda c: {"loss": c["x"]}, {"x": ("uniform", 0.0, 1.0)}, budget=2,
                    seed=0, metric="acc")
    details = {r.detail for r in caught.value.result.records}
    assert details == {"objective returned metrics ['loss']; metric='acc' is not among them"}


def test_schedule_unit_dir_implies_systemd_and_removing_an_unknown_job_exits_2(
        tmp_path, monkeypatch):
    (tmp_path / "userobj.py").write_text(HANGS)
    monkeypatch.chdir(tmp_path)
    units = tmp_path / "units"
    store = f"sqlite:///{tmp_path / 'store.db'}"
    path = _experiment(tmp_path, "userobj:hang_above_half", name="night")
    runner = CliRunner()
    made = runner.invoke(main, ["schedule", str(path), "--cron", "0 2 * * *",
                                "--unit-dir", str(units), "--store", store])
    assert made.exit_code == 0, made.output
    assert sorted(p.name for p in units.iterdir()) == ["bo-hpo-night.service",
                                                       "bo-hpo-night.timer"]
    listed = runner.invoke(main, ["schedule", "--list", "--unit-dir", str(units),
                                  "--store", store])
    assert listed.exit_code == 0 and "night" in listed.output, listed.output
    gone = runner.invoke(main, ["schedule", "--remove", "nosuch", "--unit-dir", str(units)])
    assert gone.exit_code == EXIT_BAD_INPUT and "nosuch" in gone.output
    removed = runner.invoke(main, ["schedule", "--remove", "night", "--unit-dir", str(units)])
    assert removed.exit_code == 0, removed.output
    assert not list(units.iterdir())


ACCURACY = """
def accuracy(config):
    return {"accuracy": 1.0 - (config["x"] - 0.7) ** 2, "loss": (config["x"] - 0.7) ** 2}
"""


def test_an_experiment_file_can_maximise_a_named_metric_of_its_function(tmp_path,
                                                                         monkeypatch):
    (tmp_path / "userobj_acc.py").write_text(ACCURACY)  # a name no other test imports
    monkeypatch.chdir(tmp_path)
    path = _experiment(tmp_path, "userobj_acc:accuracy", name="acc", trials=8, timeout=30)
    path.write_text('minimize = false\nmetric = "accuracy"\n' + path.read_text())
    spec = load_experiment(path)
    assert (spec.minimize, spec.metric) == (False, "accuracy")
    result = run_experiment(spec, store=f"sqlite:///{tmp_path / 'store.db'}").result
    assert result.minimize is False
    completed = [r for r in result.records if r.status == "completed"]
    assert len(completed) == 8
    # the best observed is the highest accuracy, and the loss is kept beside it
    assert result.best_observed["mean"] == max(r.mean for r in completed)
    assert all(r.metrics["loss"][0] == pytest.approx(1.0 - r.mean) for r in completed)


@pytest.mark.parametrize(("lines", "needle"), [
    ("minimize = false\n", "`minimize = false` needs an evaluator of your own"),
    ('metric = "accuracy"\n', "`metric` needs an evaluator of your own"),
    ('minimize = "no"\n', "`minimize` must be true or false, got 'no'"),
])
def test_direction_and_metric_are_checked_in_the_file(tmp_path, lines, needle):
    path = tmp_path / "bad.toml"
    path.write_text(lines + 'evaluator = "mlp_fashion"\n[space]\nlearning_rate = '
                    '["log_uniform", 1e-4, 1e-1]\n')
    done = CliRunner().invoke(main, ["check", str(path)])
    assert done.exit_code == EXIT_BAD_INPUT, done.output
    assert needle in done.output and "Traceback" not in done.output


QUICK = """
def quick(config):
    return (config["x"] - 0.3) ** 2
"""


def test_resume_takes_parallel_and_runs_the_rest_on_worker_processes(tmp_path, monkeypatch):
    (tmp_path / "userobj_quick.py").write_text(QUICK)
    monkeypatch.chdir(tmp_path)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    path = _experiment(tmp_path, "userobj_quick:quick", name="par", trials=3, timeout=60)
    runner = CliRunner()
    first = runner.invoke(main, ["run", str(path), "--store", store])
    assert first.exit_code == 0, first.output
    more = runner.invoke(main, ["resume", "par", "--trials", "7", "--parallel", "2",
                                "--store", store])
    assert more.exit_code == 0, more.output
    records = bo_hpo.load("par", store=store).records
    assert [r.status for r in records] == ["completed"] * 7
    # the first session ran in this process, the resumed one on spawned workers
    assert all(not (r.worker or "").startswith("process") for r in records[:3])
    assert all((r.worker or "").startswith("process") for r in records[3:])


def test_a_bad_invalid_if_rule_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('evaluator = "mlp_fashion"\ninvalid_if = ["learning_rate >> 3"]\n'
                    '[space]\nlearning_rate = ["log_uniform", 1e-4, 1e-1]\n')
    done = CliRunner().invoke(main, ["check", str(path)])
    assert done.exit_code == EXIT_BAD_INPUT, done.output
    assert "rules.toml: invalid_if: rule 'learning_rate >> 3': RShift is not allowed" \
        in done.output


def test_a_baseline_value_of_an_inactive_parameter_is_dropped_with_a_warning(caplog):
    space = {"opt": ("choice", ["SGD", "Adam"]),
             "m": ("uniform", 0.0, 0.99, {"when": {"opt": ["SGD"]}})}
    with caplog.at_level("WARNING", logger="bo_hpo.loop"):
        result = bo_hpo.tune(lambda c: 1.0 if c["opt"] == "SGD" else 0.5, space, budget=2,
                             seed=0, baseline={"opt": "Adam", "m": 0.5})
    assert result.records[0].config == {"opt": "Adam"}
    assert "baseline: m=0.5 not used: inactive for this baseline" in caplog.text


def test_commands_that_only_read_create_no_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BO_HPO_STORE", raising=False)
    runner = CliRunner()
    listed = runner.invoke(main, ["list"])
    assert listed.exit_code == 0 and "no experiments: no store at" in listed.output
    elsewhere = f"sqlite:///{tmp_path / 'nodir' / 'x.db'}"
    for args in (["status", "foo"], ["report", "foo"], ["resume", "foo"], ["tell", "foo", "0", "1"],
                 ["status", "foo", "--store", elsewhere], ["list", "--store", elsewhere],
                 ["tell", "foo", "0", "1", "--store", elsewhere]):
        done = runner.invoke(main, args)
        assert done.exit_code in (0, EXIT_BAD_INPUT), (args, done.output)
        assert "no store at" in done.output and "Traceback" not in done.output
    with pytest.raises(bo_hpo.errors.NotFoundError, match="no store at"):
        bo_hpo.load("foo", store=elsewhere)
    with pytest.raises(bo_hpo.errors.NotFoundError, match="no store at"):
        bo_hpo.Experiment("foo", store=elsewhere).ask()  # no space: it could create nothing
    assert not list(tmp_path.iterdir())  # no reports/, no nodir/, no database


@pytest.mark.parametrize("args", [["status", "foo"], ["report", "foo"], ["resume", "foo"],
                                  ["tell", "foo", "0", "1"], ["list"]])
def test_a_malformed_store_url_exits_4_from_every_command(args, tmp_path, monkeypatch):
    """The README's promise: a store that cannot be used, a malformed URL included, is exit 4
    from every command; a name that is not there is exit 2 (a wrong name, not a bad store)."""
    from bo_hpo.cli import EXIT_STORE

    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(main, [*args, "--store", "sqlite://x.db"])
    assert done.exit_code == EXIT_STORE, done.output
    assert "three slashes" in done.output and "Traceback" not in done.output
    assert not list(tmp_path.iterdir())


def test_a_run_piped_into_head_goes_on_to_the_end(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "userobj_quick.py").write_text(QUICK)
    path = _experiment(tmp_path, "userobj_quick:quick", name="piped", trials=6, timeout=60)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # head exits after the header and one trial line: every later write hits a closed pipe
    done = subprocess.run(
        f"{sys.executable} -m bo_hpo.cli run {path} --store {store} | head -2; "
        f"echo \"rc=${{PIPESTATUS[0]}}\"", shell=True, executable="/bin/bash", cwd=tmp_path,
        env=env, capture_output=True, text=True, timeout=300)
    assert done.stdout.count("\n") == 3 and "rc=0" in done.stdout, done.stdout + done.stderr
    records = bo_hpo.load("piped", store=store).records
    assert [r.status for r in records] == ["completed"] * 6
    assert (tmp_path / "reports" / "piped" / "report.html").exists() or \
        (tmp_path / "reports" / "piped.html").exists()


def test_the_summary_of_an_ask_tell_experiment_does_not_say_stopped(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    exp = bo_hpo.Experiment("asked", store, {"x": ("uniform", 0.0, 1.0)}, seed=0)
    for _ in range(2):
        trial = exp.ask()
        exp.tell(trial, trial.config["x"])
    text = bo_hpo.load("asked", store=store).summary()
    assert "open: its trials come from ask and tell" in text and "stopped:" not in text


def test_trials_asked_after_a_run_stopped_reopen_the_experiment(tmp_path):
    """A run stopped at its budget, then two more trials came from ask and tell: the summary
    must not say the run's "max_trials (3) reached" beside five trials."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    space = {"x": ("uniform", 0.0, 1.0)}
    ran = bo_hpo.tune(lambda c: c["x"], space, budget=3, seed=0, store=store, name="e")
    assert "stopped: max_trials (3) reached" in ran.summary()
    exp = bo_hpo.Experiment("e", store)
    for _ in range(2):
        trial = exp.ask()
        exp.tell(trial, trial.config["x"])
    loaded = bo_hpo.load("e", store=store)
    assert len(loaded.records) == 5
    assert "open: its trials come from ask and tell" in loaded.summary()
    assert "max_trials (3)" not in loaded.summary()
    again = bo_hpo.tune(lambda c: c["x"], space, budget=6, seed=0, store=store, name="e")
    assert [r.trial for r in again.records] == [0, 1, 2, 3, 4, 5]  # five kept, one more
    assert "stopped: max_trials (6) reached" in again.summary()


def test_telling_a_trial_twice_or_one_never_asked_is_bad_input(tmp_path):
    """Optuna's ``tell`` raises ValueError for both; here a ConfigError (a ValueError), and
    the CLI exits 2 without touching the stored result."""
    store = f"sqlite:///{tmp_path / 's.db'}"
    exp = bo_hpo.Experiment("twice", store=store, space={"x": ("uniform", 0.0, 1.0)}, seed=0)
    trial = exp.ask()
    exp.tell(trial, 0.5)
    with pytest.raises(ConfigError, match=r"trial 0 of 'twice' is completed.*told already"):
        exp.tell(trial, 0.1)
    runner = CliRunner()
    twice = runner.invoke(main, ["tell", "twice", "0", "0.1", "--store", store])
    assert twice.exit_code == EXIT_BAD_INPUT, twice.output
    assert "told already" in twice.output
    never = runner.invoke(main, ["tell", "twice", "7", "0.1", "--store", store])
    assert never.exit_code == EXIT_BAD_INPUT and "has no trial 7" in never.output
    assert [(r.status, r.mean) for r in bo_hpo.load("twice", store=store).records] == [
        ("completed", 0.5)]


def test_asks_that_fall_back_to_random_draw_different_configurations(tmp_path, monkeypatch):
    """Each ask replays the stored trials into a new proposer: its random draws must go on
    from there, not restart from the seed (four asks gave one configuration four times)."""
    from bo_hpo._ax import import_ax

    def broken(*args, **kwargs):
        raise RuntimeError("the model is broken")

    monkeypatch.setattr(import_ax().Client, "get_next_trials", broken)
    exp = bo_hpo.Experiment("fallbacks", f"sqlite:///{tmp_path / 's.db'}",
                            {"x": ("uniform", 0.0, 1.0)}, seed=0)
    configs = []
    for _ in range(4):
        trial = exp.ask()
        exp.tell(trial, trial.config["x"])
        configs.append(trial.config["x"])
    assert len(set(configs)) == 4, configs
    assert set(exp.result().trials["generator"]) == {"fallback"}


@pytest.mark.parametrize("returned", [bo_hpo.Evaluation(None), bo_hpo.Evaluation("0.3"),
                                      bo_hpo.Evaluation(0.3, "0.1")])
def test_an_evaluation_whose_mean_or_sem_is_not_a_number_fails_the_trial(returned):
    """A raw TypeError escaped before, without the completed trials."""
    calls = iter(range(100))

    def objective(config):
        return config["x"] if next(calls) < 2 else returned

    with pytest.raises(bo_hpo.TuningError) as caught:
        bo_hpo.tune(objective, {"x": ("uniform", 0.0, 1.0)}, budget=6, seed=0,
                    max_failures=2)
    records = caught.value.result.records
    assert [r.status for r in records[:2]] == ["completed"] * 2
    failed = [r for r in records if r.status == "failed"]
    assert failed and {r.reason for r in failed} == {"bad_result"}
    assert all(r.detail.startswith("Evaluation: ") for r in failed)


def test_tell_keeps_an_evaluations_metrics_and_refuses_a_value_with_failed(tmp_path):
    store = f"sqlite:///{tmp_path / 's.db'}"
    exp = bo_hpo.Experiment("told", store=store, space={"x": ("uniform", 0.0, 1.0)}, seed=0)
    trial = exp.ask()
    record = exp.tell(trial, bo_hpo.Evaluation(0.15, 0.01, {"acc": 0.9}, {"epochs": 3}))
    assert record.metrics == {"acc": (0.9, None)} and record.metadata == {"epochs": 3}
    stored = bo_hpo.load("told", store=store).records[0]
    assert stored.metrics == {"acc": (0.9, None)} and stored.mean == 0.15
    second = exp.ask()
    with pytest.raises(ConfigError, match=r"a value \(0.1\) or failed= \('diverged'\), not both"):
        exp.tell(second, 0.1, failed="diverged")
    with pytest.raises(ConfigError, match="metric 'acc'"):
        exp.tell(second, bo_hpo.Evaluation(0.2, None, {"acc": "high"}))
    assert exp.tell(second, failed="diverged").status == "failed"  # still running till then


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"minimize": "no"}, "minimize must be True or False, got minimize='no'"),
    ({"seed": -5}, "seed must be an integer >= 0 or None, got seed=-5"),
    ({"n_initial": "2"}, "n_initial must be an integer >= 1 or None, got n_initial='2'"),
    ({"n_initial": 0}, "n_initial must be an integer >= 1 or None, got n_initial=0"),
    ({"is_valid": 3}, "is_valid must be a function"),
])
def test_experiment_checks_its_arguments_as_tune_does(kwargs, needle, tmp_path):
    """Accepted before; the first ask then raised SQLAlchemy's StatementError."""
    store = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(ConfigError) as caught:
        bo_hpo.Experiment("e", store, {"x": ("uniform", 0.0, 1.0)}, **kwargs)
    assert needle in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        bo_hpo.tune(lambda c: c["x"], {"x": ("uniform", 0.0, 1.0)}, budget=2, **kwargs)
    assert needle in str(caught.value)


def test_experiment_refuses_the_other_direction_of_a_stored_one(tmp_path):
    store = f"sqlite:///{tmp_path / 's.db'}"
    space = {"x": ("uniform", 0.0, 1.0)}
    exp = bo_hpo.Experiment("e", store, space, seed=0)
    exp.tell(exp.ask(), 0.5)
    with pytest.raises(ConfigError, match="minimises=True, but this Experiment has "
                                          "minimize=False"):
        bo_hpo.Experiment("e", store, space, minimize=False).ask()
    assert len(bo_hpo.load("e", store=store).records) == 1
    assert bo_hpo.Experiment("e", store).ask().number == 1  # no space: the stored direction


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"max_failures": -1}, "max_failures must be an integer >= 0 or None, got max_failures=-1"),
    ({"max_failures": "3"}, "max_failures must be an integer >= 0"),
    ({"max_consecutive_invalid": "3"}, "max_consecutive_invalid must be an integer >= 1, got"),
    ({"callback": 3}, "callback must be a function of the progress, got 3"),
])
def test_tune_checks_its_limits_and_callback_before_any_trial(kwargs, needle):
    calls = []
    with pytest.raises(ConfigError) as caught:
        bo_hpo.tune(lambda c: calls.append(c) or c["x"], {"x": ("uniform", 0.0, 1.0)},
                    budget=2, **kwargs)
    assert needle in str(caught.value) and calls == []


def test_numpy_integers_are_integers_for_seed_and_budget():
    import numpy as np

    result = bo_hpo.tune(lambda c: c["x"], {"x": ("uniform", 0.0, 1.0)}, budget=np.int64(2),
                         seed=np.int64(0), n_initial=np.int64(2))
    assert len(result.records) == 2
