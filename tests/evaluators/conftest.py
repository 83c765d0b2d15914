"""Fixtures for the evaluator tests: tiny configs, the embedded data, the shared data on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

# The project's checkout sits beside shared/ (…/main and …/shared); tests that need the full
# datasets skip when it is absent (in CI, say).
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(autouse=True)
def _one_training_thread(monkeypatch):
    """Train single-threaded: on a shared or loaded CI machine, OpenMP threads that outnumber
    free cores spin-wait on each other and a 0.3 s run can take 30 s (seen on a 2-core box)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "fashion-mnist" / "FashionMNIST" / "raw").is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def fashion_small():
    from bo_hpo.evaluators.data import load_fashion_mnist

    return load_fashion_mnist()


@pytest.fixture(scope="session")
def shakespeare():
    from bo_hpo.evaluators.data import load_shakespeare

    return load_shakespeare()


@pytest.fixture
def tiny_mlp() -> dict:
    """A config that trains in well under a second on the embedded subset."""
    return {"hidden_dim": 64, "num_layers": 2, "batch_size": 64, "learning_rate": 1e-3, "epochs": 3}


@pytest.fixture
def tiny_gpt() -> dict:
    """A one-block transformer that trains 60 steps in about a second on CPU."""
    return {
        "num_layers": 1,
        "hidden_dim": 32,
        "num_heads": 2,
        "block_size": 32,
        "batch_size": 16,
        "learning_rate": 3e-3,
        "steps": 60,
    }


@pytest.fixture
def cuda():
    """The CUDA device, for the ``gpu`` tests; skips when there is none."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return "cuda"
