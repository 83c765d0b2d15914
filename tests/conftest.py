"""Shared fixtures: the seed's MLP search space, its ``is_valid`` rule and baseline, the
transformer space with its divisibility constraint, and one GP run that several tests read.

The MLP space, ``is_valid`` and baseline are copied as written in
``shared/seeds/000_ec1396f760b0ca62.txt``; the package must accept them unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _private_store(tmp_path_factory, monkeypatch):
    """Every test gets its own default store and runs in its own folder, so nothing writes
    into the repository's reports/."""
    folder = tmp_path_factory.mktemp("store")
    monkeypatch.setenv("BO_HPO_STORE", f"sqlite:///{folder / 'bo_hpo.db'}")
    monkeypatch.chdir(folder)

# ------------------------------------------------------------------ the seed, as written
SEED_SEARCH_SPACE: dict[str, Any] = {
    "learning_rate": ("log_uniform", 1e-5, 1e-1),
    "batch_size": ("choice", [32, 64, 128, 256]),
    "hidden_dim": ("choice", [128, 256, 512, 1024]),
    "num_layers": ("choice", [2, 3, 4, 6]),
    "dropout": ("uniform", 0.0, 0.5),
    "optimizer": ("choice", ["SGD", "Adam", "AdamW"]),
    "weight_decay": ("log_uniform", 1e-6, 1e-1),
}

SEED_BASELINE: dict[str, Any] = {
    "learning_rate": 3e-4,
    "batch_size": 128,
    "hidden_dim": 512,
    "num_layers": 4,
    "dropout": 0.1,
    "optimizer": "AdamW",
    "weight_decay": 1e-2,
}


def seed_is_valid(config):
    if config["hidden_dim"] >= 1024 and config["batch_size"] >= 256:
        return False
    if config["optimizer"] == "SGD" and config["learning_rate"] < 1e-4:
        return False
    return True


def mlp_loss(config: dict[str, Any]) -> float:
    """A smooth stand-in for validation loss over the seed's MLP space (minimum 0.2)."""
    lr_term = (math.log10(config["learning_rate"]) + 3.0) ** 2
    wd_term = 0.05 * (math.log10(config["weight_decay"]) + 3.0) ** 2
    opt_term = {"SGD": 0.6, "Adam": 0.0, "AdamW": 0.1}[config["optimizer"]]
    width_term = 0.1 * abs(math.log2(config["hidden_dim"]) - 9)
    return 0.2 + lr_term + wd_term + opt_term + width_term + (config["dropout"] - 0.1) ** 2


@pytest.fixture
def mlp_space() -> dict[str, Any]:
    return {k: tuple(v) for k, v in SEED_SEARCH_SPACE.items()}


@pytest.fixture
def mlp_baseline() -> dict[str, Any]:
    return dict(SEED_BASELINE)


@pytest.fixture
def is_valid():
    return seed_is_valid


@pytest.fixture
def momentum_space() -> dict[str, Any]:
    """The seed's conditional example: momentum matters only for SGD."""
    return {
        "learning_rate": ("log_uniform", 1e-5, 1e-1),
        "optimizer": ("choice", ["SGD", "Adam", "AdamW"]),
        "momentum": ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}),
    }


@pytest.fixture
def transformer_space() -> dict[str, Any]:
    return {
        "hidden_dim": ("int", 64, 1024),
        "num_heads": ("choice", [1, 2, 3, 4, 6, 8, 12, 16]),
    }


# ------------------------------------------------------------------ one shared GP run
class Recorder:
    """An objective that records every config it receives; noisy when ``noise`` > 0."""

    def __init__(self, fn, noise: float = 0.0, seed: int = 0) -> None:
        import numpy as np

        self.fn = fn
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.configs: list[dict[str, Any]] = []

    def __call__(self, config: dict[str, Any]) -> float:
        self.configs.append(dict(config))
        return self.fn(config) + self.noise * float(self.rng.standard_normal())


@pytest.fixture(scope="session")
def mlp_gp_run():
    """The seed's MLP space, ``is_valid`` and baseline, a noisy objective, 14 evaluations
    with the GP after 5 (about 15 s). Returns (result, recorder, the last Progress)."""
    from bo_hpo import tune

    recorder = Recorder(mlp_loss, noise=0.05, seed=1)
    progress = []
    result = tune(
        recorder, dict(SEED_SEARCH_SPACE), is_valid=seed_is_valid, baseline=SEED_BASELINE,
        budget=14, seed=3, callback=progress.append,
    )
    return result, recorder, progress[-1]
