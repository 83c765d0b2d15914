"""Asynchronous parallel trials: threads, worker processes and Ray tasks; dead workers,
timeouts that really stop a trial, pending points, and ask/tell from separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bo_hpo
from bo_hpo import ConfigError
from bo_hpo.executors import ProcessExecutor

TESTS = Path(__file__).resolve().parent
SPACE = {
    "lr": ("log_uniform", 1e-5, 1e-1),
    "dropout": ("uniform", 0.0, 0.5),
    "optimizer": ("choice", ["sgd", "adam"]),
}


@pytest.fixture
def objectives(monkeypatch):
    """tests/objectives.py, importable here and in spawned workers."""
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS),
                                                      os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("BO_HPO_TEST_SLEEP", "0.3")
    import objectives as module

    return module


def _distinct(records):
    configs = [json.dumps(r.config, sort_keys=True) for r in records]
    return len(set(configs)) == len(configs)


def _most_at_once(records):
    events = sorted([(r.started_at, 1) for r in records] + [(r.ended_at, -1) for r in records])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def test_threads_run_trials_at_once_without_duplicates(objectives, caplog):
    result = bo_hpo.tune(objectives.slow, SPACE, budget=12, seed=0, parallelism=4)
    assert sum(r.status == "completed" for r in result.records) == 12
    assert _distinct(result.records)  # running trials are pending points: no duplicates
    assert len({r.worker for r in result.records}) > 1
    assert _most_at_once(result.records) >= 3  # asynchronous: workers kept busy
    assert all(r.fallback is None for r in result.records)  # no random fill-ins
    assert {r.generator for r in result.records} >= {"sobol", "gp"}


def test_process_executor_completes_the_budget_with_two_workers(objectives):
    result = bo_hpo.tune(objectives.slow, SPACE, budget=8, seed=0, executor="process",
                         parallelism=2)
    assert sum(r.status == "completed" for r in result.records) == 8
    assert _distinct(result.records)
    workers = {r.worker for r in result.records}
    assert len(workers) == 2 and all(w.startswith("process ") for w in workers)
    assert result.info["proposal_blocking_seconds"] >= 0


def _pinned(executor, objectives) -> dict[int, float]:
    """Each of the executor's workers runs one trial reporting the GPU it was pinned to."""
    for trial in range(executor.capacity):
        executor.submit(trial, objectives.visible_devices, {"lr": 1e-3}, timeout=60)
    values: dict[int, float] = {}
    try:
        while len(values) < executor.capacity:
            values.update({o.trial: o.value for o in executor.wait()})
    finally:
        executor.shutdown()
    return values


@pytest.mark.parametrize("parent_sees, expected", [(None, [0, 1, 0]), ("5,7", [5, 7, 5])])
def test_more_process_workers_than_gpus_share_them_in_turn(objectives, monkeypatch,
                                                          parent_sees, expected):
    """--parallel 3 on 2 GPUs: workers pinned to GPUs 0, 1, 0 (none left unpinned, which
    would put all three on GPU 0), named as the parent's CUDA_VISIBLE_DEVICES names them."""
    from bo_hpo.executors import process

    monkeypatch.setattr(process, "_visible_gpus", lambda: [0, 1])
    if parent_sees is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", parent_sees)
    executor = ProcessExecutor(workers=3)
    assert executor.devices == [0, 1]
    assert _pinned(executor, objectives) == dict(enumerate(map(float, expected)))
    assert ProcessExecutor(workers=2, devices=[]).devices == []  # pin none, on request


