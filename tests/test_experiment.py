"""Experiment files: the shipped ones load, the seed's rules match its is_valid, and every
malformed file fails with an error naming the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bo_hpo.errors import ConfigError, SearchSpaceError
from bo_hpo.experiment import load_experiment

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def seed_is_valid(config):  # exactly as in the search-space document
    if config["hidden_dim"] >= 1024 and config["batch_size"] >= 256:
        return False
    if config["optimizer"] == "SGD" and config["learning_rate"] < 1e-4:
        return False
    return True


def test_mlp_file_rules_agree_with_the_seed_is_valid():
    spec = load_experiment(EXPERIMENTS / "mlp_fashion.toml")
    rng = np.random.default_rng(0)
    configs = [spec.space.sample(rng) for _ in range(3000)]
    assert [spec.is_valid(c) for c in configs] == [seed_is_valid(c) for c in configs]
    assert sum(not seed_is_valid(c) for c in configs) > 100  # both rules were exercised


def test_mlp_file_baseline_is_the_seed_baseline():
    spec = load_experiment(EXPERIMENTS / "mlp_fashion.toml")
    assert spec.baseline == {
        "learning_rate": 3e-4, "batch_size": 128, "hidden_dim": 512, "num_layers": 4,
        "dropout": 0.1, "optimizer": "AdamW", "weight_decay": 1e-2, "epochs": 8,
    }
    assert spec.evaluator == "mlp_fashion" and spec.data_dir is None


@pytest.mark.parametrize("variant", [None, "cpu", "gpu"])
def test_transformer_file_variants_are_feasible_by_construction(variant):
    from bo_hpo.translate import translate

    spec = load_experiment(EXPERIMENTS / "transformer_shakespeare.toml", variant=variant)
    translation = translate(spec.space)
    rng = np.random.default_rng(1)
    for _ in range(200):
        ax_params = {}
        for p in translation.parameters:
            if hasattr(p, "bounds"):
                ax_params[p.name] = float(rng.uniform(*p.bounds))
            else:
                ax_params[p.name] = p.values[int(rng.integers(len(p.values)))]
        config = translation.decode(ax_params)
        assert config["hidden_dim"] % config["num_heads"] == 0
        assert spec.space.params["hidden_dim"].contains(config["hidden_dim"])


def test_cpu_variant_overrides_space_budget_and_baseline():
    base = load_experiment(EXPERIMENTS / "transformer_shakespeare.toml")
    cpu = load_experiment(EXPERIMENTS / "transformer_shakespeare.toml", variant="cpu")
    assert base.space.params["num_layers"].values_list() == [6, 12, 24]
    assert cpu.space.params["num_layers"].values_list() == [1, 2, 3]
    assert cpu.budget.max_trials < base.budget.max_trials
    assert cpu.baseline["hidden_dim"] % cpu.baseline["num_heads"] == 0


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


GOOD = """
evaluator = "mlp_fashion"
[space]
learning_rate = ["log_uniform", 1e-4, 1e-2]
"""


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("bogus = 1\n" + GOOD, ConfigError, "top-level key 'bogus'"),
        ('evaluator = "nope"\n[space]\nx = ["uniform", 0, 1]\n', ConfigError, "evaluator"),
        ('evaluator = "mlp_fashion"\n', ConfigError, r"\[space\]"),
        (GOOD + "[budget]\nmax_trial = 3\n", ConfigError, "max_trial"),
        (GOOD + "[budget]\nmax_trials = 0\n", ConfigError, "max_trials"),
        (GOOD + "[evaluator_settings]\ntrial_timeout = -1\n", ConfigError, "trial_timeout"),
        (GOOD + "[evaluator_settings]\ndevice = 'tpu'\n", ConfigError, "device"),
        ('evaluator = "mlp_fashion"\n[space]\nlr = ["log_uniform", 0.0, 1.0]\n',
         SearchSpaceError, "lr: a log-scaled range needs low > 0, got low=0.0"),
        ('evaluator = "mlp_fashion"\ninvalid_if = ["lr2 > 1"]\n[space]\nlr = ["uniform", 0, 1]\n',
         SearchSpaceError, "unknown parameter 'lr2'"),
        ('evaluator = "mlp_fashion"\ninvalid_if = ["__import__(\'os\')"]\n'
         '[space]\nlr = ["uniform", 0, 1]\n', SearchSpaceError, "not allowed"),
        (GOOD + "[baseline]\nlearning_rate = 1.0\n", SearchSpaceError,
         r"learning_rate=1.0 is outside the space"),
        ('evaluator = "mlp_fashion"\nseed = "x"\n[space]\nlr = ["uniform", 0, 1]\n',
         ConfigError, "seed"),
        ("evaluator = \n", ConfigError, "not valid TOML"),
        ('evaluator = "mlp_fashion"\ninvalid_if = ["lr > 1e-3"]\n[space]\n'
         'lr = ["log_uniform", 1e-4, 1e-1]\n[baseline]\nlr = 1e-2\n', SearchSpaceError,
         r"breaks invalid_if rule 'lr > 1e-3' \(lr=0.01\)"),
        (GOOD + "[variants.cpu]\nbudgett = {max_trials = 2}\n", ConfigError,
         r"\[variants.cpu\]: unknown key 'budgett'; allowed: \[.*'budget'"),
    ],
)
def test_malformed_files_name_the_key(tmp_path, text, error, match):
    with pytest.raises(error, match=match):
        load_experiment(_write(tmp_path, text))


def test_the_readmes_experiment_file_loads_with_and_without_its_variant(tmp_path):
    """The README's example is a whole file a user may copy: it must pass `bo-hpo check`."""
    import re

    readme = (EXPERIMENTS.parent / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.DOTALL)
    assert blocks, "the README has no TOML example"
    for i, text in enumerate(blocks):
        path = tmp_path / f"readme_{i}.toml"
        path.write_text(text)
        spec = load_experiment(path)
        for variant in spec.variants:
            assert load_experiment(path, variant).name == spec.name


