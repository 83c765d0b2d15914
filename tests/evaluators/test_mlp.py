from __future__ import annotations

import weakref

import pytest
import torch

from bo_hpo.errors import ConfigError, TrialFailed
from bo_hpo.evaluators import mlp
from bo_hpo.evaluators.data import _loaders, load_fashion_mnist


def test_tiny_mlp_beats_chance(tiny_mlp, fashion_small):
    ev = mlp.evaluate(tiny_mlp, data=fashion_small, device="cpu")
    assert ev.mean < 0.5  # chance is 0.9
    assert ev.is_finite() and ev.sem == pytest.approx((ev.mean * (1 - ev.mean) / 1000) ** 0.5)
    meta = ev.metadata
    assert meta["epochs_run"] == 3 and meta["device"] == "cpu" and meta["n_val"] == 1000
    assert meta["n_params"] == 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    assert meta["seconds"] > 0 and meta["samples_per_second"] > 0
    assert meta["peak_memory_bytes"] > 0
    assert set(ev.metrics) == {"val_loss", "train_loss"}


def test_evaluate_never_reads_test_images(monkeypatch, tiny_mlp):
    reads = []
    real_npz, real_idx = _loaders._read_npz_arrays, _loaders.read_idx
    monkeypatch.setattr(
        _loaders, "_read_npz_arrays", lambda p, keys: reads.append(keys) or real_npz(p, keys)
    )
    monkeypatch.setattr(_loaders, "read_idx", lambda p: reads.append(str(p)) or real_idx(p))
    data = load_fashion_mnist()
    mlp.evaluate(tiny_mlp, data=data, epochs=1)
    mlp.evaluate(tiny_mlp, epochs=1)  # data=None loads the embedded subset itself
    assert data.test_reads == 0
    assert reads == [("x_train", "y_train")] * 2


def test_final_eval_reads_test_once_and_trains_on_all(tiny_mlp, fashion_small):
    out = mlp.final_eval(tiny_mlp, data=fashion_small, device="cpu", epochs=2)
    assert fashion_small.test_reads == 1
    assert out["n_train"] == 5000 and out["n_test"] == 1000
    assert out["test_error"] < 0.5 and 0 < out["test_error_sem"] < 0.02


def test_same_seed_same_result_on_cpu(tiny_mlp, fashion_small):
    a = mlp.evaluate(tiny_mlp, data=fashion_small, seed=7, device="cpu", epochs=1)
    b = mlp.evaluate(tiny_mlp, data=fashion_small, seed=7, device="cpu", epochs=1)
    c = mlp.evaluate(tiny_mlp, data=fashion_small, seed=8, device="cpu", epochs=1)
    assert (a.mean, a.metrics) == (b.mean, b.metrics)
    assert a.metrics["val_loss"] != c.metrics["val_loss"]


def test_huge_learning_rate_diverges(fashion_small):
    config = {"hidden_dim": 32, "num_layers": 2, "optimizer": "SGD", "learning_rate": 1e4}
    with pytest.raises(TrialFailed) as info:
        mlp.evaluate(config, data=fashion_small, device="cpu", epochs=2)
    assert info.value.reason == "diverged"


def test_simulated_oom_then_next_trial_succeeds(monkeypatch, tiny_mlp, fashion_small):
    built = []
    real_build = mlp.build_model

    def build_and_remember(*args, **kwargs):
        model = real_build(*args, **kwargs)
        built.append(weakref.ref(model))
        return model

    def oom_forward(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(mlp, "build_model", build_and_remember)
    with monkeypatch.context() as patch:
        patch.setattr(torch.nn.Sequential, "forward", oom_forward)
        with pytest.raises(TrialFailed) as info:
            mlp.evaluate(tiny_mlp, data=fashion_small, device="cpu", epochs=1)
    assert info.value.reason == "out_of_memory" and "20.00 GiB" in info.value.detail
    assert built[0]() is None  # the failed trial's model was freed
    ev = mlp.evaluate(tiny_mlp, data=fashion_small, device="cpu", epochs=1)
    assert ev.mean < 0.5


def test_time_limit_raises_timeout(tiny_mlp, fashion_small):
    with pytest.raises(TrialFailed) as info:
        mlp.evaluate(tiny_mlp, data=fashion_small, time_limit=1e-6)
    assert info.value.reason == "timeout"


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"learning_rat": 0.1}, r"unknown \['learning_rat'\]"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"batch_size": 12.5}, "batch_size must be an integer, got 12.5"),
        ({"optimizer": "RMSprop"}, "optimizer must be one of"),
        ({"normalization": "group"}, "normalization"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_config_is_config_error(config, match):
    with pytest.raises(ConfigError, match=match):
        mlp.evaluate(config)


def test_missing_keys_take_baseline_defaults():
    cfg = mlp.MLPConfig.from_mapping({"optimizer": "sgd", "batch_size": 64.0})
    assert cfg.optimizer == "SGD" and cfg.batch_size == 64 and cfg.momentum == 0.9
    assert (cfg.learning_rate, cfg.hidden_dim, cfg.num_layers, cfg.dropout) == (3e-4, 512, 4, 0.1)
    assert (cfg.weight_decay, cfg.activation, cfg.normalization) == (1e-2, "relu", "none")


@pytest.mark.parametrize(
    "extra",
    [
        {"normalization": "batch", "activation": "gelu"},
        {"normalization": "layer", "activation": "tanh", "label_smoothing": 0.1},
        {"optimizer": "SGD", "learning_rate": 0.05, "momentum": 0.5, "warmup_frac": 0.2},
        {"optimizer": "Adam", "dropout": 0.0, "num_layers": 0},
    ],
)
def test_variants_train(tiny_mlp, fashion_small, extra):
    ev = mlp.evaluate({**tiny_mlp, **extra}, data=fashion_small, device="cpu", epochs=2)
    assert ev.mean < 0.5


def test_build_model_layers():
    cfg = mlp.MLPConfig.from_mapping(
        {"num_layers": 2, "hidden_dim": 8, "dropout": 0.0, "normalization": "batch"}
    )
    kinds = [type(m).__name__ for m in mlp.build_model(cfg)]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]


@pytest.mark.gpu
def test_tiny_mlp_on_cuda(tiny_mlp, fashion_small, cuda):
    ev = mlp.evaluate(tiny_mlp, data=fashion_small, device=cuda)
    assert ev.mean < 0.5 and ev.metadata["device"].startswith("cuda")
    assert ev.metadata["peak_memory_bytes"] > 0


@pytest.mark.slow
def test_baseline_config_on_embedded_subset(fashion_small):
    """The seed's baseline (AdamW 3e-4, 4 x 512, 10 epochs) on the 4000-image training part."""
    ev = mlp.evaluate({}, data=fashion_small, device="cpu")
    assert ev.mean < 0.2 and ev.metadata["epochs_run"] == 10