def test_a_killed_process_worker_fails_its_trial_which_is_retried(objectives, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("BO_HPO_TEST_MARKER", str(tmp_path / "died"))
    result = bo_hpo.tune(objectives.dies_once, SPACE, budget=6, seed=0, executor="process",
                         parallelism=2)
    lost = [r for r in result.records if r.reason == "worker_lost"]
    assert len(lost) == 1 and "died" in lost[0].detail
    retry = next(r for r in result.records if r.retry_of == lost[0].trial)
    assert retry.generator == "retry" and retry.config == lost[0].config
    assert retry.status == "completed"
    assert sum(r.status in ("completed", "failed") for r in result.records) == 6
    assert (tmp_path / "died").exists()


def test_a_timed_out_process_trial_is_stopped_for_real(objectives, tmp_path, monkeypatch):
    monkeypatch.setenv("BO_HPO_TEST_MARKER", str(tmp_path / "pid"))
    with pytest.raises(bo_hpo.TuningError) as err:
        bo_hpo.tune(objectives.pid_then_sleep, SPACE, budget=2, seed=0, executor="process",
                    parallelism=2, trial_timeout=3)
    records = err.value.result.records
    assert [r.reason for r in records] == ["timeout", "timeout"]
    pids = [int(p.read_text()) for p in tmp_path.glob("pid.*")]
    assert len(pids) == 2
    time.sleep(0.5)
    for pid in pids:  # the workers were killed, not left sleeping
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_process_and_ray_executors_refuse_a_closure_saying_why():
    with pytest.raises(ConfigError, match="must be importable"):
        bo_hpo.tune(lambda c: c["lr"], SPACE, budget=2, executor="process", parallelism=2)
    with pytest.raises(ConfigError, match="workers must be a positive integer"):
        ProcessExecutor(workers=0)


@pytest.mark.ray
def test_ray_local_instance_with_two_cpus_completes_the_budget(objectives, tmp_path,
                                                               monkeypatch):
    ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")
    from bo_hpo.executors import RayExecutor

    monkeypatch.setenv("BO_HPO_TEST_MARKER", str(tmp_path / "died"))
    executor = RayExecutor(workers=2, init_kwargs={
        "num_cpus": 2, "runtime_env": {"env_vars": {
            "PYTHONPATH": str(TESTS), "BO_HPO_TEST_SLEEP": "0.3",
            "BO_HPO_TEST_MARKER": str(tmp_path / "died")}}})
    try:
        result = bo_hpo.tune(objectives.dies_once, SPACE, budget=6, seed=0, executor=executor,
                             parallelism=2)
    finally:
        ray.shutdown()
    lost = [r for r in result.records if r.reason == "worker_lost"]
    assert len(lost) == 1
    retry = next(r for r in result.records if r.retry_of == lost[0].trial)
    assert retry.status == "completed" and retry.config == lost[0].config
    assert sum(r.status in ("completed", "failed") for r in result.records) == 6
    assert _distinct([r for r in result.records if r.generator != "retry"])
    assert all(r.worker.startswith("ray task") for r in result.records)


ASK_TELL_LOOP = r"""
set -eu
work() {
  for round in 1 2; do
    out=$("$PY" -m bo_hpo.cli ask "$EXP")
    trial=$(echo "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["trial"])')
    value=$(echo "$out" | "$PY" -c "$SCORE")
    "$PY" -m bo_hpo.cli tell sched_exp "$trial" "$value"
  done
}
work & work & work &
wait
"""


def test_ask_tell_from_a_shell_loop_of_separate_processes(tmp_path):
    exp = tmp_path / "sched_exp.toml"
    exp.write_text('name = "sched_exp"\nevaluator = "objectives:bowl"\nseed = 0\n[space]\n'
                   'lr = ["log_uniform", 1e-5, 1e-1]\ndropout = ["uniform", 0.0, 0.5]\n'
                   'optimizer = ["choice", ["sgd", "adam"]]\n')
    store = f"sqlite:///{tmp_path / 'store.db'}"
    score = ('import json, sys, objectives; '
             'print(objectives.bowl(json.load(sys.stdin)["config"]))')
    env = dict(os.environ, PY=sys.executable, EXP=str(exp), BO_HPO_STORE=store, SCORE=score,
               BO_HPO_TEST_SLEEP="0",
               PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(["bash", "-c", ASK_TELL_LOOP], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = bo_hpo.load("sched_exp", store=store)
    assert sorted(r.trial for r in result.records) == list(range(6))
    assert all(r.status == "completed" for r in result.records)
    assert _distinct(result.records)  # three askers at once got different configs
    assert done.stdout.count("completed") == 6


def test_ask_and_tell_in_python(tmp_path, objectives):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    exp = bo_hpo.Experiment("py", store=store, space=SPACE, seed=1,
                            baseline={"lr": 1e-3, "dropout": 0.1, "optimizer": "adam"})
    first, second = exp.ask(), exp.ask()
    assert first.config == {"lr": 1e-3, "dropout": 0.1, "optimizer": "adam"}
    assert second.config != first.config
    exp.tell(first, objectives.bowl(first.config))
    exp.tell(second.number, failed="diverged")
    with pytest.raises(bo_hpo.ConfigError, match="told already"):
        exp.tell(first, 1.0)
    with pytest.raises(ValueError, match="no trial 99"):
        exp.tell(99, 1.0)
    later = bo_hpo.Experiment("py", store=store)  # another process: the stored space
    third = later.ask()
    assert third.number == 2
    records = later.result().records
    assert [r.status for r in records] == ["completed", "failed", "running"]


def test_ask_refuses_an_incompatible_space_change_and_records_a_compatible_one(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    bo_hpo.Experiment("grow", store=store, space=SPACE, seed=0).ask()
    narrowed = {**SPACE}
    del narrowed["optimizer"]
    with pytest.raises(bo_hpo.SpaceChangedError, match="optimizer"):
        bo_hpo.Experiment("grow", store=store, space=narrowed).ask()
    widened = {**SPACE, "lr": ("log_uniform", 1e-6, 1e-1)}
    trial = bo_hpo.Experiment("grow", store=store, space=widened).ask()
    assert trial.number == 1
    st = bo_hpo.store.open_store(store)
    info = st.get_experiment("grow")
    assert [v["version"] for v in st.space_versions(info.id)] == [1, 2]
