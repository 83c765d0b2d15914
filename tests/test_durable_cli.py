"""Durable runs end to end, through real ``bo-hpo`` processes: a SIGKILL in the middle of a
trial and the resume after it, two nights in a row, two overlapping nightly jobs, and the
scheduled command run by hand."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bo_hpo.cli import EXIT_BAD_INPUT, EXIT_LOCKED, main
from bo_hpo.store import open_store

TESTS = Path(__file__).resolve().parent

EXPERIMENT = """
name = "{name}"
evaluator = "objectives:slow"
seed = 0

[space]
lr = ["log_uniform", 1e-5, 1e-1]
dropout = ["uniform", 0.0, 0.5]
optimizer = ["choice", ["sgd", "adam"]]

[baseline]
lr = 1e-2
dropout = 0.1
optimizer = "sgd"

[budget]
max_trials = {trials}

[nightly]
max_trials = {nightly}
"""


def _write(tmp_path: Path, name: str = "exp", trials: int = 8, nightly: int = 6) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(EXPERIMENT.format(name=name, trials=trials, nightly=nightly))
    return path


def _env(store: str, sleep: float) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    env["BO_HPO_STORE"] = store
    env["BO_HPO_TEST_SLEEP"] = str(sleep)
    return env


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    # Ctrl-C as at a terminal: a test run started in the background by a non-interactive
    # shell inherits an ignored SIGINT, which Python (rightly) keeps ignored
    return subprocess.Popen([sys.executable, "-m", "bo_hpo.cli", *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_default_sigint)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(predicate, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _trials(store_url: str, name: str) -> list:
    st = open_store(store_url)
    try:
        info = st.get_experiment(name)
        return [] if info is None else st.trials(info.id)
    finally:
        st.close()


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_sigkill_mid_trial_then_resume_loses_nothing(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    path = _write(tmp_path, trials=8)
    proc = _cli("run", str(path), env=_env(store, sleep=1.0), cwd=tmp_path)
    try:
        # mid-trial: at least three finished and one written as running
        _wait_for(lambda: sum(r.status == "completed" for r in _trials(store, "exp")) >= 3
                  and any(r.status == "running" for r in _trials(store, "exp")),
                  what="three completed trials and one running")
    finally:
        _kill(proc)
    before = {r.trial: r for r in _trials(store, "exp") if r.status == "completed"}
    running = [r for r in _trials(store, "exp") if r.status == "running"]
    assert len(running) == 1

    resumed = _cli("run", str(path), env=_env(store, sleep=0.0), cwd=tmp_path)
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    after = {r.trial: r for r in _trials(store, "exp")}

    for number, record in before.items():  # every completed trial intact
        assert after[number].status == "completed"
        assert after[number].config == record.config and after[number].mean == record.mean
    lost = after[running[0].trial]
    assert lost.status == "interrupted" and "stopped" in lost.detail
    retries = [r for r in after.values() if r.retry_of == lost.trial]
    assert len(retries) == 1 and retries[0].config == lost.config
    assert retries[0].status == "completed" and retries[0].generator == "retry"
    evaluated = [r for r in after.values() if r.status in ("completed", "failed")]
    assert len(evaluated) == 8  # the budget counts both sessions
    configs = [tuple(sorted(r.config.items())) for r in evaluated]
    assert len(set(configs)) == len(configs)  # no configuration evaluated twice
    assert "re-run" not in out or "interrupted" in out


def test_two_nights_continue_one_experiment_and_status_shows_both(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("BO_HPO_TEST_SLEEP", "0")
    store = f"sqlite:///{tmp_path / 'store.db'}"
    path = _write(tmp_path, name="nights", trials=100, nightly=6)
    runner = CliRunner()
    for night in (1, 2):
        result = runner.invoke(main, ["nightly", str(path), "--store", store])
        assert result.exit_code == 0, result.output
        assert "one night of" in result.output
        # the limit is the night's, beside the experiment's running total
        assert f"{6 * night} completed" in result.output
        assert "stopped: this night's max_trials (6) reached" in result.output
    records = _trials(store, "nights")
    assert [r.night for r in records] == [1] * 6 + [2] * 6
    night2 = [r for r in records if r.night == 2]
    assert night2[0].generator == "gp"  # the model, fitted on night 1, proposes at once
    assert all(not r.is_baseline for r in night2)
    status = runner.invoke(main, ["status", "nights", "--store", store])
    assert status.exit_code == 0, status.output
    assert re.search(r"night 1: done, .*, 6 trials, best", status.output)
    assert re.search(r"night 2: done, .*, 6 trials, best", status.output)
    assert "12 evaluated (6 a night, 2 nights)" in status.output
    listing = runner.invoke(main, ["list", "--store", store])
    assert "nights" in listing.output and re.search(r"nights\s+\S+\s+12\s+2", listing.output)


def test_overlapping_nightly_runs_one_exits_locked_and_a_killed_lease_is_taken_over(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    path = _write(tmp_path, name="overlap", trials=100, nightly=4)
    first = _cli("nightly", str(path), env=_env(store, sleep=4.0), cwd=tmp_path)
    try:
        _wait_for(lambda: any(r.status == "running" for r in _trials(store, "overlap")),
                  what="the first night's first trial")
        before = [(r.trial, r.status) for r in _trials(store, "overlap")]
        second = _cli("nightly", str(path), env=_env(store, sleep=0.0), cwd=tmp_path)
        out, _ = second.communicate(timeout=120)
        assert second.returncode == EXIT_LOCKED, out
        assert "locked by another run" in out and f"pid {first.pid}" in out
        st = open_store(store)
        info = st.get_experiment("overlap")
        assert [n.number for n in st.nights(info.id)] == [1]  # the second touched nothing
        assert st.lease(info.id)["pid"] == first.pid
        assert [r.trial for r in _trials(store, "overlap")][:len(before)] == [
            t for t, _ in before]
    finally:
        _kill(first)
    third = _cli("nightly", str(path), env=_env(store, sleep=0.0), cwd=tmp_path)
    out, _ = third.communicate(timeout=300)
    assert third.returncode == 0, out
    assert "took over a stale lease" in out
    st = open_store(store)
    info = st.get_experiment("overlap")
    nights = st.nights(info.id)
    assert [(n.number, n.status) for n in nights] == [(1, "interrupted"), (2, "done")]
    assert nights[1].n_trials == 4
    assert st.lease(info.id) is None  # released at the end


def _run_by_hand(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True,
                          timeout=300)


def test_schedule_writes_cron_and_systemd_entries_whose_command_runs_the_night(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    path = _write(tmp_path, name="sched", trials=100, nightly=3)
    env = _env(store, sleep=0.0)
    crontab = tmp_path / "crontab"
    done = subprocess.run(
        [sys.executable, "-m", "bo_hpo.cli", "schedule", str(path), "--cron", "0 2 * * *",
         "--crontab-file", str(crontab), "--store", store],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = crontab.read_text().splitlines()
    assert lines[0] == "# bo-hpo:sched" and lines[1].startswith("0 2 * * * ")
    command = lines[1].split(" ", 5)[5].replace("\\%", "%")  # as cron hands it to sh
    assert "nightly" in command and shlex.quote(str(path)) in command
    ran = _run_by_hand(command, env)
    assert ran.returncode == 0, ran.stderr
    st = open_store(store)
    info = st.get_experiment("sched")
    assert [(n.number, n.status, n.n_trials) for n in st.nights(info.id)] == [(1, "done", 3)]
    log = tmp_path / "logs" / "sched.log"
    assert "one night of" in log.read_text()

    units = tmp_path / "units"
    done = subprocess.run(
        [sys.executable, "-m", "bo_hpo.cli", "schedule", str(path), "--cron", "30 1 * * 1-5",
         "--systemd", "--unit-dir", str(units), "--store", store],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    timer = (units / "bo-hpo-sched.timer").read_text()
    service = (units / "bo-hpo-sched.service").read_text()
    assert "OnCalendar=Mon..Fri *-*-* 01:30:00" in timer and "Persistent=true" in timer
    assert "Type=oneshot" in service
    from bo_hpo.schedule import _exec_unquote

    exec_line = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    word = exec_line.split(" -c ", 1)[1]
    ran = _run_by_hand(_exec_unquote(word), env)
    assert ran.returncode == 0, ran.stderr
    assert [n.number for n in st.nights(info.id)] == [1, 2]

    listed = subprocess.run(
        [sys.executable, "-m", "bo_hpo.cli", "schedule", "--list", "--crontab-file",
         str(crontab), "--store", store], env=env, capture_output=True, text=True, timeout=120)
    assert "sched" in listed.stdout


@pytest.mark.parametrize(("cron", "field"), [("0 25 * * *", "hour"), ("61 2 * * *", "minute"),
                                             ("0 2 * *", "5 fields")])
def test_a_bad_cron_expression_exits_2_naming_the_field(tmp_path, cron, field):
    path = _write(tmp_path, name="badcron")
    result = CliRunner().invoke(main, ["schedule", str(path), "--cron", cron,
                                       "--crontab-file", str(tmp_path / "crontab")])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert field in result.output and "Traceback" not in result.output
    assert not (tmp_path / "crontab").exists()


def test_ctrl_c_keeps_what_completed_prints_a_summary_and_exits_130(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    path = _write(tmp_path, name="sigint", trials=20)
    proc = _cli("run", str(path), env=_env(store, sleep=1.0), cwd=tmp_path)
    _wait_for(lambda: sum(r.status == "completed" for r in _trials(store, "sigint")) >= 2
              and any(r.status == "running" for r in _trials(store, "sigint")),
              what="two completed trials and one running")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted: stopping" in out and "best config" in out
    assert "Traceback" not in out
    statuses = [r.status for r in _trials(store, "sigint")]
    assert statuses.count("interrupted") == 1 and "running" not in statuses


def test_sigterm_is_handled_like_ctrl_c_and_releases_the_lease(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    path = _write(tmp_path, name="sigterm", trials=20)
    proc = _cli("run", str(path), env=_env(store, sleep=1.0), cwd=tmp_path)
    _wait_for(lambda: any(r.status == "running" for r in _trials(store, "sigterm")),
              what="a running trial")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out
    assert "terminated (SIGTERM): stopping" in out and "Traceback" not in out
    st = open_store(store)
    info = st.get_experiment("sigterm")
    assert st.lease(info.id) is None and info.status == "interrupted"
    interrupted = [r for r in st.trials(info.id) if r.status == "interrupted"]
    assert [r.detail for r in interrupted] == ["terminated by SIGTERM"]
