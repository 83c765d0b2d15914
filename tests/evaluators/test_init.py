from __future__ import annotations

import subprocess
import sys

import pytest

from bo_hpo.errors import ConfigError
from bo_hpo.evaluators import available_evaluators, get_evaluator


def test_registry_names():
    assert available_evaluators() == ("mlp_fashion", "transformer_shakespeare")
    with pytest.raises(ConfigError, match="'mlp_fashoin'"):
        get_evaluator("mlp_fashoin")


def test_importing_evaluators_does_not_import_torch():
    code = (
        "import sys, bo_hpo.evaluators; "
        "print([m for m in ('torch', 'bo_hpo.evaluators.mlp', 'bo_hpo.evaluators.data') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registry_round_trip(tiny_mlp):
    ev = get_evaluator("mlp_fashion")
    data = ev.load_data(None, seed=1)
    assert data.seed == 1 and ev.final_eval_scores_on == "test"
    assert set(tiny_mlp) <= set(ev.defaults)
    assert ev.evaluate(tiny_mlp, data=data, epochs=1).mean < 0.6


def test_transformer_entry(shakespeare):
    ev = get_evaluator("transformer_shakespeare")
    assert ev.final_eval_scores_on == "validation"
    assert ev.load_data(None, seed=0).vocab_size == 65
    assert ev.defaults["block_size"] == 128
