"""The bo-hpo command: exit codes, messages, and a tiny end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import bo_hpo
from bo_hpo.cli import main

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture
def runner():
    return CliRunner()


def test_check_describes_the_shipped_files(runner):
    result = runner.invoke(main, ["check", str(EXPERIMENTS / "mlp_fashion.toml")])
    assert result.exit_code == 0, result.output
    assert "momentum: uniform [0, 0.99] when {'optimizer': ('SGD',)}" in result.output
    assert "invalid if: hidden_dim >= 1024 and batch_size >= 256" in result.output
    result = runner.invoke(main, ["check", str(EXPERIMENTS / "transformer_shakespeare.toml"),
                                  "--variant", "cpu"])
    assert result.exit_code == 0, result.output
    assert "constraint: hidden_dim % num_heads == 0" in result.output


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('evaluator = "mlp_fashion"\nbatch = 3\n[space]\nx = ["uniform", 0, 1]\n', "'batch'"),
        ('evaluator = "mlp_fashion"\n[space]\nx = ["uniform", 1, 0]\n', "x: `low < high`"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_bad_files_exit_2_naming_the_key(runner, tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    for command in ("check", "run"):
        result = runner.invoke(main, [command, str(path)])
        assert result.exit_code == 2, result.output
        assert needle in result.output
        assert "Traceback" not in result.output


def test_missing_file_and_bad_options_exit_2(runner, tmp_path):
    result = runner.invoke(main, ["run", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(main, ["run", str(EXPERIMENTS / "mlp_fashion.toml"), "--trials", "0"])
    assert result.exit_code == 2 and "--trials" in result.output
    result = runner.invoke(main, ["run", str(EXPERIMENTS / "mlp_fashion.toml"),
                                  "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "--data-dir" in result.output


def test_cuda_without_a_gpu_exits_2(runner):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = runner.invoke(main, ["run", str(EXPERIMENTS / "mlp_fashion.toml"),
                                  "--device", "cuda"])
    assert result.exit_code == 2 and "no CUDA device" in result.output


TINY = """
name = "tiny"
evaluator = "mlp_fashion"
seed = 0
invalid_if = ["optimizer == 'SGD' and learning_rate < 1e-3"]

[space]
learning_rate = ["log_uniform", 1e-4, 3e-2]
optimizer     = ["choice", ["SGD", "AdamW"]]
hidden_dim    = ["ordered", [32, 64]]
num_layers    = 1
epochs        = 1
batch_size    = 256

[baseline]
learning_rate = 1e-3
optimizer     = "AdamW"
hidden_dim    = 32

[budget]
max_trials = 4

[evaluator_settings]
device = "cpu"
"""


def test_run_end_to_end_writes_results_and_scores_the_test_set(runner, tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = tmp_path / "out"
    result = runner.invoke(main, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "[trial   0] baseline" in result.output
    assert "final scores on the test set" in result.output
    assert "recommended  test_error" in result.output and "baseline     test_error" in result.output
    summary = json.loads((out / "result.json").read_text())
    assert summary["budget_spent"]["trials"] == 4
    assert set(summary["final"]) == {"recommended", "baseline"}
    assert 0.0 < summary["final"]["recommended"]["test_error"] < 0.9
    stored = bo_hpo.load("tiny").records  # the store the autouse fixture points at
    evaluated = [r for r in stored if r.status != "invalid"]
    assert len(evaluated) == 4 and stored[0].is_baseline
    assert all(r.status in ("completed", "failed") and r.ended_at is not None
               for r in evaluated)
    assert all(not (r.config["optimizer"] == "SGD" and r.config["learning_rate"] < 1e-3)
               for r in evaluated)


def test_a_config_the_evaluator_rejects_stops_the_run_with_exit_2(runner, tmp_path):
    # `bo-hpo check` cannot know the evaluator's types; the first trial finds out, and the
    # run stops there instead of failing every trial the same way.
    path = tmp_path / "typo.toml"
    path.write_text(TINY.replace("epochs        = 1", 'epochs        = "1"'))
    result = runner.invoke(main, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "epochs" in result.output and "Traceback" not in result.output
    assert "error: typo.toml: " in result.output  # the file to fix
    assert result.output.count("[trial") == 0


@pytest.mark.parametrize("mistakes", [
    [('epochs        = 1', 'epochs        = "1"')],  # a wrong type
    [('[space]', '[space]\nwarmup_steps = ["int", 0, 100]'),  # a key the evaluator lacks
     ('[baseline]', '[baseline]\nwarmup_steps = 10')],
])
def test_after_a_refused_first_trial_the_corrected_file_runs(runner, tmp_path, mistakes):
    """Exit 2 ran nothing, so fixing the file must be enough: the changed space starts the
    experiment anew (the empty earlier record kept under a dated name), not a refusal."""
    path = tmp_path / "fix.toml"
    wrong = TINY
    for old, new in mistakes:
        wrong = wrong.replace(old, new)
    path.write_text(wrong)
    assert runner.invoke(main, ["run", str(path), "--out", str(tmp_path / "a")]).exit_code == 2
    path.write_text(TINY)
    result = runner.invoke(main, ["run", str(path), "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert sum(r.status == "completed" for r in bo_hpo.load("tiny").records) >= 3
    from bo_hpo.store import default_store_url, open_store

    names = [e["name"] for e in open_store(default_store_url()).list_experiments()]
    assert len(names) == 2 and any(n.startswith("tiny-") for n in names)


def test_a_space_change_after_finished_trials_is_still_refused(runner, tmp_path):
    path = tmp_path / "fix.toml"
    path.write_text(TINY)
    assert runner.invoke(main, ["run", str(path), "--out", str(tmp_path / "a")]).exit_code == 0
    # the stored trials' learning rates below 1e-2 fall outside the new range
    path.write_text(TINY.replace('"log_uniform", 1e-4', '"log_uniform", 1e-2')
                    .replace("learning_rate = 1e-3", "learning_rate = 2e-2"))
    result = runner.invoke(main, ["run", str(path), "--trials", "6"])
    assert result.exit_code == 2 and "--fresh" in result.output, result.output
    assert len(bo_hpo.load("tiny").records) >= 4  # nothing moved or lost
