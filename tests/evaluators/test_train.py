from __future__ import annotations

import math
import os
import time

import pytest
import torch

from bo_hpo.errors import ConfigError, TrialFailed
from bo_hpo.evaluators import _train as T

CPU = torch.device("cpu")


def test_warmup_cosine_shape():
    mult = [T.warmup_cosine(s, total_steps=110, warmup_steps=10) for s in range(110)]
    assert mult[0] == pytest.approx(0.1) and mult[9] == pytest.approx(1.0)
    assert mult[10] == pytest.approx(1.0)
    assert mult[60] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(mult[10:], mult[11:], strict=False))
    assert 0.0 <= mult[-1] < 1e-3


def test_warmup_cosine_without_warmup_starts_at_one():
    assert T.warmup_cosine(0, 100, 0) == 1.0
    assert T.warmup_cosine(100, 100, 0) == pytest.approx(0.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_divergence_guard_non_finite(bad):
    guard = T.DivergenceGuard("t", CPU)
    guard.observe(0, torch.tensor(2.3))
    with pytest.raises(TrialFailed) as info:
        guard.observe(1, torch.tensor(bad))
    assert info.value.reason == "diverged"


def test_divergence_guard_multiple_of_initial():
    guard = T.DivergenceGuard("t", CPU, factor=10.0)
    guard.observe(0, torch.tensor(2.0))
    guard.observe(1, torch.tensor(19.0))  # below 10 x 2.0: fine
    with pytest.raises(TrialFailed, match="exceeds 10 x the initial loss 2"):
        guard.observe(2, torch.tensor(21.0))


def test_deadline():
    T.Deadline(None, "t").check(0)
    deadline = T.Deadline(0.01, "t")
    deadline.check(0)
    time.sleep(0.02)
    with pytest.raises(TrialFailed) as info:
        deadline.check(7)
    assert info.value.reason == "timeout" and "step 7" in info.value.detail
    with pytest.raises(ConfigError, match="time_limit"):
        T.Deadline(0, "t")


def test_guard_oom_converts_and_releases():
    import weakref

    refs = []

    def boom():
        big = torch.zeros(1000)
        refs.append(weakref.ref(big))
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")

    with pytest.raises(TrialFailed) as info:
        T.guard_oom(boom, device=CPU, what="t")
    assert info.value.reason == "out_of_memory" and "1 GiB" in info.value.detail
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert refs[0]() is None  # the frame that held the tensor is gone
    assert T.guard_oom(lambda: 3, device=CPU, what="t") == 3


def test_training_session_restores_global_state(monkeypatch):
    monkeypatch.setattr(T, "free_cores", lambda: None)  # all cores, whatever the load
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with T.training_session(CPU, seed=0) as gen:
        torch.rand(5)
        assert isinstance(gen, torch.Generator)
        assert torch.get_num_threads() == T.training_threads()
    assert torch.get_num_threads() == threads
    torch.testing.assert_close(torch.rand(3), expected)


def test_resolve_device():
    assert T.resolve_device("cpu") == CPU
    assert T.resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device='cuda'"):
            T.resolve_device("cuda")


def test_training_threads_respects_omp_num_threads(monkeypatch):
    monkeypatch.setattr(T, "free_cores", lambda: 0.2)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert T.training_threads() == 3  # the user's word wins over the measured load
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert T.training_threads() == 1


@pytest.mark.parametrize(("free", "expected"), [
    (None, "all"), (0.0, 1), (0.4, 1), (0.6, "min2"), (64.0, "all")])
def test_training_threads_take_the_free_cores(monkeypatch, free, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(T, "free_cores", lambda: free)
    cores = T.cpu_count()
    want = {"all": cores, "min2": min(cores, 1)}.get(expected, expected)
    assert T.training_threads() == want


def test_free_cores_from_two_samples_of_idle_time():
    readings = iter([(100.0, 1000.0), (150.0, 1100.0)])  # half the jiffies idle
    free = T.free_cores(sample_seconds=0.0, read=lambda: next(readings))
    assert free == pytest.approx(0.5 * os.cpu_count())
    assert T.free_cores(sample_seconds=0.0, read=lambda: None) is None
