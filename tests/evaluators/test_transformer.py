from __future__ import annotations

import math

import pytest

from bo_hpo.errors import ConfigError, TrialFailed
from bo_hpo.evaluators import transformer as tr


def test_indivisible_heads_fail_with_shape_before_loading(monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("data must not be loaded for an impossible shape")

    monkeypatch.setattr(tr, "load_shakespeare", no_loading)
    monkeypatch.setattr(tr, "CharGPT", no_loading)
    with pytest.raises(TrialFailed) as info:
        tr.evaluate({"hidden_dim": 100, "num_heads": 3})
    assert info.value.reason == "shape"
    assert "hidden_dim=100" in info.value.detail and "num_heads=3" in info.value.detail


def test_tiny_transformer_learns(tiny_gpt, shakespeare):
    ev = tr.evaluate(tiny_gpt, data=shakespeare, device="cpu", eval_batches=5)
    assert ev.is_finite() and ev.mean < math.log(65)
    assert 0 < ev.sem < 0.5
    assert ev.metadata["steps_run"] == 60 and ev.metadata["eval_batches"] == 5
    assert ev.metadata["n_params"] > 0 and ev.metadata["device"] == "cpu"


def test_same_seed_same_loss_on_cpu(tiny_gpt, shakespeare):
    a, b = (
        tr.evaluate(tiny_gpt, data=shakespeare, seed=3, steps=10, eval_batches=2) for _ in range(2)
    )
    assert (a.mean, a.sem) == (b.mean, b.sem)


def test_huge_learning_rate_diverges(tiny_gpt, shakespeare):
    config = {**tiny_gpt, "learning_rate": 1e3, "warmup_frac": 0.0}
    with pytest.raises(TrialFailed) as info:
        tr.evaluate(config, data=shakespeare, device="cpu", eval_batches=1)
    assert info.value.reason == "diverged"


def test_block_longer_than_text_is_shape_failure(tiny_gpt, tmp_path):
    from bo_hpo.evaluators.data import load_shakespeare

    (tmp_path / "input.txt").write_text("abcdefghij" * 120)
    data = load_shakespeare(tmp_path)  # 120 validation characters
    with pytest.raises(TrialFailed) as info:
        tr.evaluate({**tiny_gpt, "block_size": 200}, data=data)
    assert info.value.reason == "shape"


def test_final_eval_scores_on_validation(tiny_gpt, shakespeare):
    out = tr.final_eval(tiny_gpt, data=shakespeare, steps=5, eval_batches=2)
    assert out["held_out"].startswith("validation") and math.isfinite(out["val_loss"])


@pytest.mark.parametrize(
    ("config", "match"),
    [({"n_layers": 2}, "unknown"), ({"block_size": 0}, "block_size"), ({"steps": "ten"}, "steps")],
)
def test_bad_config_is_config_error(config, match):
    with pytest.raises(ConfigError, match=match):
        tr.evaluate(config)


@pytest.mark.gpu
def test_tiny_transformer_on_cuda(tiny_gpt, shakespeare, cuda):
    ev = tr.evaluate(tiny_gpt, data=shakespeare, device=cuda, eval_batches=5)
    assert ev.mean < math.log(65) and ev.metadata["device"].startswith("cuda")