def test_missing_file_and_unknown_variant(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="variant 'big' is not defined"):
        load_experiment(_write(tmp_path, GOOD), variant="big")


def test_tuple_form_typed_objects_and_toml_build_the_same_space(tmp_path):
    from bo_hpo import Choice, Fixed, Float, Int, SearchSpace

    tuples = SearchSpace(
        {
            "lr": ("log_uniform", 1e-5, 1e-1),
            "width": ("int", 64, 1024),
            "heads": ("ordered", [1, 2, 4, 8]),
            "opt": ("choice", ["SGD", "AdamW"]),
            "momentum": ("uniform", 0.0, 0.99, {"when": {"opt": ["SGD"]}}),
            "epochs": 5,
        },
        constraints=["width % heads == 0"],
    )
    typed = SearchSpace(
        [
            Float("lr", 1e-5, 1e-1, log=True), Int("width", 64, 1024),
            Choice("heads", (1, 2, 4, 8), ordered=True), Choice("opt", ("SGD", "AdamW")),
            Float("momentum", 0.0, 0.99, when={"opt": ["SGD"]}), Fixed("epochs", 5),
        ],
        constraints=["width % heads == 0"],
    )
    path = _write(tmp_path, """
evaluator = "mlp_fashion"
constraints = ["width % heads == 0"]
[space]
lr = ["log_uniform", 1e-5, 1e-1]
width = { kind = "int", low = 64, high = 1024 }
heads = ["ordered", [1, 2, 4, 8]]
opt = ["choice", ["SGD", "AdamW"]]
momentum = ["uniform", 0.0, 0.99, { when = { opt = ["SGD"] } }]
epochs = 5
""")
    toml = load_experiment(path).space
    for other in (typed, toml):
        assert other.params == tuples.params
        assert other.constraints == tuples.constraints
